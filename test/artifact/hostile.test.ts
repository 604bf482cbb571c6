// Odd and hostile artifacts against a REAL OpenSSH fleet (none may harm a host): every artifact
// here is built by the test itself, as a careless build or an attacker would make it. What is checked is
// what a user would see: the input error naming `artifact` (before anything connects), the files on the
// hosts (and outside the deploy path), the runner's own temporary directory, and file times.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactServer } from '../servers/artifact-server.js';
import { Fleet } from '../servers/fleet.js';
import { currents, makeArtifact, rolloutInputError, runRollout } from '../rollout/helpers.js';

let tmp: string;
let fleet: Fleet;
let server: ArtifactServer;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tgzOf = (dir: string, ...extra: string[]) => execFileSync('tar', ['-czf', '-', ...extra, '-C', dir, '.']);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-hostile-'));
  fleet = await Fleet.start(2);
  server = await ArtifactServer.start();
}, 30_000);
afterAll(async () => {
  await server?.close();
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A directory outside every deploy path on each host, with a file a wrong rm -rf would delete. */
function victimOnHosts(): void {
  for (let i = 0; i < fleet.hosts.length; i++) {
    mkdirSync(fleet.path(i, '/srv/victim/uploads'), { recursive: true });
    writeFileSync(fleet.path(i, '/srv/victim/uploads/keep.txt'), 'precious\n');
  }
}

function victimIntact(): void {
  for (let i = 0; i < fleet.hosts.length; i++) {
    expect(lstatSync(fleet.path(i, '/srv/victim/uploads')).isDirectory()).toBe(true);
    expect(readFileSync(fleet.path(i, '/srv/victim/uploads/keep.txt'), 'utf8')).toBe('precious\n');
  }
}

const inputError = (inputs: Record<string, string>) => rolloutInputError(fleet, inputs);

describe('nothing outside the deploy path', () => {
  test('a symlink in the artifact under shared-paths (public -> /srv/victim, shared-paths: public/uploads/) is refused before anything connects', async () => {
    victimOnHosts();
    const dir = makeArtifact(tmp, 'sym1');
    symlinkSync('/srv/victim', join(dir, 'public'));
    const message = await inputError({ artifact: dir, 'release-id': 'sym1', 'shared-paths': 'public/uploads/' });
    expect(message).toBe(
      "input 'shared-paths': 'public/uploads': 'public' is a symlink in the artifact; a shared path cannot go through a symlink (it could lead outside the deploy path). Share 'public' itself, or make it a directory",
    );
    victimIntact();
    expect(existsSync(fleet.path(0, '/srv/app'))).toBe(false);
  });

  test('the same artifact by artifact-url (no runner ever saw it): the host refuses to link through the symlink, and /srv/victim is untouched', async () => {
    victimOnHosts();
    const dir = makeArtifact(tmp, 'sym2');
    symlinkSync('/srv/victim', join(dir, 'public'));
    const tgz = tgzOf(dir);
    server.set('/sym2.tgz', { body: tgz });
    const run = await runRollout(fleet, {
      'artifact-url': server.url('/sym2.tgz'),
      'artifact-sha256': sha(tgz),
      'release-id': 'sym2',
      'shared-paths': 'public/uploads/',
    });
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts'][0].reason).toContain(
      "stage: link failed (exit 70): shared path 'public/uploads/': 'public' is a symlink in the release: a shared path cannot go through a symlink",
    );
    victimIntact();
    expect(currents(fleet)).toEqual(['', '']);
  });

  test('a host whose releases/<id> is a symlink to elsewhere: staging refuses it, and writes nothing there', async () => {
    const v1 = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1' });
    expect(v1.outputs.result).toBe('success');
    mkdirSync(fleet.path(0, '/srv/elsewhere'), { recursive: true });
    symlinkSync('/srv/elsewhere', fleet.path(0, '/srv/app/releases/v2'));
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'v2', { 'index.html': 'v2\n' }),
      'release-id': 'v2',
    });
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts'][0].reason).toMatch(
      /releases\/v2 is a symlink: fivestep never writes through one; remove it on the host/,
    );
    expect(readdirSync(fleet.path(0, '/srv/elsewhere'))).toEqual([]);
    expect(currents(fleet)).toEqual(['v1', 'v1']);
    // The preflight names it, and nothing fivestep does goes through it.
    expect(run.log).toMatch(
      /warning: 127\.0\.0\.1:\d+: \/srv\/app\/releases\/v2 is a symlink: fivestep never builds from it, switches to it or prunes through it/,
    );
    rmSync(fleet.path(0, '/srv/app/releases/v2'));
  });

  test('a host whose current points at releases/../../elsewhere: preflight refuses it, and delta staging never links a file from there', async () => {
    // Host 0's current leads out of the deploy path, to a tree holding the very files of the new release.
    const outside = fleet.path(0, '/srv/outside');
    mkdirSync(join(outside, 'lib'), { recursive: true });
    writeFileSync(join(outside, 'version'), 'v1\n');
    rmSync(fleet.path(0, '/srv/app/current'));
    symlinkSync('releases/../../outside', fleet.path(0, '/srv/app/current'));
    const run = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v3'), 'release-id': 'v3' });
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts']).toEqual([
      {
        host: fleet.hosts[0].id,
        reason: `preflight: /srv/app/current on ${fleet.hosts[0].id} is a symlink to 'releases/../../outside', outside releases/: fivestep switches current only between the entries of releases/; remove it, or point it at one of them, by hand`,
      },
    ]);
    expect(readlinkSync(fleet.path(0, '/srv/app/current'))).toBe('releases/../../outside');
    expect(statSync(join(outside, 'version')).nlink).toBe(1);
    rmSync(fleet.path(0, '/srv/app/current'));
    symlinkSync('releases/v1', fleet.path(0, '/srv/app/current'));
  });
});

describe('what an artifact may hold', () => {
  test('a FIFO, a device or a socket refuses the artifact, naming the member; so does a setuid or setgid file', async () => {
    const fifo = makeArtifact(tmp, 'fifo');
    execFileSync('mkfifo', [join(fifo, 'pipe')]);
    expect(await inputError({ artifact: fifo })).toBe(
      `input 'artifact': '${fifo}' holds a FIFO: 'pipe'. An artifact may hold only regular files, directories and symlinks`,
    );

    const dev = makeArtifact(tmp, 'dev');
    mkdirSync(join(dev, 'dev'));
    execFileSync('mknod', [join(dev, 'dev', 'null'), 'c', '1', '3']);
    const devTgz = join(tmp, 'dev.tgz');
    writeFileSync(devTgz, tgzOf(dev));
    expect(await inputError({ artifact: dev })).toMatch(/holds a character device: 'dev\/null'/);
    expect(await inputError({ artifact: devTgz })).toBe(
      `input 'artifact': '${devTgz}' holds a character device: 'dev/null'. An artifact may hold only regular files, directories and symlinks`,
    );

    const suid = makeArtifact(tmp, 'suid');
    writeFileSync(join(suid, 'run-as-root'), '#!/bin/sh\n');
    writeFileSync(join(suid, 'group-tool'), '#!/bin/sh\n');
    chmodSync(join(suid, 'run-as-root'), 0o4755);
    chmodSync(join(suid, 'group-tool'), 0o2755);
    const suidTar = join(tmp, 'suid.tar');
    execFileSync('tar', ['-cf', suidTar, '-C', suid, '.']);
    for (const artifact of [suid, suidTar]) {
      expect(await inputError({ artifact })).toBe(
        `input 'artifact': '${artifact}' holds setuid or setgid files: 'group-tool', 'run-as-root'. Remove those bits (chmod u-s,g-s) before deploying: a release must not grant privileges`,
      );
    }
    expect(existsSync(fleet.path(0, '/srv/app/releases/fifo'))).toBe(false);
  });

  test('a .tar.gz holding a device is refused before the runner unpacks anything (delta builds the release tree on the runner)', async () => {
    const runnerTemp = mkdtempSync(join(tmp, 'runner-temp-'));
    const dev = makeArtifact(tmp, 'dev2');
    execFileSync('mknod', [join(dev, 'zero'), 'c', '1', '5']);
    const devTgz = join(tmp, 'dev2.tgz');
    writeFileSync(devTgz, tgzOf(dev));
    const err = await runRollout(fleet, { artifact: devTgz }, { env: { RUNNER_TEMP: runnerTemp } }).catch(
      (e: Error) => e,
    );
    expect(String(err)).toMatch(/holds a character device/);
    // Nothing was created on the runner: no device node, and the work directory is gone.
    const found = execFileSync('find', [runnerTemp, '-not', '-type', 'd', '-not', '-type', 'f'], { encoding: 'utf8' });
    expect(found).toBe('');
    expect(execFileSync('find', [runnerTemp, '-name', 'work'], { encoding: 'utf8' })).toBe('');
  });

  test('group- and world-write bits are removed, with a warning listing the files; the runner keeps no work directory', async () => {
    const runnerTemp = mkdtempSync(join(tmp, 'runner-temp-'));
    const dir = makeArtifact(tmp, 'w1', { 'open.txt': 'anyone may write me\n', 'ok.txt': 'fine\n' });
    chmodSync(join(dir, 'open.txt'), 0o666);
    mkdirSync(join(dir, 'upload'));
    chmodSync(join(dir, 'upload'), 0o777);
    const tarball = join(tmp, 'w2.tgz');
    writeFileSync(tarball, tgzOf(dir));
    for (const [artifact, release] of [
      [dir, 'w1'],
      [tarball, 'w2'],
    ]) {
      const run = await runRollout(fleet, { artifact, 'release-id': release }, { env: { RUNNER_TEMP: runnerTemp } });
      expect(run.outputs.result).toBe('success');
      expect(run.log).toContain(
        `warning: artifact '${artifact}': group- and world-write removed from 2 member(s) (releases are read-only trees): 'open.txt', 'upload'`,
      );
      for (let i = 0; i < 2; i++) {
        expect(statSync(fleet.path(i, `/srv/app/releases/${release}/open.txt`)).mode & 0o777).toBe(0o644);
        expect(statSync(fleet.path(i, `/srv/app/releases/${release}/upload`)).mode & 0o777).toBe(0o755);
      }
    }
    // The report stays (auto-revert reads it); the artifact's packed and unpacked copies do not.
    expect(execFileSync('find', [runnerTemp, '-name', 'work'], { encoding: 'utf8' })).toBe('');
    expect(execFileSync('find', [runnerTemp, '-name', '*.tar.gz'], { encoding: 'utf8' })).toBe('');
  });

  test('an empty directory, or a truncated .tar.gz, is an input error naming artifact, never an empty release or a stack trace', async () => {
    const before = currents(fleet);
    const empty = join(tmp, 'empty');
    mkdirSync(join(empty, 'sub'), { recursive: true });
    expect(await inputError({ artifact: empty })).toBe(
      `input 'artifact': '${empty}' holds no file: an empty release would replace the running one everywhere`,
    );
    const gitOnly = join(tmp, 'git-only');
    mkdirSync(join(gitOnly, '.git'), { recursive: true });
    writeFileSync(join(gitOnly, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    expect(await inputError({ artifact: gitOnly })).toMatch(/holds no file/);

    const whole = tgzOf(makeArtifact(tmp, 'cut', { 'big.bin': Buffer.alloc(200_000, 7).toString('base64') }));
    const cut = join(tmp, 'cut.tar.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    expect(await inputError({ artifact: cut })).toBe(
      `input 'artifact': '${cut}' cannot be read as a .tar.gz: the gzip stream ends early (a truncated file?)`,
    );
    const notGzip = join(tmp, 'not.tgz');
    writeFileSync(notGzip, 'this is no archive\n');
    expect(await inputError({ artifact: notGzip })).toBe(
      `input 'artifact': '${notGzip}' cannot be read as a .tar.gz: it is not gzip-compressed data, or it is corrupt`,
    );
    expect(currents(fleet)).toEqual(before);
  });

  test('artifact: . leaves .git out by default; exclude takes globs (a name at any depth, or a path)', async () => {
    const dir = makeArtifact(tmp, 'x1', { 'app.js': 'app\n', 'debug.log': 'noise\n' });
    mkdirSync(join(dir, '.git', 'objects'), { recursive: true });
    writeFileSync(join(dir, '.git', 'config'), '[remote "origin"]\n\turl = https://token@example.com/repo\n');
    mkdirSync(join(dir, 'docs', 'drafts'), { recursive: true });
    writeFileSync(join(dir, 'docs', 'drafts', 'secret.md'), 'draft\n');
    writeFileSync(join(dir, 'docs', 'index.md'), 'docs\n');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'trace.log'), 'noise\n');
    const byDefault = await runRollout(fleet, { artifact: dir, 'release-id': 'x1' });
    expect(byDefault.outputs.result).toBe('success');
    const x1 = fleet.path(0, '/srv/app/releases/x1');
    expect(existsSync(join(x1, '.git'))).toBe(false);
    expect(readdirSync(x1).sort()).toEqual(['app.js', 'debug.log', 'docs', 'lib', 'version']);

    const excluded = await runRollout(fleet, {
      artifact: dir,
      'release-id': 'x2',
      exclude: '.git\n*.log\ndocs/drafts',
    });
    expect(excluded.outputs.result).toBe('success');
    const x2 = fleet.path(0, '/srv/app/releases/x2');
    expect(readdirSync(x2).sort()).toEqual(['app.js', 'docs', 'lib', 'version']);
    expect(readdirSync(join(x2, 'docs'))).toEqual(['index.md']);
    expect(readdirSync(join(x2, 'lib'))).toEqual([]);
  });
});

describe('room on the disk', () => {
  let bomb: string;
  let bombTgz: Buffer;
  beforeAll(async () => {
    // A 256 MiB file of zeros packs to a few hundred KB: a hosts' 32 MiB disk cannot hold it.
    const dir = makeArtifact(tmp, 'bomb');
    execFileSync('truncate', ['-s', '256M', join(dir, 'zeros')]);
    bomb = join(tmp, 'bomb.tgz');
    bombTgz = tgzOf(dir);
    writeFileSync(bomb, bombTgz);
    rmSync(dir, { recursive: true, force: true });
    await fleet.mountTmpfs(1, '/srv/small', 32 << 20);
  }, 60_000);

  test('preflight: a release that unpacks beyond the free space fails on that host with the figures, before anything is staged anywhere', async () => {
    expect(bombTgz.length).toBeLessThan(2 << 20);
    const run = await runRollout(fleet, {
      artifact: bomb,
      'release-id': 'b1',
      'deploy-path': '/srv/small',
      delta: 'false',
    });
    expect(run.outputs.result).toBe('reverted');
    const failed = run.outputs['failed-hosts'];
    expect(failed.map((f) => f.host)).toEqual([fleet.hosts[1].id]);
    expect(failed[0].reason).toMatch(
      new RegExp(
        `^preflight: not enough space in /srv/small on ${fleet.hosts[1].id.replace(/\./g, '\\.')}: the release needs 256\\.\\d MiB \\(the upload and its files unpacked\\), plus 3\\.\\d MiB to spare \\(10% of the free space\\); 3\\d\\.\\d MiB is free$`,
      ),
    );
    // Nothing staged on either host (preflight stops the rollout before staging).
    expect(existsSync(fleet.path(0, '/srv/small/releases/b1'))).toBe(false);
    expect(readdirSync(fleet.path(1, '/srv/small')).filter((n) => n !== '.fivestep')).toEqual([]);
  });

  test('artifact-url: the host sums the archive before unpacking it and stops with the figures; nothing is left on its disk', async () => {
    server.set('/bomb.tgz', { body: bombTgz });
    const run = await runRollout(fleet, {
      'artifact-url': server.url('/bomb.tgz'),
      'artifact-sha256': sha(bombTgz),
      'release-id': 'b2',
      'deploy-path': '/srv/small',
    });
    expect(run.outputs.result).toBe('reverted');
    const reason = run.outputs['failed-hosts'].find((f) => f.host === fleet.hosts[1].id)?.reason ?? '';
    expect(reason).toMatch(
      /^stage: unpack failed \(exit 69\): not enough space in \/srv\/small: the release needs 256\.\d MiB unpacked, plus 3\.\d MiB to spare \(10% of the free space\); 3\d\.\d MiB is free$/,
    );
    expect(readdirSync(fleet.path(1, '/srv/small/releases'))).toEqual([]);
    expect(readdirSync(fleet.path(1, '/srv/small/.fivestep/incoming'))).toEqual([]);
  }, 60_000);
});

describe('file times', () => {
  const T1 = new Date('2024-02-03T04:05:06Z');
  const T2 = new Date('2025-06-07T08:09:10Z');
  const mtime = (path: string) => Math.floor(statSync(path).mtimeMs / 1000);

  test("every staging path keeps each file's time: a directory, a whole .tar.gz, a download", async () => {
    const dir = makeArtifact(tmp, 't1', { 'style.css': 'body{}\n', 'app.py': 'print(1)\n' });
    utimesSync(join(dir, 'style.css'), T1, T1);
    utimesSync(join(dir, 'app.py'), T2, T2);
    const tarball = join(tmp, 't2.tgz');
    writeFileSync(tarball, tgzOf(dir));
    const tgz = readFileSync(tarball);
    server.set('/t3.tgz', { body: tgz });
    for (const [inputs, release] of [
      [{ artifact: dir, delta: 'false' }, 't1'],
      [{ artifact: tarball, delta: 'false' }, 't2'],
      [{ 'artifact-url': server.url('/t3.tgz'), 'artifact-sha256': sha(tgz) }, 't3'],
    ] as const) {
      const run = await runRollout(fleet, { ...inputs, 'release-id': release });
      expect(run.outputs.result).toBe('success');
      for (let i = 0; i < 2; i++) {
        expect(mtime(fleet.path(i, `/srv/app/releases/${release}/style.css`))).toBe(T1.getTime() / 1000);
        expect(mtime(fleet.path(i, `/srv/app/releases/${release}/app.py`))).toBe(T2.getTime() / 1000);
      }
    }
  });

  test('a rebuilt directory with the same files but new times (a re-run job) is the release already there, not "other content"', async () => {
    const again = makeArtifact(tmp, 't1', { 'style.css': 'body{}\n', 'app.py': 'print(1)\n' });
    const run = await runRollout(fleet, { artifact: again, 'release-id': 't1', delta: 'false' });
    expect(run.outputs.result).toBe('success');
    expect(run.report.hosts.map((h) => h.staging)).toEqual(['cached', 'cached']);
  });
});

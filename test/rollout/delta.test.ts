// Delta staging against a real OpenSSH fleet: a host on a previous release gets only the files it
// lacks, and the release it builds from hard links is the same tree a full upload gives (files,
// contents, modes, symlinks, directories); where it cannot be (a release edited in place, a refused
// hard link, no release to build from) the host still ends up with the right release.
import {
  chmodSync,
  chownSync,
  cpSync,
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
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { currents, runRollout } from './helpers.js';

let tmp: string;
let fleet: Fleet;
// The same bytes in every release (only what a test changes differs).
const moduleBody = Array.from({ length: 96 }, () => randomBytes(6000).toString('base64'));
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-delta-test-'));
  fleet = await Fleet.start(3);
}, 30_000);
afterAll(async () => {
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** When the unchanged files of every release were last changed: a build that keeps file times (see `freshCheckout`). */
const BUILT = new Date('2026-11-01T12:00:00Z');

/**
 * 100 files of ~8 KB (incompressible, as built code mostly is) in subdirectories, an executable, a
 * private file, a symlink and an empty directory; all but `version` dated BUILT unless `freshCheckout`
 * (then every file has the time it was written, as after a `git clone`).
 */
function baseTree(dir: string, release: string, freshCheckout = false): void {
  mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
  mkdirSync(join(dir, 'empty'));
  for (let i = 0; i < 96; i++)
    writeFileSync(join(dir, i % 2 ? 'lib' : 'lib/deep', `module-${i}.js`), `// module ${i}\n${moduleBody[i]}\n`);
  writeFileSync(join(dir, 'server'), '#!/bin/sh\necho serving\n');
  chmodSync(join(dir, 'server'), 0o755);
  writeFileSync(join(dir, 'secret.conf'), 'token=abc\n');
  chmodSync(join(dir, 'secret.conf'), 0o600);
  writeFileSync(join(dir, 'notes.txt'), 'notes\n');
  if (!freshCheckout) for (const f of filesUnder(dir)) utimesSync(join(dir, f), BUILT, BUILT);
  writeFileSync(join(dir, 'version'), `${release}\n`);
  symlinkSync('lib/module-1.js', join(dir, 'main.js'));
}

function filesUnder(root: string, rel = ''): string[] {
  return readdirSync(join(root, rel), { withFileTypes: true }).flatMap((d) => {
    const path = rel ? `${rel}/${d.name}` : d.name;
    return d.isDirectory() ? filesUnder(root, path) : d.isFile() ? [path] : [];
  });
}

function artifact(release: string, change: (dir: string) => void = () => {}, freshCheckout = false): string {
  const dir = join(tmp, release);
  baseTree(dir, release, freshCheckout);
  change(dir);
  return dir;
}

/** Each file's modification time in whole seconds, by path. */
function mtimesOf(root: string): Record<string, number> {
  return Object.fromEntries(filesUnder(root).map((f) => [f, Math.floor(statSync(join(root, f)).mtimeMs / 1000)]));
}

/** Every entry under root: type, mode, and content or link target, by relative path. */
function treeOf(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[path] = `link -> ${readlinkSync(join(root, path))}`;
      else if (st.isDirectory()) {
        out[path] = `dir ${mode}`;
        walk(path);
      } else out[path] = `file ${mode} ${readFileSync(join(root, path), 'utf8').slice(0, 40)}`;
    }
  };
  walk('');
  return out;
}

const release = (i: number, id: string) => fleet.path(i, `/srv/app/releases/${id}`);
const inode = (path: string) => statSync(path).ino;

test('v1 goes whole to hosts without a release; v2 (1 of 100 files changed) goes as a delta, the same tree as a full upload, in far fewer bytes', async () => {
  const hosts01 = fleet.hosts
    .slice(0, 2)
    .map((h) => `${fleet.user}@${h.host}:${h.port}`)
    .join('\n');
  const v1 = await runRollout(fleet, {
    hosts: hosts01,
    artifact: artifact('v1'),
    'release-id': 'v1',
    'shared-paths': 'logs/',
  });
  expect(v1.outputs.result).toBe('success');
  expect(v1.report.hosts.map((h) => h.staging)).toEqual(['full', 'full']);

  const v2 = await runRollout(fleet, {
    artifact: artifact('v2', (dir) => {
      writeFileSync(join(dir, 'lib', 'module-3.js'), '// module 3, fixed\n'); // changed
      writeFileSync(join(dir, 'lib', 'added.js'), '// new in v2\n'); // added
      rmSync(join(dir, 'notes.txt')); // removed
      chmodSync(join(dir, 'lib', 'module-5.js'), 0o755); // same content, new mode
      cpSync(join(dir, 'lib', 'module-7.js'), join(dir, 'moved.js')); // held content at a new path
    }),
    'release-id': 'v2',
    'shared-paths': 'logs/',
  });
  expect(v2.report.hosts.map((h) => h.reason)).toEqual([undefined, undefined, undefined]);
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2']);
  const [h0, h1, h2] = v2.report.hosts;
  expect([h0.staging, h1.staging, h2.staging]).toEqual(['delta', 'delta', 'full']);
  // The fresh host got the whole artifact; the others only the changed and added files (plus the manifest).
  expect(h2.sentBytes).toBe(v2.report.artifact.bytes);
  expect(h0.sentBytes! * 20).toBeLessThan(h2.sentBytes!);
  expect(h0.steps.find((s) => s.name === 'compare')?.detail).toBe('from v1: 3 of 101 files to send');

  // The same release, file for file, as the full upload built on host 2, each file with the artifact's time.
  expect(treeOf(release(0, 'v2'))).toEqual(treeOf(release(2, 'v2')));
  expect(mtimesOf(release(0, 'v2'))).toEqual(mtimesOf(join(tmp, 'v2')));
  expect(mtimesOf(release(2, 'v2'))).toEqual(mtimesOf(join(tmp, 'v2')));
  expect(treeOf(release(0, 'v2'))['notes.txt']).toBeUndefined();
  expect(treeOf(release(0, 'v2'))['lib/module-5.js']).toMatch(/^file 755 /);
  expect(readlinkSync(join(release(0, 'v2'), 'logs'))).toBe('/srv/app/shared/logs'); // shared paths as before
  // Unchanged files are hard links into v1; the one whose mode changed is a copy, so v1 keeps its mode.
  expect(inode(join(release(0, 'v2'), 'lib/module-1.js'))).toBe(inode(join(release(0, 'v1'), 'lib/module-1.js')));
  expect(inode(join(release(0, 'v2'), 'lib/module-5.js'))).not.toBe(inode(join(release(0, 'v1'), 'lib/module-5.js')));
  expect((statSync(join(release(0, 'v1'), 'lib/module-5.js')).mode & 0o777).toString(8)).toBe('644');
  expect(readFileSync(join(release(0, 'v1'), 'lib/module-3.js'), 'utf8')).toMatch(/^\/\/ module 3\n/);
  // The summary line of staging counts hosts, not names.
  expect(v2.log).toMatch(
    /Staged on 3 of 3 host\(s\): 2 delta, 1 whole artifact; the runner sent [\d.]+ KiB of artifact/,
  );
}, 60_000);

test('a release edited in place (against the rules) fails the check against the manifest: that host gets the whole artifact, and the right files', async () => {
  // Host 1's v2 is edited where it stands: its stored manifest no longer tells the truth.
  const edited = join(release(1, 'v2'), 'lib', 'module-9.js');
  writeFileSync(edited, 'edited on the server\n');
  const v3 = await runRollout(fleet, { artifact: artifact('v3'), 'release-id': 'v3' });
  expect(v3.failure).toBeUndefined();
  expect(v3.report.hosts.map((h) => h.staging)).toEqual(['delta', 'full', 'delta']);
  expect(v3.log).toMatch(
    /warning: 127\.0\.0\.1:\d+: delta staging failed, sending the whole artifact: .*delta: files differ from the manifest/,
  );
  expect(readFileSync(join(release(1, 'v3'), 'lib', 'module-9.js'), 'utf8')).toMatch(/^\/\/ module 9\n/);
  expect(treeOf(release(1, 'v3'))).toEqual(treeOf(release(0, 'v3')));
  // Nothing of the failed attempt is left behind.
  expect(readdirSync(fleet.path(1, '/srv/app/releases')).filter((n) => n.startsWith('.'))).toEqual([]);
  expect(readdirSync(fleet.path(1, '/srv/app/.fivestep/incoming'))).toEqual([]);
}, 60_000);

test('a hard link the kernel refuses is a copy; a release staged before delta existed (no stored manifest) is indexed by its contents', async () => {
  // protected_hardlinks: the login user may not link a file it does not own and cannot write.
  const foreign = join(release(0, 'v3'), 'lib', 'module-11.js');
  chownSync(foreign, 0, 0);
  rmSync(fleet.path(2, '/srv/app/.fivestep/manifests/v3'));
  const v4 = await runRollout(fleet, { artifact: artifact('v4'), 'release-id': 'v4' });
  expect(v4.failure).toBeUndefined();
  expect(v4.report.hosts.map((h) => h.staging)).toEqual(['delta', 'delta', 'delta']);
  expect(lstatSync(join(release(0, 'v4'), 'lib', 'module-11.js')).uid).toBe(statSync(fleet.hosts[0].root).uid);
  expect(readFileSync(join(release(0, 'v4'), 'lib', 'module-11.js'), 'utf8')).toBe(readFileSync(foreign, 'utf8'));
  for (const i of [0, 1, 2]) expect(treeOf(release(i, 'v4'))).toEqual(treeOf(join(tmp, 'v4')));
  expect(v4.report.hosts[2].steps.find((s) => s.name === 'compare')?.detail).toBe('from v3: 1 of 100 files to send');
}, 60_000);

test('delta: false sends the whole artifact to every host', async () => {
  const v5 = await runRollout(fleet, { artifact: artifact('v5'), 'release-id': 'v5', delta: 'false' });
  expect(v5.failure).toBeUndefined();
  expect(v5.report.hosts.map((h) => [h.staging, h.sentBytes])).toEqual(
    Array(3).fill(['full', v5.report.artifact.bytes]),
  );
  expect(v5.report.plan.steps.stage[v5.report.hosts[0].host]).toEqual(['upload', 'unpack']);
}, 60_000);

test('the dry run shows the compare step and both unpack commands, and changes nothing', async () => {
  const dry = await runRollout(fleet, { artifact: artifact('v6'), 'release-id': 'v6', 'dry-run': 'true' });
  expect(dry.outputs.result).toBe('success');
  expect(dry.log).toContain('  stage (every host): compare → unpack');
  expect(dry.log).toContain('# (the manifest on stdin: sha256, mode, size, mtime and path of 100 files)');
  expect(dry.log).toContain('# after a compare, instead (the tar of missing files, directories and symlinks on stdin;');
  expect(currents(fleet)).toEqual(['v5', 'v5', 'v5']);
  expect(readdirSync(fleet.path(0, '/srv/app/releases'))).not.toContain('v6');
}, 60_000);

test("a fresh checkout (every file with a new time, one changed): only the changed file is sent, and every file gets the artifact's time", async () => {
  const v7 = await runRollout(fleet, {
    artifact: artifact('v7', (dir) => writeFileSync(join(dir, 'lib', 'module-13.js'), '// module 13, fixed\n'), true),
    'release-id': 'v7',
  });
  expect(v7.failure).toBeUndefined();
  expect(v7.report.hosts.map((h) => h.staging)).toEqual(['delta', 'delta', 'delta']);
  expect(v7.report.hosts[0].steps.find((s) => s.name === 'compare')?.detail).toBe('from v5: 2 of 100 files to send');
  for (const i of [0, 1, 2]) {
    expect(treeOf(release(i, 'v7'))).toEqual(treeOf(join(tmp, 'v7')));
    // Caches keyed on time and size (nginx ETags, .pyc) see every file as the artifact dates it.
    expect(mtimesOf(release(i, 'v7'))).toEqual(mtimesOf(join(tmp, 'v7')));
  }
  // Same content with another time cannot share v5's inode (one inode has one time): a copy, and v5 keeps its time.
  expect(inode(join(release(0, 'v7'), 'lib/module-1.js'))).not.toBe(inode(join(release(0, 'v5'), 'lib/module-1.js')));
  expect(statSync(join(release(0, 'v5'), 'lib/module-1.js')).mtime).toEqual(BUILT);
}, 60_000);

// Remote command builders by exact string, and a few of them run for real in a local sh
// (the same POSIX sh the hosts use), plus the pure deploy-log parser. The state read and the
// lock commands have their own tests: state-command.test.ts, lock-commands.test.ts.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXIT,
  adoptCommand,
  linkSharedCommand,
  appendLogCommand,
  parseLog,
  removeReleasesCommand,
  switchCommand,
  unpackCommand,
  userCommand,
} from '../../src/release/commands.js';

const env = { deployPath: '/srv/app', releaseId: 'v2', previousReleaseId: 'v1' };

describe('exact command strings', () => {
  test('switchCommand renames a fresh symlink over current', () => {
    expect(switchCommand('/srv/app', 'v2')).toBe(
      [
        'set -e',
        'cd /srv/app',
        "[ -d releases/v2 ] && [ ! -L releases/v2 ] || { echo 'release directory missing' >&2; exit 66; }",
        'rm -f .current.v2.tmp',
        'ln -s releases/v2 .current.v2.tmp',
        'mv -T .current.v2.tmp current',
      ].join('\n'),
    );
  });

  test('userCommand: quoted directory, release environment, set -e', () => {
    expect(userCommand('/srv/app/current', 'systemctl reload app && echo "$RELEASE_ID"', env)).toBe(
      `cd /srv/app/current && env RELEASE_ID=v2 RELEASE_PATH=/srv/app/releases/v2 DEPLOY_PATH=/srv/app PREVIOUS_RELEASE_ID=v1 sh -ec 'systemctl reload app && echo "$RELEASE_ID"'`,
    );
    expect(
      userCommand("/srv/my app's/current", 'true', {
        deployPath: "/srv/my app's",
        releaseId: 'v2',
        previousReleaseId: '',
      }),
    ).toBe(
      `cd '/srv/my app'\\''s/current' && env RELEASE_ID=v2 RELEASE_PATH='/srv/my app'\\''s/releases/v2' DEPLOY_PATH='/srv/my app'\\''s' PREVIOUS_RELEASE_ID='' sh -ec true`,
    );
  });

  test('appendLogCommand writes one JSON line, quoted', () => {
    const entry = {
      time: '2025-01-01T00:00:00.000Z',
      action: 'rollout' as const,
      release: 'v2',
      previous: 'v1',
      run: "it's",
      result: 'success',
    };
    expect(appendLogCommand('/srv/app', entry)).toBe(
      `mkdir -p /srv/app/.fivestep && printf '%s\\n' '{"time":"2025-01-01T00:00:00.000Z","action":"rollout","release":"v2","previous":"v1","run":"it'\\''s","result":"success"}' >> /srv/app/.fivestep/deploy.log`,
    );
  });

  test('removeReleasesCommand removes release directories, their checksums and their manifests', () => {
    expect(removeReleasesCommand('/srv/app', ['v1', 'v2'])).toBe(
      'rm -rf -- /srv/app/releases/v1 /srv/app/.fivestep/checksums/v1 /srv/app/.fivestep/manifests/v1 /srv/app/releases/v2 /srv/app/.fivestep/checksums/v2 /srv/app/.fivestep/manifests/v2',
    );
    expect(removeReleasesCommand('/srv/app', [])).toBe('true');
  });

  test('unpackCommand: refuses a symlinked release, checks the space, unpacks through a .partial directory renamed into place', () => {
    const cmd = unpackCommand('/srv/app', 'v2', { identity: 'ab12', format: 'tar.gz', unpackedBytes: 5000 });
    expect(cmd.split('\n')).toEqual([
      'set -e',
      'mkdir -p /srv/app/releases /srv/app/.fivestep/checksums /srv/app/shared',
      `if [ -L /srv/app/releases/v2 ]; then echo 'releases/v2 is a symlink: fivestep never writes through one; remove it on the host' >&2; exit 70; fi`,
      `if [ -e /srv/app/releases/v2 ]; then if [ "$(cat /srv/app/.fivestep/checksums/v2 2>/dev/null)" = ab12 ]; then rm -f /srv/app/.fivestep/incoming/v2.*; exit 0; fi; echo 'release directory already exists with other content: use a new release-id' >&2; exit 65; fi`,
      'cleanup() { rm -rf /srv/app/releases/.v2.partial /srv/app/.fivestep/incoming/v2.* /srv/app/.fivestep/checksums/v2; }',
      'trap cleanup EXIT',
      `need=5000; free=$(df -Pk /srv/app/releases 2>/dev/null | awk 'NR==2 { print $4 }')`,
      expect.stringMatching(
        /^if \[ -n "\$free" \] && \[ \$\(\( \(need \+ 1023\) \/ 1024 \+ free \/ 10 \)\) -gt "\$free" \]; then awk .*not enough space in %s.* >&2; exit 69; fi$/,
      ),
      'rm -rf /srv/app/releases/.v2.partial',
      'mkdir /srv/app/releases/.v2.partial',
      'tar -xzp --no-same-owner -f /srv/app/.fivestep/incoming/v2.artifact -C /srv/app/releases/.v2.partial',
      'chmod -R go-w /srv/app/releases/.v2.partial',
      'touch /srv/app/releases/.v2.partial',
      'if [ -f /srv/app/.fivestep/incoming/v2.manifest ]; then mkdir -p /srv/app/.fivestep/manifests; mv /srv/app/.fivestep/incoming/v2.manifest /srv/app/.fivestep/manifests/v2; fi',
      "printf '%s\\n' ab12 > /srv/app/.fivestep/checksums/v2",
      'mv /srv/app/releases/.v2.partial /srv/app/releases/v2',
      'trap - EXIT',
      'rm -f /srv/app/.fivestep/incoming/v2.*',
    ]);
    expect(unpackCommand('/srv/app', 'v2', { identity: 'ab12', format: 'tar', unpackedBytes: 1 })).toContain(
      'tar -xp --no-same-owner -f /srv/app/.fivestep/incoming/v2.artifact',
    );
    // An archive no runner checked (artifact-url) is listed and checked on the host first.
    expect(unpackCommand('/srv/app', 'v2', { identity: 'ab12', format: 'tar' })).toContain(
      'tar -tv --numeric-owner -f /srv/app/.fivestep/incoming/v2.artifact >',
    );
  });

  test('switchCommand and unpackCommand record their ledger line in the same command', () => {
    const staged = { time: 't', action: 'rollout' as const, release: 'v2', previous: 'v1', run: 'r', result: 'staged' };
    const line = `mkdir -p /srv/app/.fivestep && printf '%s\\n' '${JSON.stringify(staged)}' >> /srv/app/.fivestep/deploy.log`;
    expect(
      unpackCommand('/srv/app', 'v2', { identity: 'ab12', format: 'tar', staged, unpackedBytes: 1 }).split('\n').at(-1),
    ).toBe(line);
    // Already unpacked with the same content: still staged by this rollout.
    expect(
      unpackCommand('/srv/app', 'v2', { identity: 'ab12', format: 'tar', staged, unpackedBytes: 1 }).split('\n')[3],
    ).toContain(`rm -f /srv/app/.fivestep/incoming/v2.*; ${line}; exit 0`);
    expect(
      switchCommand('/srv/app', 'v2', { ...staged, result: 'switched' })
        .split('\n')
        .at(-1),
    ).toBe(line.replace('staged', 'switched'));
  });
});

describe('commands run in a local sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-commands-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });

  test('unpack on a full disk leaves neither a partial release, nor the upload, nor a checksum', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, '.fivestep', 'incoming'), { recursive: true });
    // A truncated archive fails tar half-way, as a full disk does.
    writeFileSync(join(app, '.fivestep', 'incoming', 'v2.artifact'), Buffer.from('1f8b0800000000000003', 'hex'));
    const r = sh(unpackCommand(app, 'v2', { identity: 'ab12', format: 'tar.gz', unpackedBytes: 10 }));
    expect(r.status).not.toBe(0);
    expect(existsSync(join(app, 'releases', 'v2'))).toBe(false);
    expect(existsSync(join(app, 'releases', '.v2.partial'))).toBe(false);
    expect(existsSync(join(app, '.fivestep', 'incoming', 'v2.artifact'))).toBe(false);
    expect(existsSync(join(app, '.fivestep', 'checksums', 'v2'))).toBe(false);
  });

  test('switch: current moves atomically; a missing release is refused and current stays', () => {
    const app = join(dir, 'my app');
    mkdirSync(join(app, 'releases', 'v1'), { recursive: true });
    mkdirSync(join(app, 'releases', 'v2'));
    expect(sh(switchCommand(app, 'v1')).status).toBe(0);
    expect(readlinkSync(join(app, 'current'))).toBe('releases/v1');
    expect(sh(switchCommand(app, 'v2')).status).toBe(0);
    expect(readlinkSync(join(app, 'current'))).toBe('releases/v2');
    const missing = sh(switchCommand(app, 'v3'));
    expect(missing.status).toBe(EXIT.missing);
    expect(missing.stderr).toContain('release directory missing');
    expect(readlinkSync(join(app, 'current'))).toBe('releases/v2');
    expect(existsSync(join(app, '.current.v2.tmp'))).toBe(false);
  });
});

describe('shared paths and adoption in a local sh: nothing followed out of the deploy path', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-shared-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });

  test('a symlinked parent in the release is refused before anything is removed or created; outside stays as it was', () => {
    const app = join(dir, 'app');
    const outside = join(dir, 'victim');
    mkdirSync(join(outside, 'uploads'), { recursive: true });
    writeFileSync(join(outside, 'uploads', 'keep.txt'), 'precious');
    mkdirSync(join(app, 'releases', 'v1'), { recursive: true });
    execFileSync('ln', ['-s', outside, join(app, 'releases', 'v1', 'public')]);
    const r = sh(linkSharedCommand(app, 'v1', [{ path: 'public/uploads', dir: true }]));
    expect([r.status, r.stderr]).toEqual([
      EXIT.refused,
      "shared path 'public/uploads/': 'public' is a symlink in the release: a shared path cannot go through a symlink\n",
    ]);
    expect(readFileSync(join(outside, 'uploads', 'keep.txt'), 'utf8')).toBe('precious');
    expect(lstatSync(join(outside, 'uploads')).isDirectory()).toBe(true);
    expect(existsSync(join(app, 'shared', 'public'))).toBe(false);
  });

  test('shared/ itself, or a parent inside it, that is a symlink is refused', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'releases', 'v1'), { recursive: true });
    mkdirSync(join(dir, 'disk'));
    execFileSync('ln', ['-s', join(dir, 'disk'), join(app, 'shared')]);
    expect(sh(linkSharedCommand(app, 'v1', [{ path: 'log', dir: true }])).stderr).toBe(
      `${app}/shared is a symlink: shared paths would be written outside the deploy path\n`,
    );
    rmSync(join(app, 'shared'));
    mkdirSync(join(app, 'shared'));
    execFileSync('ln', ['-s', join(dir, 'disk'), join(app, 'shared', 'data')]);
    expect(sh(linkSharedCommand(app, 'v1', [{ path: 'data/uploads', dir: true }])).stderr).toBe(
      "shared path 'data/uploads/': shared/data is a symlink: a shared path cannot go through a symlink\n",
    );
    expect(readdirSync(join(dir, 'disk'))).toEqual([]);
  });

  test('declared directories are created empty; a file is seeded from the release once; missing from both fails naming it', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'releases', 'v1', 'config'), { recursive: true });
    writeFileSync(join(app, 'releases', 'v1', 'config', 'db.yml'), 'from the release');
    const ok = sh(
      linkSharedCommand(app, 'v1', [
        { path: 'log', dir: true },
        { path: 'config/db.yml', dir: false },
      ]),
    );
    expect(ok.status).toBe(0);
    expect(readdirSync(join(app, 'shared', 'log'))).toEqual([]);
    expect(readFileSync(join(app, 'shared', 'config', 'db.yml'), 'utf8')).toBe('from the release');
    expect(readlinkSync(join(app, 'releases', 'v1', 'config', 'db.yml'))).toBe(`${app}/shared/config/db.yml`);
    const missing = sh(linkSharedCommand(app, 'v1', [{ path: '.env', dir: false }]));
    expect([missing.status, missing.stderr]).toEqual([
      EXIT.refused,
      `shared path '.env' is in neither ${app}/shared/ nor the release: create ${app}/shared/.env on each host first, or write '.env/' in shared-paths to declare a directory that starts empty\n`,
    ]);
    expect(existsSync(join(app, 'shared', '.env'))).toBe(false);
  });

  test('adoptCommand: a hand-deployed current becomes releases/<id> and current a symlink to it, with its healthy ledger line', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'current'), { recursive: true });
    writeFileSync(join(app, 'current', 'index.html'), 'by hand');
    const entry = {
      time: 't',
      action: 'adopt' as const,
      release: 'pre-fivestep-20261207000000',
      previous: '',
      run: 'r',
      result: 'healthy',
    };
    expect(sh(adoptCommand(app, 'pre-fivestep-20261207000000', entry)).status).toBe(0);
    expect(readlinkSync(join(app, 'current'))).toBe('releases/pre-fivestep-20261207000000');
    expect(readFileSync(join(app, 'releases', 'pre-fivestep-20261207000000', 'index.html'), 'utf8')).toBe('by hand');
    expect(parseLog(readFileSync(join(app, '.fivestep', 'deploy.log'), 'utf8'))).toEqual([entry]);
    // Run again (the directory is gone): refused, nothing changes.
    expect(sh(adoptCommand(app, 'pre-fivestep-20261207000001', entry)).status).toBe(EXIT.missing);
    expect(readdirSync(join(app, 'releases'))).toEqual(['pre-fivestep-20261207000000']);
  });

  test('switchCommand refuses a release directory that is a symlink', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'releases'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    execFileSync('ln', ['-s', join(dir, 'elsewhere'), join(app, 'releases', 'v9')]);
    expect(sh(switchCommand(app, 'v9')).status).toBe(EXIT.missing);
    expect(existsSync(join(app, 'current'))).toBe(false);
  });
});

test('parseLog skips torn lines', () => {
  const line = JSON.stringify({
    time: 't',
    action: 'rollout',
    release: 'v2',
    previous: 'v1',
    run: 'r',
    result: 'success',
  });
  expect(parseLog(`${line}\n{"torn":\n\n${line}\n`)).toHaveLength(2);
});

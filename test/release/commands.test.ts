// Remote command builders by exact string, and a few of them run for real in a local sh
// (the same POSIX sh the hosts use), plus the pure state parser and prune planner.
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
import { emptyState, parseState, readStateCommand } from '../../src/release/state-command.js';
import { acquireLockCommand, heartbeatCommand, releaseLockCommand } from '../../src/release/lock-commands.js';

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

  test('releaseLockCommand removes the lock only with this run’s token', () => {
    expect(releaseLockCommand('/srv/app', 'https://x/runs/1 abcd')).toBe(
      `[ "$(sed -n 1p /srv/app/.fivestep/lock/owner 2>/dev/null)" = 'https://x/runs/1 abcd' ] && rm -rf /srv/app/.fivestep/lock; true`,
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

  test('lock: acquire, held (holder and heartbeat age), re-entrant, renew, release by token', () => {
    const app = join(dir, 'app');
    const owner = join(app, '.fivestep', 'lock', 'owner');
    const first = sh(acquireLockCommand(app, 'https://ci/run/1', 'tok1'));
    expect([first.status, first.stdout]).toEqual([0, 'acquired\n']);
    const [token, holder, beat] = readFileSync(owner, 'utf8').split('\n');
    expect([token, holder]).toEqual(['tok1', 'https://ci/run/1']);
    expect(Math.abs(Number(beat) - Date.now() / 1000)).toBeLessThan(5);
    const second = sh(acquireLockCommand(app, 'https://ci/run/2', 'tok2'));
    expect(second.status).toBe(EXIT.lockHeld);
    expect(second.stdout).toMatch(/^held [0-2] https:\/\/ci\/run\/1\n$/);
    // The same run again (a retried step): still its lock.
    expect(sh(acquireLockCommand(app, 'https://ci/run/1', 'tok1')).stdout).toBe('acquired\n');
    // The heartbeat loop renews once per line it reads, answering each; it ends at end of input.
    writeFileSync(owner, `tok1\nhttps://ci/run/1\n${Math.floor(Date.now() / 1000) - 30}\n`);
    const beats = spawnSync('sh', ['-c', heartbeatCommand(app, 'tok1', 'https://ci/run/1')], {
      encoding: 'utf8',
      input: '\n\n',
    });
    expect([beats.status, beats.stdout]).toEqual([0, 'renewed\nrenewed\n']);
    expect(Number(readFileSync(owner, 'utf8').split('\n')[2])).toBeGreaterThan(Date.now() / 1000 - 5);
    // Another run's token learns at its first beat that it has lost the lock, and the loop stops there.
    const other = spawnSync('sh', ['-c', heartbeatCommand(app, 'tok2', 'https://ci/run/2')], {
      encoding: 'utf8',
      input: '\n\n\n',
    });
    expect([other.status, other.stdout]).toEqual([0, 'lost\n']);
    expect(readFileSync(owner, 'utf8').split('\n')[0]).toBe('tok1');
    sh(releaseLockCommand(app, 'tok2'));
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(true); // not ours: kept
    expect(sh(releaseLockCommand(app, 'tok1')).status).toBe(0);
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(false);
  });

  test('lock: a heartbeat older than 60 s is taken over; a completed run (forceOwner) at once; an old expiry format', () => {
    const app = join(dir, 'app');
    const lockDir = join(app, '.fivestep', 'lock');
    const owner = join(lockDir, 'owner');
    const nowSec = () => Math.floor(Date.now() / 1000);
    /**
     * Runs the command and checks the age it reports against the heartbeat `beat`: the command reads the
     * clock between `before` and `after`, so the age is one of those seconds' (a second may tick between
     * writing the heartbeat and the command reading the clock).
     */
    const reportsAge = (command: string, beat: number, line: RegExp) => {
      const before = nowSec();
      const r = sh(command);
      const after = nowSec();
      const m = line.exec(r.stdout);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThanOrEqual(before - beat);
      expect(Number(m![1])).toBeLessThanOrEqual(after - beat);
      return r;
    };
    sh(acquireLockCommand(app, 'https://ci/run/1', 'tok1'));
    let beat = nowSec() - 61;
    writeFileSync(owner, `tok1\nhttps://ci/run/1\n${beat}\n`);
    const stale = reportsAge(
      acquireLockCommand(app, 'https://ci/run/2', 'tok2'),
      beat,
      /^took-over (\d+) https:\/\/ci\/run\/1\n$/,
    );
    expect(stale.status).toBe(0);
    expect(readFileSync(owner, 'utf8').split('\n').slice(0, 2)).toEqual(['tok2', 'https://ci/run/2']);
    expect(existsSync(`${lockDir}.takeover`)).toBe(false);

    // 59 s is live; naming its holder as completed takes it over; naming another run does not.
    beat = nowSec() - 59;
    writeFileSync(owner, `tok2\nhttps://ci/run/2\n${beat}\n`);
    expect(sh(acquireLockCommand(app, 'https://ci/run/3', 'tok3', 'https://ci/run/9')).status).toBe(EXIT.lockHeld);
    reportsAge(
      acquireLockCommand(app, 'https://ci/run/3', 'tok3', 'https://ci/run/2'),
      beat,
      /^took-over (\d+) https:\/\/ci\/run\/2\n$/,
    );

    // Written before the heartbeat: line 3 was an expiry one hour ahead, so a lock 10 s old is live.
    beat = nowSec() - 10;
    writeFileSync(owner, `https://ci/run/3 old\nhttps://ci/run/3\n${beat + 3600}\n`);
    reportsAge(acquireLockCommand(app, 'https://ci/run/4', 'tok4'), beat, /^held (\d+) https:\/\/ci\/run\/3\n$/);
    // A lock directory whose owner file is not written yet is as old as the directory: live.
    rmSync(owner);
    expect(sh(acquireLockCommand(app, 'https://ci/run/4', 'tok4')).status).toBe(EXIT.lockHeld);
  });

  test('readStateCommand → parseState on a real tree; absent deploy path', () => {
    const app = join(dir, 'app');
    expect(parseState(sh(readStateCommand(app, 'v2')).stdout)).toEqual({ ...emptyState(), exists: false });
    for (const [id, t] of [
      ['v1', '200001010000'],
      ['v2', '200001020000'],
      ['v10', '200001030000'],
    ]) {
      mkdirSync(join(app, 'releases', id), { recursive: true });
      execFileSync('touch', ['-t', t, join(app, 'releases', id)]);
    }
    mkdirSync(join(app, '.fivestep', 'bad'), { recursive: true });
    mkdirSync(join(app, '.fivestep', 'checksums'), { recursive: true });
    writeFileSync(join(app, '.fivestep', 'bad', 'v1'), 'broken\n');
    writeFileSync(join(app, '.fivestep', 'checksums', 'v2'), 'ab12\n');
    execFileSync('ln', ['-s', 'releases/v2', join(app, 'current')]);
    const entry = { time: 't', action: 'rollout', release: 'v2', previous: 'v1', run: "it's", result: 'healthy' };
    writeFileSync(join(app, '.fivestep', 'deploy.log'), `${JSON.stringify(entry)}\n{"torn\n`);
    const state = parseState(sh(readStateCommand(app, 'v2')).stdout);
    expect(state).toMatchObject({ exists: true, current: 'v2', bad: ['v1'], checksum: 'ab12', log: [entry] });
    // Oldest first by directory time, not by name (v10 is the newest).
    expect(state.releases.map((r) => r.id)).toEqual(['v1', 'v2', 'v10']);
    expect(lstatSync(join(app, 'current')).isSymbolicLink()).toBe(true);
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

describe('parseState', () => {
  test('keys, unknown lines ignored, releases sorted by mtime then id', () => {
    const state = parseState(
      [
        'current=v3',
        'release=v3 300',
        'release=b 100',
        'release=a 100',
        'bad=b',
        'checksum=ff00',
        'noise',
        'other=1',
        '',
      ].join('\n'),
    );
    expect(state).toEqual({
      ...emptyState(),
      current: 'v3',
      releases: [
        { id: 'a', mtime: 100 },
        { id: 'b', mtime: 100 },
        { id: 'v3', mtime: 300 },
      ],
      bad: ['b'],
      checksum: 'ff00',
      log: [],
    });
    expect(parseState('absent=1\n').exists).toBe(false);
    expect(parseState('current=\n').current).toBe('');
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

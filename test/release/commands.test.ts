// Remote command builders by exact string, and a few of them run for real in a local sh
// (the same POSIX sh the hosts use), plus the pure state parser and prune planner.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXIT,
  acquireLockCommand,
  appendLogCommand,
  parseLog,
  parseState,
  planPrune,
  readStateCommand,
  releaseLockCommand,
  removeReleasesCommand,
  switchCommand,
  unpackCommand,
  userCommand,
  type HostState,
} from '../../src/release/commands.js';

const env = { deployPath: '/srv/app', releaseId: 'v2', previousReleaseId: 'v1' };

describe('exact command strings', () => {
  test('switchCommand renames a fresh symlink over current', () => {
    expect(switchCommand('/srv/app', 'v2')).toBe(
      [
        'set -e',
        'cd /srv/app',
        "[ -d releases/v2 ] || { echo 'release directory missing' >&2; exit 66; }",
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
    expect(userCommand("/srv/my app's/current", 'true', { deployPath: "/srv/my app's", releaseId: 'v2', previousReleaseId: '' })).toBe(
      `cd '/srv/my app'\\''s/current' && env RELEASE_ID=v2 RELEASE_PATH='/srv/my app'\\''s/releases/v2' DEPLOY_PATH='/srv/my app'\\''s' PREVIOUS_RELEASE_ID='' sh -ec true`,
    );
  });

  test('releaseLockCommand removes the lock only with this run’s token', () => {
    expect(releaseLockCommand('/srv/app', 'https://x/runs/1 abcd')).toBe(
      `[ "$(sed -n 1p /srv/app/.fivestep/lock/owner 2>/dev/null)" = 'https://x/runs/1 abcd' ] && rm -rf /srv/app/.fivestep/lock; true`,
    );
  });

  test('appendLogCommand writes one JSON line, quoted', () => {
    const entry = { time: '2025-01-01T00:00:00.000Z', action: 'rollout' as const, release: 'v2', previous: 'v1', run: "it's", result: 'success' };
    expect(appendLogCommand('/srv/app', entry)).toBe(
      `mkdir -p /srv/app/.fivestep && printf '%s\\n' '{"time":"2025-01-01T00:00:00.000Z","action":"rollout","release":"v2","previous":"v1","run":"it'\\''s","result":"success"}' >> /srv/app/.fivestep/deploy.log`,
    );
  });

  test('removeReleasesCommand removes release directories and their checksums', () => {
    expect(removeReleasesCommand('/srv/app', ['v1', 'v2'])).toBe(
      'rm -rf -- /srv/app/releases/v1 /srv/app/.fivestep/checksums/v1 /srv/app/releases/v2 /srv/app/.fivestep/checksums/v2',
    );
    expect(removeReleasesCommand('/srv/app', [])).toBe('true');
  });

  test('unpackCommand goes through a .partial directory renamed into place', () => {
    const cmd = unpackCommand('/srv/app', 'v2', 'ab12', 'tar.gz');
    expect(cmd.split('\n')).toEqual([
      'set -e',
      'mkdir -p /srv/app/releases /srv/app/.fivestep/checksums /srv/app/shared',
      `if [ -e /srv/app/releases/v2 ]; then if [ "$(cat /srv/app/.fivestep/checksums/v2 2>/dev/null)" = ab12 ]; then rm -f /srv/app/.fivestep/incoming/v2.artifact; exit 0; fi; echo 'release directory already exists with other content: use a new release-id' >&2; exit 65; fi`,
      'rm -rf /srv/app/releases/.v2.partial',
      'mkdir /srv/app/releases/.v2.partial',
      'tar -xzf /srv/app/.fivestep/incoming/v2.artifact -C /srv/app/releases/.v2.partial',
      'touch /srv/app/releases/.v2.partial',
      'mv /srv/app/releases/.v2.partial /srv/app/releases/v2',
      "printf '%s\\n' ab12 > /srv/app/.fivestep/checksums/v2",
      'rm -f /srv/app/.fivestep/incoming/v2.artifact',
    ]);
    expect(unpackCommand('/srv/app', 'v2', 'ab12', 'tar')).toContain('tar -xf /srv/app/.fivestep/incoming/v2.artifact');
  });
});

describe('commands run in a local sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-commands-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });

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

  test('lock: acquire, held (with holder and expiry), release by token, take over when expired', () => {
    const app = join(dir, 'app');
    const first = sh(acquireLockCommand(app, 'https://ci/run/1', 'tok1', 1000, 60));
    expect([first.status, first.stdout]).toEqual([0, 'acquired\n']);
    const second = sh(acquireLockCommand(app, 'https://ci/run/2', 'tok2', 1010, 60));
    expect([second.status, second.stdout]).toEqual([EXIT.lockHeld, 'held https://ci/run/1 1060\n']);
    sh(releaseLockCommand(app, 'tok2'));
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(true); // not ours: kept
    const takeover = sh(acquireLockCommand(app, 'https://ci/run/3', 'tok3', 2000, 60));
    expect([takeover.status, takeover.stdout]).toEqual([0, 'took-over https://ci/run/1\n']);
    expect(readFileSync(join(app, '.fivestep', 'lock', 'owner'), 'utf8')).toBe('tok3\nhttps://ci/run/3\n2060\n');
    expect(sh(releaseLockCommand(app, 'tok3')).status).toBe(0);
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(false);
  });

  test('readStateCommand → parseState on a real tree; absent deploy path', () => {
    const app = join(dir, 'app');
    expect(parseState(sh(readStateCommand(app, 'v2')).stdout)).toEqual({ exists: false, current: '', releases: [], bad: [], checksum: '' });
    for (const [id, t] of [['v1', '200001010000'], ['v2', '200001020000'], ['v10', '200001030000']]) {
      mkdirSync(join(app, 'releases', id), { recursive: true });
      execFileSync('touch', ['-t', t, join(app, 'releases', id)]);
    }
    mkdirSync(join(app, '.fivestep', 'bad'), { recursive: true });
    mkdirSync(join(app, '.fivestep', 'checksums'), { recursive: true });
    writeFileSync(join(app, '.fivestep', 'bad', 'v1'), 'broken\n');
    writeFileSync(join(app, '.fivestep', 'checksums', 'v2'), 'ab12\n');
    execFileSync('ln', ['-s', 'releases/v2', join(app, 'current')]);
    const state = parseState(sh(readStateCommand(app, 'v2')).stdout);
    expect(state).toMatchObject({ exists: true, current: 'v2', bad: ['v1'], checksum: 'ab12' });
    // Oldest first by directory time, not by name (v10 is the newest).
    expect(state.releases.map((r) => r.id)).toEqual(['v1', 'v2', 'v10']);
    expect(lstatSync(join(app, 'current')).isSymbolicLink()).toBe(true);
  });
});

describe('parseState', () => {
  test('keys, unknown lines ignored, releases sorted by mtime then id', () => {
    const state = parseState(['current=v3', 'release=v3 300', 'release=b 100', 'release=a 100', 'bad=b', 'checksum=ff00', 'noise', 'other=1', ''].join('\n'));
    expect(state).toEqual({
      exists: true,
      current: 'v3',
      releases: [
        { id: 'a', mtime: 100 },
        { id: 'b', mtime: 100 },
        { id: 'v3', mtime: 300 },
      ],
      bad: ['b'],
      checksum: 'ff00',
    });
    expect(parseState('absent=1\n').exists).toBe(false);
    expect(parseState('current=\n').current).toBe('');
  });
});

describe('planPrune', () => {
  const state = (current: string, ids: string[], bad: string[] = []): HostState => ({
    exists: true,
    current,
    releases: ids.map((id, i) => ({ id, mtime: i })),
    bad,
    checksum: '',
  });

  test('keeps the newest N, oldest pruned first', () => {
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5']), 2, [])).toEqual(['v1', 'v2', 'v3']);
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5']), 5, [])).toEqual([]);
  });

  test('never current, a protected (previous) release, or one marked bad', () => {
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5'], ['v2']), 1, ['v3'])).toEqual(['v1', 'v4']);
    // current is old (a rollback): still kept
    expect(planPrune(state('v1', ['v1', 'v2', 'v3']), 1, [])).toEqual(['v2']);
    expect(planPrune(state('', ['v1']), 1, [''])).toEqual([]);
  });
});

test('parseLog skips torn lines', () => {
  const line = JSON.stringify({ time: 't', action: 'rollout', release: 'v2', previous: 'v1', run: 'r', result: 'success' });
  expect(parseLog(`${line}\n{"torn":\n\n${line}\n`)).toHaveLength(2);
});

// The deploy lock's remote commands: the release command by exact string, and the lock taken, held, renewed,
// taken over and released for real in a local sh (the same POSIX sh the hosts use).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../src/release/commands.js';
import {
  UNLOCK_AGE,
  UNLOCK_HOLDER,
  acquireLockCommand,
  heartbeatCommand,
  releaseLockCommand,
  unlockCommand,
} from '../../src/release/lock-commands.js';
import { parseLog, type DeployLogEntry } from '../../src/release/commands.js';
import { parseState, readStateCommand } from '../../src/release/state-command.js';

describe('exact command strings', () => {
  test('releaseLockCommand removes the lock only with this run’s token', () => {
    expect(releaseLockCommand('/srv/app', 'https://x/runs/1 abcd')).toBe(
      `[ "$(sed -n 1p /srv/app/.fivestep/lock/owner 2>/dev/null)" = 'https://x/runs/1 abcd' ] && rm -rf /srv/app/.fivestep/lock; true`,
    );
  });
});

describe('commands run in a local sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-commands-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const sh = (command: string) => spawnSync('sh', ['-c', command], { encoding: 'utf8' });

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

  const unlockEntry: DeployLogEntry = {
    time: '2026-12-07T12:00:00.000Z',
    action: 'unlock',
    release: '',
    previous: '',
    run: 'fivestep unlock by ann@laptop',
    result: 'unlocked',
    reason: `removed the lock of ${UNLOCK_HOLDER} (last heartbeat ${UNLOCK_AGE}s ago)`,
  };
  const lockWith = (app: string, holder: string, ageSec: number) => {
    expect(sh(acquireLockCommand(app, 'x', 'tok')).status).toBe(0);
    writeFileSync(
      join(app, '.fivestep', 'lock', 'owner'),
      `tok\n${holder}\n${Math.floor(Date.now() / 1000) - ageSec}\n`,
    );
  };

  test('the state read names the lock: holder and heartbeat age on the host clock; no lock, no line', () => {
    const app = join(dir, 'app');
    expect(parseState(sh(readStateCommand(app)).stdout).lock).toBeNull();
    sh(`mkdir -p ${app}/releases`);
    expect(parseState(sh(readStateCommand(app)).stdout).lock).toBeNull();
    lockWith(app, 'https://github.com/acme/shop/actions/runs/7', 125);
    const lock = parseState(sh(readStateCommand(app)).stdout).lock;
    expect(lock?.holder).toBe('https://github.com/acme/shop/actions/runs/7');
    expect(lock?.ageSec).toBeGreaterThanOrEqual(125);
    expect(lock?.ageSec).toBeLessThan(130);
  });

  test('unlock: a live lock is left (exit lockHeld, naming its holder); a stale one removed and written to the ledger', () => {
    const app = join(dir, 'app');
    expect([sh(unlockCommand(app, { force: false, entry: unlockEntry })).stdout]).toEqual(['none\n']);
    lockWith(app, 'https://ci/run/1', 5);
    const live = sh(unlockCommand(app, { force: false, entry: unlockEntry }));
    expect(live.status).toBe(EXIT.lockHeld);
    expect(live.stdout).toMatch(/^held [5-9] https:\/\/ci\/run\/1\n$/);
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(true);
    lockWith(app, 'https://ci/run/1', 90);
    const stale = sh(unlockCommand(app, { force: false, entry: unlockEntry }));
    expect(stale.status).toBe(0);
    expect(stale.stdout).toMatch(/^removed 9\d https:\/\/ci\/run\/1\n$/);
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(false);
    const [line] = parseLog(readFileSync(join(app, '.fivestep', 'deploy.log'), 'utf8'));
    expect(line).toMatchObject({ action: 'unlock', run: 'fivestep unlock by ann@laptop', result: 'unlocked' });
    expect(line.reason).toMatch(/^removed the lock of https:\/\/ci\/run\/1 \(last heartbeat 9\ds ago\)$/);
  });

  test('unlock --force removes a live lock; a hostile holder stays one JSON string in the ledger', () => {
    const app = join(dir, 'app');
    const hostile = 'run" , "result": "healthy \\ \u0007 $(touch pwned) `id` \u001b[2J';
    lockWith(app, hostile, 3);
    const r = sh(unlockCommand(app, { force: true, entry: unlockEntry }));
    expect(r.status).toBe(0);
    expect(existsSync(join(app, '.fivestep', 'lock'))).toBe(false);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const text = readFileSync(join(app, '.fivestep', 'deploy.log'), 'utf8');
    expect(text.split('\n').filter(Boolean)).toHaveLength(1);
    const [line] = parseLog(text);
    expect(line.result).toBe('unlocked');
    // Control characters are dropped; the rest of the holder is kept as text.
    expect(line.reason).toContain('run" , "result": "healthy \\  $(touch pwned) `id` [2J');
  });
});

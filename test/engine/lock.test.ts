// The lock's policy against the real lock commands (run in a local sh): take it, take over a stale
// one, wait on a live one, ask the API about its holder, keep the heartbeat fresh.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { ReleaseHost } from '../../src/engine/host.js';
import { Heartbeat, HostLock, takeLock, type LockRequest } from '../../src/engine/lock.js';
import { StepError } from '../../src/engine/step-record.js';
import { DEPLOY, LocalHosts } from './local-hosts.js';

let root: string;
let hosts: LocalHosts;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fivestep-lock-'));
  hosts = LocalHosts.create(root, 1);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const ownerFile = () => hosts.path(0, `${DEPLOY}/.fivestep/lock/owner`);
const nowSec = () => Math.floor(Date.now() / 1000);

async function host(): Promise<HostLock> {
  const h = new ReleaseHost(hosts.specs[0], {
    connector: hosts.connector(),
    credentials: { privateKey: '', hostKeys: { kind: 'insecure' } },
    deployPath: DEPLOY,
  });
  await h.connect();
  return new HostLock(h);
}

function request(logger: MemoryLogger, o: Partial<LockRequest> = {}): LockRequest {
  return {
    owner: 'https://ci/runs/2',
    token: 'tok2',
    timeoutMs: 0,
    logger,
    now: Date.now,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    cancelled: () => false,
    pollMs: 50,
    ...o,
  };
}

/** Another run's lock, with its last heartbeat `ageSec` ago. */
async function heldBy(owner: string, ageSec: number): Promise<void> {
  const other = await host();
  await other.tryLock(owner, 'tok1');
  writeFileSync(ownerFile(), `tok1\n${owner}\n${nowSec() - ageSec}\n`);
}

test('a free lock is taken; one lock step is recorded', async () => {
  const h = await host();
  const logger = new MemoryLogger();
  await takeLock(h, request(logger));
  expect(h.held).toBe(true);
  expect(h.host.steps.map((s) => [s.name, s.ok, s.detail])).toEqual([
    ['connect', true, undefined],
    ['lock', true, undefined],
  ]);
  expect(readFileSync(ownerFile(), 'utf8').split('\n').slice(0, 2)).toEqual(['tok2', 'https://ci/runs/2']);
});

test('a stale lock is taken over at once, with a warning naming the dead holder and its last heartbeat', async () => {
  await heldBy('https://ci/runs/1', 75);
  const h = await host();
  const logger = new MemoryLogger();
  await takeLock(h, request(logger));
  expect(logger.text()).toMatch(
    /^warning: 10\.0\.0\.1:22: took over the stale lock of https:\/\/ci\/runs\/1 \(last heartbeat 7[56]s ago\)$/m,
  );
  expect(h.host.steps.at(-1)).toMatchObject({
    name: 'lock',
    ok: true,
    detail: expect.stringContaining('took over the stale lock'),
  });
});

test('a live lock fails at once with lock-timeout 0, naming the holder, its heartbeat and the way out', async () => {
  await heldBy('https://ci/runs/1', 5);
  const h = await host();
  const err = await takeLock(h, request(new MemoryLogger())).catch((e) => e);
  expect(err).toBeInstanceOf(StepError);
  expect(err.message).toMatch(
    /^lock failed \(exit 75\): locked by another rollout: https:\/\/ci\/runs\/1, last heartbeat [56]s ago\. Wait for that run to finish, or set lock-timeout \(now 0s\) to wait for it; if that run is gone, its lock goes stale 60s after its last heartbeat \(in about 5[45]s\) and is then taken over$/,
  );
  expect(h.host.steps.at(-1)).toMatchObject({
    name: 'lock',
    ok: false,
    detail: expect.stringMatching(/^locked by another rollout/),
  });
  expect(h.held).toBe(false);
});

test('a live lock is waited on until its holder lets go', async () => {
  await heldBy('https://ci/runs/1', 0);
  const h = await host();
  const logger = new MemoryLogger();
  setTimeout(() => rmSync(hosts.path(0, `${DEPLOY}/.fivestep/lock`), { recursive: true }), 300);
  const start = Date.now();
  await takeLock(h, request(logger, { timeoutMs: 10_000 }));
  expect(Date.now() - start).toBeGreaterThanOrEqual(250);
  expect(logger.text()).toMatch(
    /^10\.0\.0\.1:22: waiting up to 10s for the lock held by https:\/\/ci\/runs\/1 \(last heartbeat [01]s ago\)$/m,
  );
  expect(h.host.steps.at(-1)).toMatchObject({ name: 'lock', ok: true, detail: 'waited for another rollout' });
});

test('a holder whose run has completed (per the API) is stale at once; a running one is waited on', async () => {
  await heldBy('https://ci/runs/1', 2);
  const asked: string[] = [];
  const running = await takeLock(
    await host(),
    request(new MemoryLogger(), { runStatus: async (u) => (asked.push(u), 'running') }),
  ).catch((e) => e);
  expect(running).toBeInstanceOf(StepError);
  const h = await host();
  const logger = new MemoryLogger();
  await takeLock(h, request(logger, { runStatus: async (u) => (asked.push(u), 'completed') }));
  expect(asked).toEqual(['https://ci/runs/1', 'https://ci/runs/1']);
  expect(logger.text()).toMatch(
    /took over the stale lock of https:\/\/ci\/runs\/1 \(last heartbeat [23]s ago, and its run has completed\)/,
  );
  expect(readFileSync(ownerFile(), 'utf8').split('\n')[0]).toBe('tok2');
});

test("the heartbeat renews this run's locks, and reports a lock another run has taken over", async () => {
  const h = await host();
  await takeLock(h, request(new MemoryLogger()));
  writeFileSync(ownerFile(), `tok2\nhttps://ci/runs/2\n${nowSec() - 40}\n`);
  const lost: string[] = [];
  const heartbeat = new Heartbeat(
    () => [h],
    (x) => lost.push(x.id),
    new MemoryLogger(),
    1_000_000,
  );
  await heartbeat.beat();
  expect(Number(readFileSync(ownerFile(), 'utf8').split('\n')[2])).toBeGreaterThanOrEqual(nowSec() - 2);
  expect(lost).toEqual([]);
  writeFileSync(ownerFile(), `tok9\nhttps://ci/runs/9\n${nowSec()}\n`);
  await heartbeat.beat();
  expect(lost).toEqual(['10.0.0.1:22']);
});

test('renewals share one long-lived command per connection, and the lock is released only after it has ended', async () => {
  const h = await host();
  await takeLock(h, request(new MemoryLogger()));
  const heartbeat = new Heartbeat(
    () => [h],
    () => undefined,
    new MemoryLogger(),
    1_000_000,
  );
  const before = hosts.commands.length;
  for (let i = 0; i < 3; i++) {
    writeFileSync(ownerFile(), `tok2\nhttps://ci/runs/2\n${nowSec() - 40}\n`);
    await heartbeat.beat();
    expect(Number(readFileSync(ownerFile(), 'utf8').split('\n')[2])).toBeGreaterThanOrEqual(nowSec() - 2);
  }
  expect(hosts.commands.slice(before).filter((c) => c.command.startsWith('while IFS= read -r beat'))).toHaveLength(1);
  expect(hosts.commands.length - before).toBe(1);
  await h.release();
  expect(hosts.locked(0)).toBe(false);
});

// HandshakeLimits: how many connection starts run at once. A burst of handshakes to one sshd is what it refuses
// first (MaxStartups), so each server gets at most MAX_HANDSHAKES_PER_SERVER; distinct servers do not wait on
// each other. Connects here are deferred promises, so the test sees exactly how many are in flight.
import type { HostSpec } from '../../src/common/inputs.js';
import { HandshakeLimits, MAX_HANDSHAKES_PER_SERVER } from '../../src/engine/host.js';

/** Fake connects that stay in flight until released, counting how many run at once. */
class Connects {
  started = 0;
  inFlight = 0;
  peak = 0;
  private readonly open: (() => void)[] = [];

  /** One connect: in flight until release() lets it finish. */
  readonly connect = (): Promise<void> => {
    this.started++;
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    return new Promise<void>((resolve) =>
      this.open.push(() => {
        this.inFlight--;
        resolve();
      }),
    );
  };

  /** Finishes the oldest connect in flight; false when none is. */
  release(): boolean {
    const done = this.open.shift();
    done?.();
    return done !== undefined;
  }
}

/** Lets every promise chain that can move on do so. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const spec = (host: string, port = 22, user = 'deploy'): HostSpec => ({ user, host, port });

/** Releases connects one at a time until all `runs` are done, checking the bound after each step. */
async function drain(connects: Connects, runs: Promise<unknown>[], bound: number): Promise<void> {
  let finished = 0;
  for (const r of runs) void r.then(() => finished++);
  await settle();
  while (finished < runs.length) {
    expect(connects.inFlight).toBeLessThanOrEqual(bound);
    if (!connects.release()) throw new Error(`stuck: ${finished}/${runs.length} done, none in flight`);
    await settle();
  }
  await Promise.all(runs);
}

test('the per-server limit is what OpenSSH starts to refuse at (MaxStartups 10:30:100)', () => {
  expect(MAX_HANDSHAKES_PER_SERVER).toBe(10);
});

test('20 connects to 20 distinct servers all start at once', async () => {
  // Distinct sshds each have their own MaxStartups: throttling them against each other only slows a rollout.
  const limits = new HandshakeLimits();
  const connects = new Connects();
  const runs = Array.from({ length: 20 }, (_, i) => limits.run(spec(`web${i}.example`), undefined, connects.connect));
  await settle();
  expect(connects.inFlight).toBe(20);
  await drain(connects, runs, 20);
  expect(connects.started).toBe(20);
});

test('20 connects to one server (same host:port, any user) never run more than 10 at once', async () => {
  // One sshd sees them all, whoever logs in; beyond 10 it starts dropping unauthenticated connections.
  const limits = new HandshakeLimits();
  const connects = new Connects();
  const runs = Array.from({ length: 20 }, (_, i) =>
    limits.run(spec('app.example', 2222, i % 2 ? 'deploy' : 'ops'), undefined, connects.connect),
  );
  await settle();
  expect(connects.inFlight).toBe(10);
  await drain(connects, runs, 10);
  expect(connects.started).toBe(20);
  expect(connects.peak).toBe(10);
});

test('the same address on another port is another server', async () => {
  // Two sshds on one machine (e.g. containers) each have their own limit.
  const limits = new HandshakeLimits();
  const connects = new Connects();
  const runs = Array.from({ length: 20 }, (_, i) =>
    limits.run(spec('10.0.0.5', i % 2 ? 22 : 2222), undefined, connects.connect),
  );
  await settle();
  expect(connects.inFlight).toBe(20);
  await drain(connects, runs, 20);
});

test('20 hosts through one jump host run at most 10 connects at once', async () => {
  // Every handshake through a jump host starts with one on the jump host's sshd.
  const limits = new HandshakeLimits();
  const connects = new Connects();
  const jump = spec('bastion.example');
  const runs = Array.from({ length: 20 }, (_, i) => limits.run(spec(`10.0.1.${i + 1}`), jump, connects.connect));
  await settle();
  expect(connects.inFlight).toBe(10);
  await drain(connects, runs, 10);
  expect(connects.started).toBe(20);
  expect(connects.peak).toBe(10);
});

test('total: 3 bounds every connect together at 3, across servers', async () => {
  const limits = new HandshakeLimits({ total: 3 });
  const connects = new Connects();
  const runs = Array.from({ length: 20 }, (_, i) => limits.run(spec(`web${i}.example`), undefined, connects.connect));
  await settle();
  expect(connects.inFlight).toBe(3);
  await drain(connects, runs, 3);
  expect(connects.started).toBe(20);
  expect(connects.peak).toBe(3);
});

test('a failed connect frees its place, and its error reaches the caller', async () => {
  // A refused connection must not hold a slot for the hosts behind it.
  const limits = new HandshakeLimits({ perServer: 1 });
  const failing = limits.run(spec('app.example'), undefined, () => Promise.reject(new Error('refused')));
  const next = limits.run(spec('app.example'), undefined, () => Promise.resolve('connected'));
  await expect(failing).rejects.toThrow('refused');
  await expect(next).resolves.toBe('connected');
});

// The lock's heartbeat over real SSH: renewals go over one long-lived command per connection,
// each one refreshes the heartbeat on the host, and a lock taken over is reported at the next beat.
import { readFileSync, writeFileSync } from 'node:fs';
import { MemoryLogger } from '../../src/common/logger.js';
import { ReleaseHost } from '../../src/engine/host.js';
import { Heartbeat, HostLock } from '../../src/engine/lock.js';
import { connectSsh } from '../../src/ssh/connector.js';
import type { Connector } from '../../src/ssh/types.js';
import { Fleet } from '../servers/fleet.js';

let fleet: Fleet;
beforeAll(async () => {
  fleet = await Fleet.start(1);
}, 30_000);
afterAll(() => fleet?.stop());

test('three renewals, one remote command; a takeover is seen at the next beat', async () => {
  const commands: string[] = [];
  const counting: Connector = async (spec, credentials) => {
    const session = await connectSsh(spec, credentials);
    return {
      ...session,
      id: session.id,
      spec: session.spec,
      close: () => session.close(),
      exec: (command, options) => (commands.push(command), session.exec(command, options)),
    };
  };
  const host = new ReleaseHost(fleet.hosts[0].spec, {
    connector: counting,
    credentials: fleet.credentials(),
    deployPath: '/srv/app',
  });
  await host.connect();
  const lock = new HostLock(host);
  expect((await lock.tryLock('https://ci/runs/1', 'tok1')).kind).toBe('acquired');
  const owner = fleet.path(0, '/srv/app/.fivestep/lock/owner');
  const beatOf = () => Number(readFileSync(owner, 'utf8').split('\n')[2]);
  const lost: string[] = [];
  const heartbeat = new Heartbeat(
    () => [lock],
    (h) => lost.push(h.id),
    new MemoryLogger(),
    1_000_000,
  );
  const before = commands.length;
  for (let i = 0; i < 3; i++) {
    writeFileSync(owner, `tok1\nhttps://ci/runs/1\n${Math.floor(Date.now() / 1000) - 45}\n`);
    await heartbeat.beat();
    expect(beatOf()).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 2);
  }
  expect(commands.length - before).toBe(1);
  writeFileSync(owner, `tok9\nhttps://ci/runs/9\n${Math.floor(Date.now() / 1000)}\n`);
  await heartbeat.beat();
  expect(lost).toEqual([fleet.hosts[0].id]);
  await lock.release();
  await host.close();
  // Not ours any more: the release left the other run's lock alone.
  expect(readFileSync(owner, 'utf8').split('\n')[0]).toBe('tok9');
}, 30_000);

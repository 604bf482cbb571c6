// The shop app reloads on HUP (and USR2) without dropping a request: steady keep-alive load on two hosts, two
// reloads onto new releases, zero failed requests, and the answers come from the new release.
import { chownSync, mkdirSync, renameSync, symlinkSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Fleet } from './fleet.js';
import { startLoad } from './load.js';
import { startShopApps, writeShopRelease, type ShopApps } from './shop-app.js';

let fleet: Fleet;
let apps: ShopApps | undefined;

/** Puts a release on every host and points `current` at it atomically, as ssh-rollout does. */
function deploy(version: string, opts: { brokenRevenue?: boolean } = {}): void {
  const uid = Number(execFileSync('id', ['-u', fleet.user], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', fleet.user], { encoding: 'utf8' }));
  for (let i = 0; i < fleet.hosts.length; i++) {
    const app = fleet.path(i, '/srv/app');
    const dir = writeShopRelease(join(app, 'releases', version), version, opts);
    mkdirSync(join(app, 'shared'), { recursive: true });
    for (const p of [
      app,
      join(app, 'releases'),
      dir,
      join(app, 'shared'),
      ...readdirSync(dir).map((f) => join(dir, f)),
    ])
      chownSync(p, uid, gid);
    symlinkSync(`releases/${version}`, join(app, 'current.new'));
    renameSync(join(app, 'current.new'), join(app, 'current'));
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  fleet = await Fleet.start(2, { distinctAddresses: true });
});

afterAll(async () => {
  await apps?.stop();
  await fleet?.stop();
});

test('a HUP and a USR2 reload under steady keep-alive load: 0 failed requests, answers switch to the new release', async () => {
  deploy('v1');
  apps = await startShopApps(fleet);
  expect(apps.served()).toEqual(['v1', 'v1']);
  const load = startLoad({ targets: apps.urls, clients: 4, pauseMs: 5, maxDurationMs: 30_000 });
  await until('first answers', () => load.stats.ok > 50);

  for (const version of ['v2', 'v3']) {
    deploy(version, { brokenRevenue: version === 'v3' });
    const before = load.stats.ok;
    for (const pid of apps.pids()) process.kill(pid, version === 'v2' ? 'SIGHUP' : 'SIGUSR2');
    await until(`${version} served`, () => apps!.served().every((v) => v === version));
    await until(`answers from ${version}`, () => load.lastVersions().every((v) => v === version));
    // Keep the load going while the old workers drain.
    await until('more answers', () => load.stats.ok > before + 300);
  }
  const stats = await load.stop();
  expect(stats.errors).toEqual({});
  expect(stats.failed).toBe(0);
  expect(stats.ok).toBeGreaterThan(600);
  expect(Object.keys(stats.versions).sort()).toEqual(['v1', 'v2', 'v3']);

  // The counters live in the master: two reloads, no reset; v3 sells at a tenth of the price.
  const metrics = await (await fetch(`${apps.urls[0]}/metrics`)).text();
  expect(metrics).toMatch(/^shop_reloads_total 2$/m);
  expect(metrics).toMatch(/^shop_concurrent_users 4$/m);
  const revenue = Number(/^shop_revenue_total (\S+)$/m.exec(metrics)?.[1]);
  expect(revenue).toBeGreaterThan(0);
  const buy = (await (await fetch(`${apps.urls[0]}/buy?user=test`)).json()) as { version: string; amount: number };
  expect(buy).toEqual({ ok: true, version: 'v3', amount: 1 });
}, 60_000);

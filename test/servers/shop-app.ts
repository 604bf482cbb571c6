// The demo shop app (demo/shop/server.mjs) running on every fleet host as a long-lived process, as a
// real app server would: bound to the host's own loopback address, one port shared by all hosts, serving
// the release `<deploy-path>/current` points to and reloading on `kill -HUP` (as Starman does: new workers from `current`, the old ones finish and exit)
// without dropping a request.
//
//   writeShopRelease(dir, 'v3', { brokenRevenue: true })   // an artifact for ssh-rollout
//   const apps = await startShopApps(fleet);               // after a first release is on every host
//   apps.urls[i]                                           // http://127.X.Y.N:PORT
//   apps.reloadCommand                                     // kill -HUP "$(cat /srv/app/shared/app.pid)"
//   await apps.stop();                                     // also runs on process exit
//
// Each host's /srv exists only inside its sshd's mount namespace, so the app is given the host's REAL
// directory (`fleet.hosts[i].root + '/app'`) as its deploy path; it runs as the fleet's login user so the
// reload command, run over SSH as that user, may signal it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The app, shipped inside every release (the workers run the release's copy). */
export const SHOP_APP = join(REPO, 'demo', 'shop', 'server.mjs');

export interface ShopHost {
  /** The address the app binds (each fleet host has its own with `distinctAddresses`). */
  host: string;
  /** The directory the host sees as /srv. */
  root: string;
  /** A directory for the app's log and master copy. */
  dir: string;
}

export interface ShopAppsOptions {
  /** The deploy path as the hosts see it (default `/srv/app`); must be under /srv. */
  deployPath?: string;
  /** Workers per host (default 2). */
  workers?: number;
  /** Run as root instead of the login user. */
  asRoot?: boolean;
  /** Readiness timeout per host (default 10 s). */
  timeoutMs?: number;
}

export interface ShopApps {
  port: number;
  /** `http://ADDRESS:PORT`, per host. */
  urls: string[];
  /** `ADDRESS:PORT`, per host (Prometheus targets). */
  targets: string[];
  /** The real deploy path of each host (what the host sees as `deployPath`). */
  deployPaths: string[];
  /** The reload command for ssh-rollout, with the deploy path the host sees. */
  reloadCommand: string;
  /** The master pids, per host. */
  pids(): number[];
  /** The version each host's app serves now (from `shared/app.served`). */
  served(): string[];
  /** Each host's app log. */
  logs(): string[];
  stop(): Promise<void>;
}

/** Writes a release directory for the shop: the app, VERSION and, for a bad release, BROKEN_REVENUE. */
export function writeShopRelease(dir: string, version: string, opts: { brokenRevenue?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(SHOP_APP, join(dir, 'server.mjs'));
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  writeFileSync(join(dir, 'index.html'), `<h1>shop ${version}</h1>\n`);
  if (opts.brokenRevenue)
    writeFileSync(join(dir, 'BROKEN_REVENUE'), 'this release records ~10% of the revenue per sale\n');
  return dir;
}

const live = new Set<ChildProcess>();
let hookInstalled = false;
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // gone
  }
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A port free on every address (the kernel picks it on the first one). */
async function sharedFreePort(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, hosts[0], () => {
        const { port: p } = s.address() as { port: number };
        s.close(() => resolve(p));
      });
    });
    if ((await Promise.all(hosts.map((h) => bindable(h, port)))).every(Boolean)) return port;
  }
  throw new Error('no port free on every host address');
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the shop app for ${url} exited: ${readFileSync(log, 'utf8').slice(-1000)}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `the shop app at ${url} was not healthy within ${timeoutMs} ms: ${readFileSync(log, 'utf8').slice(-1000)}`,
  );
}

/**
 * Starts the shop on every host, serving `<deploy-path>/current` (which must exist). The login user runs
 * it (unless asRoot), so `kill -HUP` over SSH works.
 */
export async function startShopApps(
  fleet: { hosts: ShopHost[]; user: string },
  opts: ShopAppsOptions = {},
): Promise<ShopApps> {
  const deployPath = opts.deployPath ?? '/srv/app';
  if (!/^\/srv\//.test(deployPath)) throw new Error(`deployPath must be under /srv, got ${deployPath}`);
  const realPaths = fleet.hosts.map((h) => join(h.root, deployPath.replace(/^\/srv\//, '')));
  for (const p of realPaths)
    if (!existsSync(join(p, 'current')))
      throw new Error(`${p}/current does not exist: roll out a first release before starting the app`);
  const ids = opts.asRoot
    ? { uid: 0, gid: 0 }
    : {
        uid: Number(execFileSync('id', ['-u', fleet.user], { encoding: 'utf8' }).trim()),
        gid: Number(execFileSync('id', ['-g', fleet.user], { encoding: 'utf8' }).trim()),
      };
  const port = await sharedFreePort(fleet.hosts.map((h) => h.host));
  const urls = fleet.hosts.map((h) => `http://${h.host}:${port}`);
  if (!hookInstalled) {
    hookInstalled = true;
    process.on('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  const children: ChildProcess[] = [];
  const logs: string[] = [];
  const apps: ShopApps = {
    port,
    urls,
    targets: fleet.hosts.map((h) => `${h.host}:${port}`),
    deployPaths: realPaths,
    reloadCommand: `kill -HUP "$(cat ${deployPath}/shared/app.pid)"`,
    pids: () => realPaths.map((p) => Number(readFileSync(join(p, 'shared', 'app.pid'), 'utf8').trim())),
    served: () =>
      realPaths.map((p) =>
        existsSync(join(p, 'shared', 'app.served')) ? readFileSync(join(p, 'shared', 'app.served'), 'utf8').trim() : '',
      ),
    logs: () => logs.map((l) => (existsSync(l) ? readFileSync(l, 'utf8') : '')),
    async stop() {
      await Promise.all(
        children.map(async (c) => {
          if (c.exitCode === null && c.signalCode === null) {
            const exited = new Promise((r) => c.once('exit', r));
            killGroup(c, 'SIGTERM');
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
            clearTimeout(timer);
          }
          // Workers left behind (a master killed hard) share the master's process group.
          killGroup(c, 'SIGKILL');
          live.delete(c);
        }),
      );
    },
  };
  try {
    for (const [i, h] of fleet.hosts.entries()) {
      const master = join(h.dir, 'shop-master.mjs');
      copyFileSync(SHOP_APP, master);
      const log = join(h.dir, 'shop.log');
      logs.push(log);
      const fd = openSync(log, 'a');
      const child = spawn(
        process.execPath,
        [
          master,
          '--deploy-path',
          realPaths[i],
          '--host',
          h.host,
          '--port',
          String(port),
          '--workers',
          String(opts.workers ?? 2),
        ],
        {
          cwd: realPaths[i],
          uid: ids.uid,
          gid: ids.gid,
          detached: true,
          stdio: ['ignore', fd, fd],
        },
      );
      closeSync(fd);
      children.push(child);
      live.add(child);
    }
    await Promise.all(children.map((c, i) => waitHealthy(urls[i], c, opts.timeoutMs ?? 10_000, logs[i])));
    // The pid file is written once the first workers listen.
    const deadline = Date.now() + 5000;
    while (realPaths.some((p) => !existsSync(join(p, 'shared', 'app.pid'))) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  } catch (err) {
    await apps.stop();
    throw err;
  }
  return apps;
}

// A per-host app for the balancer tests (the version `current` serves; down while a "restart" marker
// exists, as a non-graceful reload would be; every answer is an order worth the release's `order-value`,
// default 1, counted on /metrics as `orders_total`) and a steady load generator through the balancer.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseServersState } from '../../src/lb/haproxy.js';
import type { LbServer } from '../../src/lb/index.js';
import { Fleet } from '../servers/fleet.js';
import { startHaproxy, type HaproxyServer } from '../servers/haproxy.js';
import type { NginxServer } from '../servers/nginx.js';
import { makeArtifact, runRollout } from '../rollout/helpers.js';

/** A reload that is a restart: the app answers nothing for 0.3 s, and the command returns once it is back. */
export const RESTART =
  'mkdir -p "$DEPLOY_PATH/shared"; touch "$DEPLOY_PATH/shared/restarting"; sleep 0.3; rm -f "$DEPLOY_PATH/shared/restarting"';

/** lb-host: the fleet's bastion, which reaches the test's balancer (its socket, its upstream file). */
const lbHost = (fleet: Fleet) => `${fleet.bastion().spec.user}@${fleet.bastion().host}:${fleet.bastion().port}`;

/** The balancer inputs for the test's haproxy, driven over SSH on the bastion. */
export const haproxyInputs = (fleet: Fleet, haproxy: HaproxyServer) => ({
  'load-balancer': 'haproxy',
  'lb-host': lbHost(fleet),
  'lb-backend': haproxy.backend,
  'lb-socket': haproxy.socket,
  'drain-timeout': '5s',
});

/** The balancer inputs for the test's nginx, driven over SSH on the bastion. */
export const nginxInputs = (fleet: Fleet, nginx: NginxServer) => ({
  'load-balancer': 'nginx',
  'lb-host': lbHost(fleet),
  'lb-backend': nginx.upstream,
  'lb-upstream-file': nginx.upstreamFile,
  'drain-timeout': '5s',
});

/** What a balancer test runs: a scratch directory, a fleet, its apps and the balancer in front of them. */
export interface LbWorld<B extends { stop(): Promise<void> }> {
  tmp: string;
  fleet: Fleet;
  apps: Apps;
  lb: B;
}

/** Stops a balancer test's servers, the balancer first, and removes its scratch directory; what never started is passed over. */
export async function stopLbWorld(w: Partial<LbWorld<{ stop(): Promise<void> }>>): Promise<void> {
  await w.lb?.stop();
  await w.apps?.stop();
  await w.fleet?.stop();
  if (w.tmp) rmSync(w.tmp, { recursive: true, force: true });
}

/**
 * Four hosts behind a real haproxy (servers `s0`…`s3`, weight 10), v1 deployed. Each host on an address of
 * its own with one app port; or (`sameAddress`) all at 127.0.0.1, each app on a port of its own.
 */
export async function startHaproxyWorld(
  name: string,
  o: { sameAddress?: boolean } = {},
): Promise<LbWorld<HaproxyServer>> {
  const w: Partial<LbWorld<HaproxyServer>> = { tmp: mkdtempSync(join(tmpdir(), `fivestep-lb-${name}-`)) };
  try {
    const fleet = (w.fleet = await Fleet.start(
      4,
      o.sameAddress ? { bastion: true } : { distinctAddresses: true, bastion: true },
    ));
    const apps = (w.apps = await startApps(fleet, o.sameAddress ? { listen: 'own-port' } : {}));
    w.lb = await startHaproxy(
      fleet.hosts.map((h, i) =>
        o.sameAddress
          ? { name: `s${i}`, address: '127.0.0.1', port: apps.ports[i], weight: 10 }
          : { name: `s${i}`, address: h.host, port: apps.port, weight: 10 },
      ),
    );
    const first = await runRollout(fleet, { artifact: makeArtifact(w.tmp!, 'v1'), 'release-id': 'v1' });
    expect(first.outputs.result).toBe('success');
    return w as LbWorld<HaproxyServer>;
  } catch (err) {
    await stopLbWorld(w);
    throw err;
  }
}

/** What haproxy says of its backend's servers now, read on the runner through its admin socket. */
export function haproxyServers(haproxy: HaproxyServer): LbServer[] {
  return parseServersState(haproxyRuntime(haproxy, `show servers state ${haproxy.backend}`), haproxy.backend);
}

/** One command on haproxy's runtime API (its answer), as an operator would send it with socat. */
export function haproxyRuntime(haproxy: HaproxyServer, line: string): string {
  return execFileSync('socat', ['stdio', `UNIX-CONNECT:${haproxy.socket}`], { input: `${line}\n` }).toString();
}

export interface Apps {
  /** The shared port (`listen: 'shared-port'`, the default). */
  port: number;
  /** Each host's app port (`own-port`), or 0 (`unix`). */
  ports: number[];
  /** Each host's app socket (`unix`). */
  sockets: string[];
  stop(): Promise<void>;
}

/**
 * One HTTP server per fleet host: on the host's own address and one shared port (the default, for a
 * fleet with distinct addresses); on one address with a port each (`own-port`: several apps on one
 * machine); or on a Unix socket each at `socketPath(i)` (`unix`: nginx → app over a socket).
 */
export async function startApps(
  fleet: Fleet,
  opts: { listen?: 'shared-port' | 'own-port' | 'unix'; socketPath?: (i: number) => string } = {},
): Promise<Apps> {
  const listen = opts.listen ?? 'shared-port';
  const servers: Server[] = [];
  const ports: number[] = [];
  const sockets: string[] = [];
  let port = 0;
  for (const [i, h] of fleet.hosts.entries()) {
    let orders = 0;
    const read = (p: string) => {
      try {
        return readFileSync(fleet.path(i, p), 'utf8').trim();
      } catch {
        return '';
      }
    };
    const srv = createServer((req, res) => {
      if (existsSync(fleet.path(i, '/srv/app/shared/restarting'))) {
        req.socket.destroy();
        return;
      }
      if (req.url === '/metrics') {
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
          .end(`# TYPE orders_total counter\norders_total ${orders}\n`);
        return;
      }
      if (req.url === '/health') {
        res.writeHead(read('/srv/app/current/healthy') === 'no' ? 503 : 200).end('ok');
        return;
      }
      orders += Number(read('/srv/app/current/order-value') || 1);
      res.writeHead(200, { 'x-host': String(i), connection: 'close' }).end(read('/srv/app/current/version') || 'none');
    });
    const socket = listen === 'unix' ? opts.socketPath!(i) : '';
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      if (socket) srv.listen(socket, () => resolve());
      else srv.listen(listen === 'own-port' ? 0 : port, h.host, () => resolve());
    });
    if (socket) {
      // nginx runs as the fleet's login user: it must be able to connect.
      chmodSync(socket, 0o777);
      sockets.push(socket);
      ports.push(0);
    } else {
      ports.push((srv.address() as { port: number }).port);
      if (listen === 'shared-port') port = ports[i];
    }
    servers.push(srv);
  }
  return {
    port,
    ports,
    sockets,
    stop: () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}

export interface Sample {
  t: number;
  ok: boolean;
  host: number;
  /** A failed request: the HTTP status, or the client error (a failure must say what it was). */
  failure?: string;
}

export interface Load {
  samples: Sample[];
  stop(): Promise<Sample[]>;
}

function get(url: string): Promise<{ status: number; host: number; error?: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, host: Number(res.headers['x-host'] ?? -1) }));
      res.on('error', (e: NodeJS.ErrnoException) =>
        resolve({ status: 0, host: -1, error: `response: ${e.code ?? e.message}` }),
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, host: -1, error: e.code ?? e.message }));
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer in 5 s'), { code: 'TIMEOUT' })));
    req.end();
  });
}

/** `workers` loops sending requests back to back, each on a new connection. */
export function startLoad(url: string, workers = 4): Load {
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const r = await get(url);
      const ok = r.status === 200;
      samples.push({ t: Date.now(), ok, host: r.host, ...(ok ? {} : { failure: r.error ?? `HTTP ${r.status}` }) });
      // A balancer with no server answers 503 at once: without a pause the loop would starve the event loop.
      if (r.status !== 200) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      return samples;
    },
  };
}

export interface Sent {
  /** Responses per app host (fleet index, from x-host). */
  byHost: number[];
  failed: number;
  /** Client connections the requests used. */
  connections: number;
}

/**
 * `n` requests one after another, counting who answered. `keepAlive`: all on one client connection
 * (what a browser does; haproxy must count requests, not the connection).
 */
export async function sendRequests(
  url: string,
  n: number,
  hosts: number,
  opts: { keepAlive?: boolean } = {},
): Promise<Sent> {
  const agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
  const sockets = new Set<unknown>();
  const out: Sent = { byHost: Array.from({ length: hosts }, () => 0), failed: 0, connections: 0 };
  for (let i = 0; i < n; i++) {
    const r = await new Promise<{ status: number; host: number }>((resolve) => {
      const req = request(url, { agent: agent ?? false, timeout: 5000 }, (res) => {
        sockets.add(req.socket);
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, host: Number(res.headers['x-host'] ?? -1) }));
      });
      req.on('error', () => resolve({ status: 0, host: -1 }));
      req.end();
    });
    if (r.status === 200 && r.host >= 0) out.byHost[r.host]++;
    else out.failed++;
  }
  agent?.destroy();
  out.connections = sockets.size;
  return out;
}

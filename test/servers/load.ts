// A small load generator for the shop app: N keep-alive clients per target hitting `/buy` in a loop,
// counting answered and failed requests. Loopback targets only; bounded by time and/or request count.
//
//   const load = startLoad({ targets: ['http://127.0.0.1:8080'], clients: 4 });
//   … roll out …
//   const stats = await load.stop();   // { ok, failed, errors, versions, … }
import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** Base URLs (`http://127.X.Y.Z:PORT`), loopback only. */
  targets: string[];
  /** Concurrent clients per target, each with its own kept-alive connection (default 4). */
  clients?: number;
  path?: string;
  /** Pause between a client's requests (default 10 ms). */
  pauseMs?: number;
  /** Stop by itself after this long (default 120 s: a forgotten load must end). */
  maxDurationMs?: number;
  /** Stop by itself after this many requests in all. */
  maxRequests?: number;
  /** Per-request timeout (default 5 s); a timeout counts as failed. */
  timeoutMs?: number;
}

export interface LoadStats {
  ok: number;
  failed: number;
  /** Failure reasons with their counts (`ECONNRESET`, `HTTP 502`, `timeout`). */
  errors: Record<string, number>;
  /** Answers per `x-shop-version` header. */
  versions: Record<string, number>;
  /** Per target: ok and failed. */
  perTarget: Record<string, { ok: number; failed: number }>;
  durationMs: number;
}

export interface Load {
  stats: LoadStats;
  /** Resolves when the load ended by itself (duration or count). */
  done: Promise<LoadStats>;
  /** Stops the clients (after their requests in flight) and returns the final counts. */
  stop(): Promise<LoadStats>;
  /** The version of the last answer from each target, in target order. */
  lastVersions(): string[];
}

function assertLoopback(target: string): void {
  const { hostname, protocol } = new URL(target);
  if (protocol !== 'http:') throw new Error(`load target ${target}: http only`);
  const loopback = /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === 'localhost' || hostname === '[::1]';
  if (!loopback)
    throw new Error(`load target ${target} is not a loopback address: the load generator never leaves this machine`);
}

export function startLoad(opts: LoadOptions): Load {
  for (const t of opts.targets) assertLoopback(t);
  const clients = opts.clients ?? 4;
  const path = opts.path ?? '/buy';
  const pauseMs = opts.pauseMs ?? 10;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const started = Date.now();
  const deadline = started + (opts.maxDurationMs ?? 120_000);
  const stats: LoadStats = { ok: 0, failed: 0, errors: {}, versions: {}, perTarget: {}, durationMs: 0 };
  const last: string[] = opts.targets.map(() => '');
  let stopped = false;
  const agents: Agent[] = [];

  const fail = (target: string, why: string) => {
    stats.failed++;
    stats.perTarget[target].failed++;
    stats.errors[why] = (stats.errors[why] ?? 0) + 1;
  };

  const one = (agent: Agent, target: string, ti: number, user: string): Promise<void> =>
    new Promise((resolve) => {
      const url = new URL(`${path}${path.includes('?') ? '&' : '?'}user=${user}`, target);
      let settled = false;
      const done = (why?: string) => {
        if (settled) return;
        settled = true;
        if (why) fail(target, why);
        resolve();
      };
      const req = request(url, { agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
        // A connection cut mid-answer is a failed request too, even when no error event comes.
        res.on('close', () => (res.complete ? undefined : done('aborted')));
        res.on('end', () => {
          if (res.statusCode !== 200) return done(`HTTP ${res.statusCode}`);
          const version = String(res.headers['x-shop-version'] ?? '');
          stats.ok++;
          stats.perTarget[target].ok++;
          stats.versions[version] = (stats.versions[version] ?? 0) + 1;
          last[ti] = version;
          done();
        });
      });
      req.on('timeout', () => {
        req.destroy();
        done('timeout');
      });
      req.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
      req.end();
    });

  const loops: Promise<void>[] = [];
  for (const [ti, target] of opts.targets.entries()) {
    stats.perTarget[target] = { ok: 0, failed: 0 };
    for (let c = 0; c < clients; c++) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const user = `u${ti}-${c}`;
      loops.push(
        (async () => {
          while (
            !stopped &&
            Date.now() < deadline &&
            (opts.maxRequests === undefined || stats.ok + stats.failed < opts.maxRequests)
          ) {
            await one(agent, target, ti, user);
            if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
          }
        })(),
      );
    }
  }
  const done = Promise.all(loops).then(() => {
    stats.durationMs = Date.now() - started;
    for (const a of agents) a.destroy();
    return stats;
  });
  return {
    stats,
    done,
    stop: async () => {
      stopped = true;
      return done;
    },
    lastVersions: () => [...last],
  };
}

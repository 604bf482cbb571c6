// A tiny shop app exposing Prometheus text metrics (/metrics) and a JSON status (/status.json), whose
// numbers tests steer: gauges are set, counters grow at a set rate per minute (exact at each scrape).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MetricsApp {
  /** `127.0.0.1:PORT`, what `{host}` becomes. */
  host: string;
  url: string;
  setGauge(name: string, value: number): void;
  /** The counter grows by `perMinute` per minute from now on. */
  setRate(name: string, perMinute: number): void;
  /** Answer every request with this HTTP status (0 = healthy). */
  failWith(status: number): void;
  /** Also expose `name{shard="a"}` and `name{shard="b"}` so a bare selector matches several series. */
  addShards(name: string): void;
  scrapes: number;
  close(): Promise<void>;
}

interface Counter {
  base: number;
  since: number;
  perMinute: number;
}

export async function startMetricsApp(bind = '127.0.0.1'): Promise<MetricsApp> {
  const gauges = new Map<string, number>();
  const counters = new Map<string, Counter>();
  const sharded = new Set<string>();
  let status = 0;
  const counterValue = (c: Counter, now: number) => c.base + (c.perMinute * (now - c.since)) / 60_000;

  const app = {
    scrapes: 0,
  } as MetricsApp;
  const server: Server = createServer((req, res) => {
    app.scrapes++;
    if (status) {
      res.writeHead(status).end('broken on purpose');
      return;
    }
    const now = Date.now();
    if (req.url?.startsWith('/metrics')) {
      const lines: string[] = [];
      for (const [name, value] of gauges) {
        lines.push(`# HELP ${name} a gauge`, `# TYPE ${name} gauge`);
        if (sharded.has(name)) lines.push(`${name}{shard="a"} ${value}`, `${name}{shard="b"} ${value}`);
        else lines.push(`${name} ${value}`);
      }
      for (const [name, c] of counters) {
        lines.push(`# TYPE ${name} counter`, `${name} ${counterValue(c, now)}`);
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
      return;
    }
    if (req.url?.startsWith('/status.json')) {
      const doc = {
        shop: { users: { concurrent: gauges.get('shop_concurrent_users') ?? null }, name: 'demo' },
        gauges: Object.fromEntries(gauges),
        list: [{ value: gauges.get('shop_concurrent_users') ?? null }],
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, bind, resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(app, {
    host: `${bind}:${port}`,
    url: `http://${bind}:${port}`,
    setGauge: (name: string, value: number) => gauges.set(name, value),
    setRate: (name: string, perMinute: number) => {
      const now = Date.now();
      const c = counters.get(name);
      counters.set(name, { base: c ? counterValue(c, now) : 0, since: now, perMinute });
    },
    failWith: (s: number) => {
      status = s;
    },
    addShards: (name: string) => sharded.add(name),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return app;
}

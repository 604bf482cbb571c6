// A graphite-web stand-in: GET /render?target=...&format=json&from=...&until=... answers exactly as the
// render API documents: [{"target": name, "datapoints": [[value|null, unixSeconds], ...]}], one entry
// per matching series (globs with *), [] when nothing matches. from/until: -Ns, -Nmin, -Nh, now, Unix seconds.
// The behaviours are tested against the real graphite-web (test/servers/graphite-web.ts); this stand-in stays
// for the answers a real one cannot be made to give on demand: a 5xx, a body that is not JSON, JSON that is
// not a render result (see answerWith).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphiteServer {
  url: string;
  /** value(t) for a series at Unix second t; null leaves a gap. */
  setSeries(name: string, value: (t: number) => number | null): void;
  requests: URLSearchParams[];
  /** Answer every /render with this status and body instead (a broken proxy, a failing backend); null: normal. */
  answerWith(answer: { status: number; body: string } | null): void;
  close(): Promise<void>;
}

const UNITS: Record<string, number> = {
  s: 1,
  sec: 1,
  seconds: 1,
  min: 60,
  minutes: 60,
  h: 3600,
  hours: 3600,
  d: 86400,
  days: 86400,
};

function parseTime(text: string | null, now: number, fallback: number): number {
  if (!text || text === 'now') return text ? now : fallback;
  if (/^\d+$/.test(text)) return Number(text);
  const m = /^-(\d+)(s|sec|seconds|min|minutes|h|hours|d|days)$/.exec(text);
  if (!m) throw new Error(`bad time ${text}`);
  return now - Number(m[1]) * UNITS[m[2]];
}

export async function startGraphite(stepSec = 1): Promise<GraphiteServer> {
  const series = new Map<string, (t: number) => number | null>();
  const requests: URLSearchParams[] = [];
  let forced: { status: number; body: string } | null = null;
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/render' && u.pathname !== '/render/') return void res.writeHead(404).end();
    requests.push(u.searchParams);
    if (forced) return void res.writeHead(forced.status, { 'content-type': 'application/json' }).end(forced.body);
    const now = Math.floor(Date.now() / 1000);
    let from: number;
    let until: number;
    try {
      from = parseTime(u.searchParams.get('from'), now, now - 86400);
      until = parseTime(u.searchParams.get('until'), now, now);
    } catch (err) {
      return void res.writeHead(400).end(String(err));
    }
    if (u.searchParams.get('format') !== 'json')
      return void res.writeHead(400).end('this stand-in only renders format=json');
    const out: { target: string; datapoints: [number | null, number][] }[] = [];
    for (const target of u.searchParams.getAll('target')) {
      const re = new RegExp(`^${target.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`);
      for (const [name, fn] of series) {
        if (!re.test(name)) continue;
        const datapoints: [number | null, number][] = [];
        // Graphite aligns points to its step and returns the bucket that is still filling as null.
        for (let t = Math.ceil(from / stepSec) * stepSec; t <= until; t += stepSec)
          datapoints.push([t >= now ? null : fn(t), t]);
        out.push({ target: name, datapoints });
      }
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    setSeries: (name, fn) => series.set(name, fn),
    requests,
    answerWith: (answer) => (forced = answer),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

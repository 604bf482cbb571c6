// Shared by the metric-watch tests: a virtual clock, a scripted source, loopback HTTP recorders.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueryError, type MetricSource, type Readings, type SampleRequest } from '../../src/metrics/sources/types.js';

export function virtualClock(start = 1_700_000_000_000) {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    advance: (ms: number) => (t += ms),
  };
}

/** Values per rule and host at tick n (1-based); a thrown QueryError or Error passes through. */
export function scriptedSource(
  values: (rule: string, host: string, tick: number) => number | null | Error,
  history?: Record<string, number[]>,
): MetricSource & { ticks: number } {
  const seen = new Map<number, number>();
  const src = {
    ticks: 0,
    async sample(req: SampleRequest): Promise<Readings> {
      if (!seen.has(req.at)) seen.set(req.at, seen.size + 1);
      const tick = seen.get(req.at)!;
      src.ticks = Math.max(src.ticks, tick);
      const out: Readings = new Map();
      for (const host of req.hosts.length ? req.hosts : ['']) {
        const v = values(req.rule.name, host, tick);
        if (v instanceof Error) throw v;
        out.set(host, v === null ? { value: null, reason: 'scripted gap' } : { value: v });
      }
      return out;
    },
    ...(history
      ? {
          async history(req: SampleRequest) {
            return new Map((req.hosts.length ? req.hosts : ['']).map((h) => [h, history[h] ?? []]));
          },
        }
      : {}),
  };
  return src;
}

export { QueryError };

export interface RecordedRequest {
  method: string;
  url: string;
  body: string;
  json: unknown;
}

/** A loopback HTTP server that records each request and answers with `status` (webhook, PagerDuty). */
export async function recorder(status = 200, answer = 'ok') {
  const requests: RecordedRequest[] = [];
  let currentStatus = status;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown = undefined;
      try {
        json = JSON.parse(body);
      } catch {
        /* not JSON */
      }
      requests.push({ method: req.method ?? '', url: req.url ?? '', body, json });
      res.writeHead(currentStatus, { 'content-type': 'application/json' }).end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    setStatus: (s: number) => (currentStatus = s),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A loopback HTTP server that answers every request with `status` and echoes the request back in the body
 * (request line, body, headers), as some proxies do in an error. `endless` streams an answer that never
 * ends after the echo (a hostile or broken endpoint).
 */
export async function echoServer(status = 400, opts: { endless?: boolean } = {}) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.entries(req.headers)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join('\n');
      const echo = `invalid request: ${req.method} ${req.url} ${Buffer.concat(chunks).toString('utf8')}\n${headers}\n`;
      res.writeHead(status, { 'content-type': 'text/plain' });
      if (!opts.endless) return void res.end(echo);
      res.write(echo);
      const filler = 'x'.repeat(16 * 1024);
      const more = () => {
        while (!res.destroyed && res.write(filler));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Shared by the sources: read every host in parallel, turning what stayed broken after retries into no-data.
import { TransientError } from './http.js';
import { QueryError, type Reading, type Readings, type SampleRequest } from './types.js';

export async function perHost(req: SampleRequest, read: (host: string) => Promise<Reading>): Promise<Readings> {
  const keys = req.hosts.length > 0 ? req.hosts : [''];
  const results = await Promise.all(
    keys.map(async (host): Promise<[string, Reading]> => {
      try {
        return [host, await read(host)];
      } catch (err) {
        if (err instanceof QueryError)
          throw new QueryError(`rule '${req.rule.name}'${host ? ` (host ${host})` : ''}: ${err.message}`);
        if (err instanceof TransientError || (err instanceof Error && err.name === 'AbortError')) {
          return [host, { value: null, reason: `source unreachable: ${err.message}` }];
        }
        throw err;
      }
    }),
  );
  return new Map(results);
}

/** Timeout of one request: long enough for a slow server, short enough to keep the watch on its ticks. */
export function requestTimeout(intervalMs: number): number {
  return Math.max(1000, Math.min(10_000, intervalMs));
}

export function toNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw === 'string' && raw.trim() !== '') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

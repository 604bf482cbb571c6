// Any JSON endpoint: the query is a dotted path into the document (`data.users.active`, `items[0].value`).
import { expand, QueryError, type MetricSource, type Reading, type SampleRequest } from './types.js';
import { httpGet, parseJson } from './http.js';
import { perHost, requestTimeout, toNumber } from './common.js';
import { expandUrl } from './expand.js';
import type { HttpSourceOptions } from './prometheus.js';

export function parsePath(path: string): string[] {
  const parts = path
    .trim()
    .replace(/^\$\.?/, '')
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((p) => p !== '');
  if (parts.length === 0) throw new QueryError(`'${path}' is not a JSON path (e.g. data.users.active)`);
  return parts;
}

export function lookup(
  doc: unknown,
  path: string,
): { found: true; value: unknown } | { found: false; missing: string } {
  let node: unknown = doc;
  const walked: string[] = [];
  for (const key of parsePath(path)) {
    walked.push(key);
    if (node === null || typeof node !== 'object' || !(key in (node as Record<string, unknown>)))
      return { found: false, missing: walked.join('.') };
    node = (node as Record<string, unknown>)[key];
  }
  return { found: true, value: node };
}

export class HttpJsonSource implements MetricSource {
  private cache = new Map<string, Promise<unknown>>();
  constructor(private readonly opts: HttpSourceOptions) {}

  /** Rules reading the same endpoint at the same tick share one request. */
  private fetchDoc(url: string, at: number, signal?: AbortSignal): Promise<unknown> {
    const key = `${at} ${url}`;
    let doc = this.cache.get(key);
    if (!doc) {
      for (const k of this.cache.keys()) if (!k.startsWith(`${at} `)) this.cache.delete(k);
      doc = httpGet(url, {
        headers: { accept: 'application/json', ...this.opts.headers },
        timeoutMs: requestTimeout(this.opts.intervalMs),
        retries: this.opts.retries ?? 2,
        signal,
        secrets: this.opts.secrets,
      }).then(({ body }) => parseJson(body, url, this.opts.secrets));
      this.cache.set(key, doc);
    }
    return doc;
  }

  async sample(req: SampleRequest) {
    return perHost(req, async (host): Promise<Reading> => {
      const doc = await this.fetchDoc(expandUrl(this.opts.url, host), req.at, req.signal);
      const path = expand(req.rule.query, host);
      const hit = lookup(doc, path);
      if (!hit.found) return { value: null, reason: `no '${hit.missing}' in the document` };
      if (hit.value !== null && typeof hit.value === 'object') {
        throw new QueryError(
          `path '${path}' points at ${Array.isArray(hit.value) ? `a list of ${hit.value.length}` : 'an object'}, ` +
            `not a number`,
        );
      }
      const v = toNumber(hit.value);
      return v === null
        ? { value: null, reason: `'${path}' is ${JSON.stringify(hit.value)}, not a number` }
        : { value: v };
    });
  }
}

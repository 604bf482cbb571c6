// Prometheus HTTP API: /api/v1/query at each tick, /api/v1/query_range for a before:<duration> baseline.
import { QueryError, type HistoryRequest, type MetricSource, type Reading, type SampleRequest } from './types.js';
import { httpGet, parseJson, TransientError } from './http.js';
import { perHost, requestTimeout, toNumber } from './common.js';
import { expandPromQL, expandUrl } from './expand.js';
import { redact } from '../redact.js';

export interface HttpSourceOptions {
  url: string;
  headers: Record<string, string>;
  intervalMs: number;
  retries?: number;
  /** Header values and the URL's password: redacted from every answer (sourceSecrets). */
  secrets?: readonly string[];
}

interface ApiAnswer {
  status: 'success' | 'error';
  data?: { resultType: string; result: unknown };
  errorType?: string;
  error?: string;
}

type Vector = { metric: Record<string, string>; value: [number, string] }[];
type Matrix = { metric: Record<string, string>; values: [number, string][] }[];

function labels(metric: Record<string, string>): string {
  return `{${Object.entries(metric)
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;
}

export class PrometheusSource implements MetricSource {
  constructor(private readonly opts: HttpSourceOptions) {}

  private async api(path: string, params: Record<string, string>, signal?: AbortSignal): Promise<ApiAnswer['data']> {
    const base = expandUrl(this.opts.url, params.host ?? '');
    const q = new URLSearchParams(params);
    q.delete('host');
    const { body } = await httpGet(`${base}${path}?${q}`, {
      headers: this.opts.headers,
      timeoutMs: requestTimeout(this.opts.intervalMs),
      retries: this.opts.retries ?? 2,
      signal,
      secrets: this.opts.secrets,
      // Prometheus answers a bad query with 400 (bad_data) or 422 (execution) and explains it in JSON.
      acceptStatus: [400, 422],
    });
    const secrets = this.opts.secrets ?? [];
    const answer = parseJson(body, 'Prometheus', secrets) as ApiAnswer;
    if (answer.status !== 'success') {
      // What the server says may quote the request: redacted before it is kept.
      const said =
        typeof answer.error === 'string' ? redact(answer.error, secrets) : redact(body, secrets).slice(0, 200);
      const message = `Prometheus: ${answer.errorType ?? 'error'}: ${said}`;
      if (answer.errorType === 'timeout' || answer.errorType === 'unavailable' || answer.errorType === 'canceled')
        throw new TransientError(message);
      throw new QueryError(message);
    }
    return answer.data;
  }

  async sample(req: SampleRequest) {
    return perHost(req, async (host): Promise<Reading> => {
      const query = expandPromQL(req.rule.query, host);
      const data = await this.api('/api/v1/query', { query, time: (req.at / 1000).toFixed(3), host }, req.signal);
      if (!data) throw new QueryError('Prometheus answered without data');
      if (data.resultType === 'scalar') {
        const v = toNumber((data.result as [number, string])[1]);
        return v === null ? { value: null, reason: 'the query is NaN' } : { value: v };
      }
      if (data.resultType !== 'vector')
        throw new QueryError(`query '${query}' gives a ${data.resultType}; an instant vector or scalar is needed`);
      const vector = data.result as Vector;
      if (vector.length === 0) return { value: null, reason: `query '${query}' returned no series` };
      if (vector.length > 1) {
        throw new QueryError(
          `query '${query}' returned ${vector.length} series (${vector
            .slice(0, 3)
            .map((s) => labels(s.metric))
            .join(' ')}…) where one is needed; aggregate it, e.g. sum(...)`,
        );
      }
      const v = toNumber(vector[0].value[1]);
      return v === null ? { value: null, reason: `query '${query}' is ${vector[0].value[1]}` } : { value: v };
    });
  }

  async history(req: HistoryRequest) {
    const out = new Map<string, number[]>();
    // Prometheus refuses more than 11,000 points per series.
    const stepSec = Math.max(req.stepMs / 1000, (req.end - req.start) / 1000 / 10_000, 1);
    for (const host of req.hosts.length > 0 ? req.hosts : ['']) {
      const query = expandPromQL(req.rule.query, host);
      const data = await this.api(
        '/api/v1/query_range',
        { query, start: (req.start / 1000).toFixed(3), end: (req.end / 1000).toFixed(3), step: `${stepSec}`, host },
        req.signal,
      );
      const matrix = (data?.result ?? []) as Matrix;
      if (matrix.length > 1)
        throw new QueryError(
          `rule '${req.rule.name}': query '${query}' returned ${matrix.length} series for the baseline ` +
            `where one is needed`,
        );
      out.set(
        host,
        (matrix[0]?.values ?? []).map(([, v]) => toNumber(v)).filter((v): v is number => v !== null),
      );
    }
    return out;
  }
}

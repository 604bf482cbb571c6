// Graphite render API with format=json: [{"target": ..., "datapoints": [[value|null, unixSeconds], ...]}].
import {
  expand,
  QueryError,
  type HistoryRequest,
  type MetricSource,
  type Reading,
  type SampleRequest,
} from './types.js';
import { httpGet, parseJson } from './http.js';
import { perHost, requestTimeout, toNumber } from './common.js';
import { expandUrl } from './expand.js';
import type { HttpSourceOptions } from './prometheus.js';

type RenderSeries = { target: string; datapoints: [number | null, number][] };

export class GraphiteSource implements MetricSource {
  constructor(private readonly opts: HttpSourceOptions) {}

  private async render(
    target: string,
    host: string,
    from: string,
    until: string,
    signal?: AbortSignal,
  ): Promise<RenderSeries[]> {
    const q = new URLSearchParams({ target, format: 'json', from, until });
    const { body } = await httpGet(`${expandUrl(this.opts.url, host)}/render?${q}`, {
      headers: this.opts.headers,
      timeoutMs: requestTimeout(this.opts.intervalMs),
      retries: this.opts.retries ?? 2,
      signal,
      secrets: this.opts.secrets,
    });
    const doc = parseJson(body, 'Graphite', this.opts.secrets);
    if (!Array.isArray(doc) || doc.some((s) => !s || !Array.isArray((s as RenderSeries).datapoints))) {
      throw new QueryError('Graphite answered with JSON that is not a render result (a list of {target, datapoints})');
    }
    return doc as RenderSeries[];
  }

  private one(series: RenderSeries[], target: string): RenderSeries | undefined {
    if (series.length > 1) {
      throw new QueryError(
        `target '${target}' returned ${series.length} series (${series
          .slice(0, 3)
          .map((s) => s.target)
          .join(', ')}…) where one is needed; aggregate it, e.g. sumSeries(...)`,
      );
    }
    return series[0];
  }

  async sample(req: SampleRequest) {
    // Graphite stores points at its own resolution (often 10-60 s): take the newest non-null point of a window.
    const lookbackSec = Math.max(60, Math.ceil((3 * this.opts.intervalMs) / 1000));
    return perHost(req, async (host): Promise<Reading> => {
      const target = expand(req.rule.query, host);
      const series = this.one(await this.render(target, host, `-${lookbackSec}s`, 'now', req.signal), target);
      const points = (series?.datapoints ?? []).filter(([v]) => toNumber(v) !== null);
      if (points.length === 0)
        return { value: null, reason: `target '${target}' has no points in the last ${lookbackSec}s` };
      return { value: toNumber(points[points.length - 1][0])! };
    });
  }

  async history(req: HistoryRequest) {
    const out = new Map<string, number[]>();
    for (const host of req.hosts.length > 0 ? req.hosts : ['']) {
      const target = expand(req.rule.query, host);
      // Graphite takes absolute times as Unix seconds.
      const series = this.one(
        await this.render(target, host, `${Math.floor(req.start / 1000)}`, `${Math.ceil(req.end / 1000)}`, req.signal),
        target,
      );
      out.set(
        host,
        (series?.datapoints ?? []).map(([v]) => toNumber(v)).filter((v): v is number => v !== null),
      );
    }
    return out;
  }
}

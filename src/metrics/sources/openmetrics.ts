// Scrapes a text exposition endpoint per host directly (no monitoring server); counters become per-minute rates.
import { evaluateSelector, parseExposition, parseSelector, type Scrape, type Selector } from '../exposition.js';
import { QueryError, type MetricSource, type Reading, type SampleRequest } from './types.js';
import { httpGet } from './http.js';
import { redactUrl } from '../../common/url.js';
import { perHost, requestTimeout } from './common.js';
import { expandPromQL, expandUrl } from './expand.js';
import { redact } from '../redact.js';
import type { HttpSourceOptions } from './prometheus.js';
import { errorMessage } from '../../common/errors.js';

const ACCEPT = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

interface ScrapeState {
  tick: number;
  result: Promise<{ current: Scrape; previous?: Scrape }>;
  lastGood?: Scrape;
}

export class OpenMetricsSource implements MetricSource {
  private scrapes = new Map<string, ScrapeState>();
  private selectors = new Map<string, Selector>();

  constructor(
    private readonly opts: HttpSourceOptions,
    private readonly now: () => number = Date.now,
  ) {}

  private selector(query: string): Selector {
    let sel = this.selectors.get(query);
    if (!sel) {
      try {
        sel = parseSelector(query);
      } catch (err) {
        throw new QueryError(errorMessage(err));
      }
      this.selectors.set(query, sel);
    }
    return sel;
  }

  private async fetch(url: string, signal?: AbortSignal): Promise<Scrape> {
    const { body } = await httpGet(url, {
      headers: { accept: ACCEPT, ...this.opts.headers },
      timeoutMs: requestTimeout(this.opts.intervalMs),
      retries: this.opts.retries ?? 2,
      signal,
      secrets: this.opts.secrets,
    });
    try {
      return { at: this.now(), exposition: parseExposition(body) };
    } catch (err) {
      throw new QueryError(
        `${redactUrl(url)} is not a text exposition: ${redact(errorMessage(err), this.opts.secrets ?? [])}`,
      );
    }
  }

  /**
   * One scrape per endpoint and tick, whatever the number of rules. Ticks run one after another, so the
   * previous tick's scrape has finished; a failed scrape keeps the last good one as the rate's reference.
   */
  private scrape(url: string, tick: number, signal?: AbortSignal): Promise<{ current: Scrape; previous?: Scrape }> {
    const state = this.scrapes.get(url);
    if (state && state.tick === tick) return state.result;
    const next: ScrapeState = { tick, lastGood: state?.lastGood, result: Promise.resolve({} as { current: Scrape }) };
    const previous = state?.lastGood;
    next.result = this.fetch(url, signal).then((current) => {
      next.lastGood = current;
      return { current, previous };
    });
    this.scrapes.set(url, next);
    return next.result;
  }

  async prime(req: SampleRequest): Promise<void> {
    this.selector(req.rule.query);
    await perHost(req, async (host) => {
      await this.scrape(expandUrl(this.opts.url, host), req.at, req.signal);
      return { value: null, reason: 'priming' };
    });
  }

  async sample(req: SampleRequest) {
    return perHost(req, async (host): Promise<Reading> => {
      const sel = this.selector(expandPromQL(req.rule.query, host));
      const { current, previous } = await this.scrape(expandUrl(this.opts.url, host), req.at, req.signal);
      const result = evaluateSelector(sel, current, previous);
      if (result.kind === 'value') return { value: result.value };
      if (result.kind === 'no-data') return { value: null, reason: result.reason };
      throw new QueryError(
        `'${req.rule.query}' matches ${result.series.length} series (${result.series.slice(0, 3).join(' ')}…) ` +
          `where one is needed; narrow it with labels or wrap it in sum(...)`,
      );
    });
  }
}

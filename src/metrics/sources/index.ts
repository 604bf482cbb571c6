// Picks the source provider named by the `source` input.
import type { WatchSettings } from '../settings.js';
import { GraphiteSource } from './graphite.js';
import { HttpJsonSource } from './http-json.js';
import { OpenMetricsSource } from './openmetrics.js';
import { PrometheusSource } from './prometheus.js';
import type { MetricSource } from './types.js';

export function createSource(settings: WatchSettings, now: () => number = Date.now): MetricSource {
  const opts = { url: settings.url, headers: settings.headers, intervalMs: settings.intervalMs };
  switch (settings.source) {
    case 'prometheus':
      return new PrometheusSource(opts);
    case 'graphite':
      return new GraphiteSource(opts);
    case 'openmetrics':
      return new OpenMetricsSource(opts, now);
    case 'http-json':
      return new HttpJsonSource(opts);
  }
}

export { QueryError, type MetricSource, type Reading, type Readings } from './types.js';

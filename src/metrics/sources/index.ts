// Picks the source provider named by the `source` input.
import type { WatchSettings } from '../types.js';
import { GraphiteSource } from './graphite.js';
import { HttpJsonSource } from './http-json.js';
import { OpenMetricsSource } from './openmetrics.js';
import { PrometheusSource } from './prometheus.js';
import { ReplaySource } from './replay.js';
import type { MetricSource } from './types.js';
import { sourceSecrets } from '../redact.js';

export function createSource(settings: WatchSettings, now: () => number = Date.now): MetricSource {
  const opts = {
    url: settings.url,
    headers: settings.headers,
    intervalMs: settings.intervalMs,
    secrets: sourceSecrets(settings),
  };
  switch (settings.source) {
    case 'prometheus':
      return new PrometheusSource(opts);
    case 'graphite':
      return new GraphiteSource(opts);
    case 'openmetrics':
      return new OpenMetricsSource(opts, now);
    case 'http-json':
      return new HttpJsonSource(opts);
    case 'replay':
      // settings.url is the path of the report or recording; its own clock replaces `now`, on the settings'
      // interval when given (0: the recorded one).
      return new ReplaySource(settings.url, settings.intervalMs);
  }
}

export { QueryError, type MetricSource, type Reading, type Readings } from './types.js';

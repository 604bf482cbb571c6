// metric-watch's logic behind the entry: settings → watch → outputs, report file and summary text.
import type { ActionResult } from '../common/action.js';
import type { InputSource } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { readContext } from '../github/context.js';
import { sendAlerts } from './alerts/index.js';
import { summaryMarkdown, writeReport } from './report.js';
import { failsStep } from './rules.js';
import { maskWatchSecrets, parseWatchSettings } from './settings.js';
import type { AlertContext } from './types.js';
import { runWatch, type WatchOptions } from './watch.js';

export interface MetricWatchDeps {
  /** Hides a secret in the log (core.setSecret in the entry). */
  mask?: (secret: string) => void;
  env?: NodeJS.ProcessEnv;
  watch?: Partial<WatchOptions>;
  /** Repository and run link for alerts; default: read from the runner's environment. */
  context?: AlertContext;
}

export async function metricWatchAction(
  inputs: InputSource,
  logger: Logger,
  deps: MetricWatchDeps = {},
): Promise<ActionResult & { summary: string }> {
  if (deps.mask) maskWatchSecrets(inputs, deps.mask);
  const settings = parseWatchSettings(inputs, { env: deps.env });
  // A cancelled job ends the watch at once, still with a verdict and a report.
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await runWatch(settings, { logger, signal: controller.signal, ...deps.watch });
    const ctx = deps.context ?? (({ repository, runUrl }) => ({ repository, runUrl }))(readContext(deps.env));
    // A replay judges the past: it must never page anyone about it.
    if (settings.source === 'replay') logger.info('source replay: no alerts are sent for a replayed watch');
    else result.alertWarnings = await sendAlerts(result, settings, ctx, logger);
    const report = writeReport(result, deps.env);
    const failing = failsStep(result.verdict, settings.failOn);
    return {
      outputs: { verdict: result.verdict, breaches: result.breaches, report },
      ...(failing ? { failure: `metric-watch verdict ${result.verdict}: ${result.detail}` } : {}),
      summary: summaryMarkdown(result),
    };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

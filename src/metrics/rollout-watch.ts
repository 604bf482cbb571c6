// ssh-rollout's `watch` input: the same settings parser and watch loop, with each wave's hosts as canaries.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { InputError, objectInputs } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { parseWatchSettings, type WatchSettings } from './settings.js';
import { hostName, runWatch, type WatchOptions, type WatchResult } from './watch.js';

/**
 * Parses the `watch` YAML mapping (the same keys as metric-watch's inputs). Lists and mappings
 * (`rules`, `hosts`) may be written as YAML structures or as strings. Errors name `watch` and the key.
 */
export function parseRolloutWatch(yamlText: string, env: NodeJS.ProcessEnv = process.env): WatchSettings {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new InputError('watch', `is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError('watch', 'must be a YAML mapping with the keys of metric-watch (url, rules, ...)');
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && key !== 'rules') values[key] = value.map(String).join('\n');
    else values[key] = typeof value === 'object' ? stringifyYaml(value) : String(value);
  }
  try {
    return parseWatchSettings(objectInputs(values), { env, hostsAtRunTime: true });
  } catch (err) {
    if (err instanceof InputError) throw new InputError('watch', `${err.input}: ${err.message.replace(/^input '[^']*': /, '')}`);
    throw err;
  }
}

export interface RolloutWatchOptions {
  logger: Logger;
  /** Every host of the rollout (`host:port` or names); their names are the metric hosts when the YAML lists none. */
  allHosts: string[];
  /** Alerts from a bake are off by default: the rollout reverts, auto-revert reports. */
  alerts?: boolean;
  onResult?: (result: WatchResult) => void;
  extra?: Partial<WatchOptions>;
}

/**
 * The function ssh-rollout calls during each bake: the wave's hosts are the canaries, the bake time is
 * the duration. Its result has `verdict` and `detail`, the shape of the rollout's WatchOutcome.
 */
export function createRolloutWatch(settings: WatchSettings, options: RolloutWatchOptions) {
  return async (waveHosts: readonly (string | { host: string; port?: number })[], durationMs: number, signal?: AbortSignal): Promise<WatchResult> => {
    // SSH ports mean nothing to a metrics endpoint: `{host}` gets the host name (`http://{host}:9100/metrics`).
    const canaryHosts = [...new Set(waveHosts.map((h) => hostName(typeof h === 'string' ? h : h.host)))];
    const hosts = [...new Set(options.allHosts.map(hostName))];
    const result = await runWatch(settings, {
      logger: options.logger,
      canaryHosts,
      hosts,
      durationMs: Math.max(durationMs, settings.intervalMs),
      signal,
      alerts: options.alerts ?? false,
      ...options.extra,
    });
    options.onResult?.(result);
    return result;
  };
}

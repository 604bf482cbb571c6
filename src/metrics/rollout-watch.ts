// ssh-rollout's `watch` input: the same settings parser and watch loop, with each wave's hosts as canaries.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatDurationInput } from '../common/format.js';
import { InputError, objectInputs } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { WATCH_INPUTS, maskWatchSecrets, parseWatchSettings } from './settings.js';
import type { WatchResult, WatchSettings } from './types.js';
import { JUDGE_MINIMUM } from './judge.js';
import { hostName, ownHistoryMs, runWatch, type PriorReadings, type WatchOptions } from './watch.js';

/**
 * Parses the `watch` YAML mapping (the same keys as metric-watch's inputs). Lists and mappings
 * (`rules`, `hosts`) may be written as YAML structures or as strings. Errors name `watch` and the key.
 */
export function parseRolloutWatch(
  yamlText: string,
  env: NodeJS.ProcessEnv = process.env,
  mask?: (secret: string) => void,
): WatchSettings {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new InputError(
      'watch',
      `is not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new InputError('watch', 'must be a YAML mapping with the keys of metric-watch (url, rules, ...)');
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    // A misspelt key would otherwise be a gate that silently checks less than it says.
    if (!(WATCH_INPUTS as readonly string[]).includes(key)) {
      const near = closest(key, WATCH_INPUTS);
      throw new InputError(
        'watch',
        `unknown key '${key}'${near ? ` (did you mean '${near}'?)` : ''}; the keys are metric-watch's ` +
          `inputs: ${WATCH_INPUTS.join(', ')}`,
      );
    }
    if (value === null || value === undefined) continue;
    if (Array.isArray(value) && key !== 'rules') values[key] = value.map(String).join('\n');
    else values[key] = typeof value === 'object' ? stringifyYaml(value) : String(value);
  }
  // The watch's secrets (routing key, webhook, SMTP password, headers) are masked as metric-watch masks its own.
  if (mask) maskWatchSecrets(objectInputs(values), mask);
  try {
    return parseWatchSettings(objectInputs(values), { env, hostsAtRunTime: true });
  } catch (err) {
    if (err instanceof InputError)
      throw new InputError('watch', `${err.input}: ${err.message.replace(/^input '[^']*': /, '')}`);
    throw err;
  }
}

/** The known word within two edits of `word`, if any (a typo's likely intent). */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: { w: string; d: number } | undefined;
  for (const w of known) {
    const d = editDistance(word.toLowerCase(), w);
    if (d <= 2 && (!best || d < best.d)) best = { w, d };
  }
  return best?.w;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

export interface RolloutWatchOptions {
  logger: Logger;
  /** Every host of the rollout (`host:port` or names); their names are the metric hosts when the YAML lists none. */
  allHosts: string[];
  onResult?: (result: WatchResult) => void;
  extra?: Partial<WatchOptions>;
}

/** What the rollout knows during a bake beyond the wave's hosts. */
export interface BakeContext {
  /** Each host's share of requests at the balancer over a reading's window (canary-weight). */
  trafficShares?: WatchOptions['trafficShares'];
  /** How many bakes the rollout plans: the judge's false-fail budget is split over them. */
  bakes?: number;
}

/**
 * The function ssh-rollout calls during each bake: the wave's hosts are the canaries, the bake time is
 * the duration. With `baseline: hosts` the baseline is the hosts still on the previous release, never
 * hosts switched in an earlier wave; the last wave, which has none left, is compared with its own
 * readings from the bake before it (or, with no earlier bake, the source's history over one bake time).
 * Its result has `verdict` and `detail`, the shape of the rollout's WatchOutcome.
 */
export function createRolloutWatch(settings: WatchSettings, options: RolloutWatchOptions) {
  const memory: BakeMemory = {
    hosts: [...new Set(options.allHosts.map(hostName))],
    switched: new Set<string>(),
    earlier: new Map<string, PriorReadings>(),
  };
  return async (
    waveHosts: readonly (string | { host: string; port?: number })[],
    durationMs: number,
    signal?: AbortSignal,
    bake: BakeContext = {},
  ): Promise<WatchResult> => {
    // SSH ports mean nothing to a metrics endpoint: `{host}` gets the host name (`http://{host}:9100/metrics`).
    const canaryHosts = [...new Set(waveHosts.map((h) => hostName(typeof h === 'string' ? h : h.host)))];
    const baseline = bakeBaseline(settings, memory, canaryHosts, durationMs, options.logger);
    const result = await runWatch(baseline.settings, {
      logger: options.logger,
      canaryHosts,
      hosts: memory.hosts,
      ...(baseline.hosts ? { baselineHosts: baseline.hosts } : {}),
      ...(baseline.prior ? { priorReadings: baseline.prior } : {}),
      ...(baseline.before ? { hostsBefore: baseline.before } : {}),
      ...(bake.bakes ? { bakes: bake.bakes } : {}),
      ...(bake.trafficShares ? { trafficShares: byHostName(bake.trafficShares) } : {}),
      durationMs: Math.max(durationMs, settings.intervalMs),
      signal,
      ...options.extra,
    });
    remember(memory.earlier, result);
    for (const h of canaryHosts) memory.switched.add(h);
    options.onResult?.(result);
    return result;
  };
}

/** What a rollout's watch carries from one bake to the next. */
interface BakeMemory {
  /** Every host of the rollout, by host name. */
  hosts: string[];
  /** The hosts of the waves baked so far: on the new release, so never a baseline. */
  switched: Set<string>;
  // rule → host → that host's readings from the latest bake in which it was a baseline host.
  earlier: Map<string, PriorReadings>;
}

/** A bake's baseline: the settings to watch with, and the baseline hosts or earlier readings they compare with. */
interface BakeBaseline {
  settings: WatchSettings;
  hosts?: string[];
  prior?: Map<string, PriorReadings>;
  /** Too few baseline hosts: every host's readings from an earlier bake, for a difference in differences. */
  before?: Map<string, PriorReadings>;
}

/**
 * With `baseline: hosts`: the hosts still on the previous release; with none left, the wave's own readings
 * from an earlier bake, or else the source's history (prometheus and graphite keep one).
 */
function bakeBaseline(
  settings: WatchSettings,
  memory: BakeMemory,
  canaryHosts: string[],
  durationMs: number,
  logger: Logger,
): BakeBaseline {
  const pool = settings.hosts.length > 0 ? settings.hosts : memory.hosts;
  const baselineHosts = pool.filter((h) => !memory.switched.has(hostName(h)) && !canaryHosts.includes(hostName(h)));
  const byHosts = settings.baseline.kind === 'hosts';
  const prior = byHosts && baselineHosts.length === 0 ? priorFor(memory.earlier, canaryHosts) : undefined;
  const historyInstead =
    byHosts &&
    baselineHosts.length === 0 &&
    !prior &&
    (settings.source === 'prometheus' || settings.source === 'graphite');
  const few = byHosts && baselineHosts.length > 0 && baselineHosts.length < JUDGE_MINIMUM.baselineHosts;
  const before = few ? priorFor(memory.earlier, [...canaryHosts, ...baselineHosts.map(hostName)]) : undefined;
  if (!historyInstead) return { settings, ...(byHosts ? { hosts: baselineHosts } : {}), prior, before };
  const windowMs = ownHistoryMs(durationMs, settings.intervalMs);
  const readings = `its own readings over the ${formatDurationInput(windowMs)} before`;
  logger.info(`No host is left on the previous release: the wave is compared with ${readings}`);
  return { settings: { ...settings, baseline: { kind: 'before', windowMs } } };
}

/** The balancer names hosts by SSH id (`host:port`); metrics by host name. */
function byHostName(shares: NonNullable<BakeContext['trafficShares']>): NonNullable<BakeContext['trafficShares']> {
  return async (window) => {
    const byId = await shares(window);
    if (!byId) return null;
    const out = new Map<string, number>();
    for (const [id, share] of byId) out.set(hostName(id), (out.get(hostName(id)) ?? 0) + share);
    return out;
  };
}

function priorFor(earlier: Map<string, PriorReadings>, canaryHosts: string[]): Map<string, PriorReadings> | undefined {
  const out = new Map<string, PriorReadings>();
  for (const [rule, perHost] of earlier) {
    const mine: PriorReadings = new Map([...perHost].filter(([h]) => canaryHosts.includes(hostName(h))));
    if (mine.size > 0) out.set(rule, mine);
  }
  return out.size > 0 ? out : undefined;
}

/** Keeps each baseline host's readings from this bake, for a later wave with no baseline host left. */
function remember(earlier: Map<string, PriorReadings>, result: WatchResult): void {
  for (const r of result.rules) {
    const perHost = earlier.get(r.name) ?? new Map();
    const fresh = new Map<string, { t: number; value: number }[]>();
    for (const o of r.baselineSamples) {
      if (o.value === null || !Number.isFinite(o.value)) continue;
      const xs = fresh.get(o.host);
      if (xs) xs.push({ t: o.t, value: o.value });
      else fresh.set(o.host, [{ t: o.t, value: o.value }]);
    }
    for (const [h, xs] of fresh) perHost.set(h, xs);
    earlier.set(r.name, perHost);
  }
}

// The watch loop: sample every rule at each interval, feed the pure core, stop early on a hard failure,
// then compare canaries with the baseline and alert. One implementation for metric-watch and ssh-rollout.
import type { Logger } from '../common/logger.js';
import { readContext } from '../github/context.js';
import { sendAlerts, type AlertContext } from './alerts/index.js';
import {
  advanceRule,
  failRule,
  fmt,
  initialRuleState,
  overallVerdict,
  ruleOutcome,
  type Breach,
  type Observation,
  type RecordedSample,
  type RuleOutcome,
  type RuleState,
} from './rules.js';
import type { Rule, Verdict, WatchSettings } from './settings.js';
import { createSource } from './sources/index.js';
import { redact } from './sources/http.js';
import { QueryError, type MetricSource, type Readings } from './sources/types.js';
import { mannWhitney, mean, median, type MannWhitneyResult } from './stats.js';

export interface WatchOptions {
  logger: Logger;
  /** Hosts running the new release; overrides the `canary-hosts` setting (ssh-rollout: the wave's hosts). */
  canaryHosts?: string[];
  /** Hosts to read when the settings name none (ssh-rollout: every host of the rollout). */
  hosts?: string[];
  /** The baseline of `baseline: hosts`; default: the hosts that are not canaries. */
  baselineHosts?: string[];
  /** Overrides the `duration` setting (ssh-rollout: the bake time). */
  durationMs?: number;
  /** Ends the watch at the next instant; the verdict is made from the samples so far. */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A ready source (tests); default: the provider the settings name. */
  source?: MetricSource;
  /** Repository and run link for alerts; default: read from the runner's environment. */
  context?: AlertContext;
  /** Send the configured alerts (default true). */
  alerts?: boolean;
}

export interface RuleReport {
  name: string;
  query: string;
  verdict: Verdict;
  reason: string;
  rule: Rule;
  /** Baseline value per host key ('' for a query that is not per host), for before:<duration>. */
  baselineValues?: Record<string, number | null>;
  comparison?: MannWhitneyResult;
  breach?: Breach;
  samples: RecordedSample[];
  /** Readings of the baseline hosts (baseline: hosts), which are compared with, not judged. */
  baselineSamples: Observation[];
}

export interface WatchResult {
  verdict: Verdict;
  /** One line: why, for logs and ssh-rollout's bake record. */
  detail: string;
  breaches: Breach[];
  rules: RuleReport[];
  /** Why the watch ended before its duration ('' when it ran to the end). */
  endedEarly: string;
  startedAt: string;
  endedAt: string;
  ticks: number;
  hosts: { canary: string[]; baseline: string[]; all: string[] };
  /** Alert channels that failed: warnings, never a changed verdict. */
  alertWarnings: string[];
  settings: {
    source: string;
    url: string;
    baseline: string;
    durationMs: number;
    intervalMs: number;
    failOn: string;
    environment: string;
  };
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** `web1`, `web1:9100`, `deploy@web1:22`, `[::1]:22` → the host name, for matching canaries to metric hosts. */
export function hostName(host: string): string {
  let h = host.trim().replace(/^[a-z]+:\/\//i, '');
  h = h.slice(h.lastIndexOf('@') + 1);
  const v6 = /^\[([^\]]+)\]/.exec(h);
  if (v6) return v6[1];
  return h.split(/[:/]/)[0];
}

/** A metric host is a canary when it equals a canary entry or has the same host name (ports may differ). */
export function matchHosts(all: readonly string[], wanted: readonly string[]): string[] {
  const exact = new Set(wanted);
  const names = new Set(wanted.map(hostName));
  return all.filter((h) => exact.has(h) || names.has(hostName(h)));
}

function usesHost(settings: WatchSettings, rule: Rule): boolean {
  return settings.url.includes('{host}') || rule.query.includes('{host}');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runWatch(settings: WatchSettings, options: WatchOptions): Promise<WatchResult> {
  const { logger, signal } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const source = options.source ?? createSource(settings, now);
  const durationMs = options.durationMs ?? settings.durationMs;

  // Which hosts are read, judged and compared with.
  const canaryWanted = options.canaryHosts ?? settings.canaryHosts;
  const all = [...(settings.hosts.length > 0 ? settings.hosts : (options.hosts ?? []))];
  for (const c of canaryWanted) if (matchHosts(all, [c]).length === 0) all.push(c);
  const canary = matchHosts(all, canaryWanted);
  const baselineHosts = options.baselineHosts ? matchHosts(all, options.baselineHosts) : all.filter((h) => !canary.includes(h));
  const judged = canary.length > 0 ? canary : all;
  const hostsBaseline = settings.baseline.kind === 'hosts';
  if (hostsBaseline && canary.length === 0) throw new Error("baseline 'hosts' needs canary hosts (canary-hosts, or the wave's hosts in ssh-rollout)");
  if (hostsBaseline && baselineHosts.length === 0) {
    logger.warning('baseline hosts: every host is a canary, so relative bounds are skipped and only absolute bounds apply');
  }
  const readFor = (rule: Rule) => (usesHost(settings, rule) ? [...new Set([...judged, ...(hostsBaseline ? baselineHosts : [])])] : []);

  const states = new Map<string, RuleState>(settings.rules.map((r) => [r.name, initialRuleState()]));
  const baselineValues = new Map<string, Map<string, number | null>>();
  const baselineHistory = new Map<string, number[]>();
  const baselineSamples = new Map<string, Observation[]>(settings.rules.map((r) => [r.name, []]));
  const fail = (rule: Rule, err: unknown) => {
    const message = errorText(err);
    logger.error(message);
    states.set(rule.name, failRule(states.get(rule.name)!, message));
  };
  const isQueryError = (err: unknown) => err instanceof QueryError;

  const t0 = now();
  const startedAt = new Date(t0).toISOString();
  logger.info(
    `Watching ${settings.rules.length} rule(s) on ${settings.source} ${redact(settings.url)} for ${durationMs / 1000}s every ${settings.intervalMs / 1000}s` +
      (canary.length ? `; canaries: ${canary.join(', ')}` : '') +
      (hostsBaseline ? `; baseline hosts: ${baselineHosts.join(', ') || 'none'}` : ''),
  );

  // Counter rates need a first scrape to measure against.
  if (source.prime) {
    await Promise.all(
      settings.rules.map((rule) =>
        source.prime!({ rule, hosts: readFor(rule), at: t0, signal }).catch((err) => {
          if (isQueryError(err)) fail(rule, err);
          else logger.warning(`rule '${rule.name}': first scrape failed: ${errorText(err)}`);
        }),
      ),
    );
  }

  if (settings.baseline.kind === 'before') {
    const windowMs = settings.baseline.windowMs;
    for (const rule of settings.rules) {
      if (!(rule.maxDrop || rule.maxRise || rule.compare) || states.get(rule.name)!.error) continue;
      if (!source.history) throw new Error(`source ${settings.source} keeps no history for baseline before:`);
      try {
        const history = await source.history({ rule, hosts: readFor(rule), at: t0, start: t0 - windowMs, end: t0, stepMs: settings.intervalMs, signal });
        const perHost = new Map<string, number | null>();
        const pooled: number[] = [];
        for (const [host, values] of history) {
          perHost.set(host, values.length ? median(values) : null);
          pooled.push(...values);
        }
        baselineValues.set(rule.name, perHost);
        baselineHistory.set(rule.name, pooled);
        logger.info(`rule '${rule.name}': baseline over the ${windowMs / 1000}s before: ${[...perHost].map(([h, v]) => `${h ? `${h} ` : ''}${fmt(v)}`).join(', ')} (median of ${pooled.length} points)`);
      } catch (err) {
        if (isQueryError(err)) fail(rule, err);
        else {
          logger.warning(`rule '${rule.name}': baseline query failed: ${errorText(err)}`);
          baselineValues.set(rule.name, new Map());
        }
      }
    }
  }

  const baselineFor = (rule: Rule, host: string, readings: Readings): number | null | undefined => {
    if (settings.baseline.kind === 'before') {
      if (!(rule.maxDrop || rule.maxRise || rule.compare)) return undefined;
      return baselineValues.get(rule.name)?.get(host) ?? null;
    }
    if (settings.baseline.kind === 'hosts') {
      if (baselineHosts.length === 0) return undefined;
      const values = baselineHosts.map((h) => readings.get(h)?.value).filter((v): v is number => typeof v === 'number');
      return values.length ? mean(values) : null;
    }
    return undefined;
  };

  const ticks = Math.max(1, Math.floor(durationMs / settings.intervalMs));
  let endedEarly = '';
  let tick = 0;
  for (tick = 1; tick <= ticks; tick++) {
    const target = t0 + tick * settings.intervalMs;
    const wait = target - now();
    if (wait > 0) await sleep(wait, signal);
    if (signal?.aborted) {
      endedEarly = 'aborted';
      tick--;
      break;
    }
    const at = now();
    const active = settings.rules.filter((r) => !states.get(r.name)!.error);
    await Promise.all(
      active.map(async (rule) => {
        let readings: Readings;
        try {
          readings = await source.sample({ rule, hosts: readFor(rule), at, signal });
        } catch (err) {
          if (isQueryError(err)) return fail(rule, err);
          readings = new Map((readFor(rule).length ? readFor(rule) : ['']).map((h) => [h, { value: null, reason: `source error: ${errorText(err)}` }]));
        }
        const keys = usesHost(settings, rule) ? judged : [''];
        const observations: Observation[] = keys.map((host) => {
          const r = readings.get(host) ?? { value: null, reason: 'not read' };
          const baseline = baselineFor(rule, host, readings);
          return { t: at, host, value: r.value, ...(baseline !== undefined ? { baseline } : {}), ...(r.value === null ? { reason: r.reason } : {}) };
        });
        if (hostsBaseline && usesHost(settings, rule)) {
          for (const h of baselineHosts) {
            const r = readings.get(h)!;
            baselineSamples.get(rule.name)!.push({ t: at, host: h, value: r?.value ?? null, ...(r && r.value === null ? { reason: r.reason } : {}) });
          }
        }
        const next = advanceRule(rule, states.get(rule.name)!, observations);
        states.set(rule.name, next);
        const line = next.samples
          .slice(-observations.length)
          .map((s) => `${s.host ? `${s.host}=` : ''}${s.value === null ? `no data (${s.reason})` : fmt(s.value)}${s.baseline !== undefined ? ` vs ${fmt(s.baseline)}` : ''}${s.state === 'breach' ? ` BREACH ${s.check} ${fmt(s.bound)}` : ''}`)
          .join(', ');
        logger.info(`[${tick}/${ticks}] ${rule.name}: ${line}`);
      }),
    );
    const hard = settings.rules.find((r) => states.get(r.name)!.hardFail || states.get(r.name)!.error);
    if (hard) {
      const st = states.get(hard.name)!;
      endedEarly = st.error ? `rule '${hard.name}' cannot be evaluated` : `rule '${hard.name}' failed: ${st.hardFail!.detail}`;
      logger.info(`Ending the watch early: ${endedEarly}`);
      break;
    }
  }

  const at = now();
  const reports: RuleReport[] = settings.rules.map((rule) => {
    const state = states.get(rule.name)!;
    let comparison: MannWhitneyResult | undefined;
    const canaryValues = state.samples.map((s) => s.value).filter((v): v is number => v !== null);
    const baseValues =
      settings.baseline.kind === 'hosts'
        ? baselineSamples.get(rule.name)!.map((s) => s.value).filter((v): v is number => v !== null)
        : settings.baseline.kind === 'before' && rule.compare
          ? (baselineHistory.get(rule.name) ?? [])
          : [];
    if (canaryValues.length > 0 && baseValues.length > 0) comparison = mannWhitney(canaryValues, baseValues, rule.confidence);
    const outcome: RuleOutcome = ruleOutcome(rule, state, comparison, at);
    const bv = baselineValues.get(rule.name);
    return {
      name: rule.name,
      query: rule.query,
      verdict: outcome.verdict,
      reason: outcome.reason,
      rule,
      ...(bv ? { baselineValues: Object.fromEntries(bv) } : {}),
      ...(comparison ? { comparison } : {}),
      ...(outcome.breach ? { breach: outcome.breach } : {}),
      samples: state.samples,
      baselineSamples: baselineSamples.get(rule.name)!,
    };
  });
  const verdict = overallVerdict(reports);
  const breaches = reports.flatMap((r) => (r.breach ? [r.breach] : []));
  const notPassing = reports.filter((r) => r.verdict !== 'pass');
  const detail = notPassing.length === 0 ? `all ${reports.length} rule(s) passed` : notPassing.map((r) => `${r.name}: ${r.verdict}: ${r.reason}`).join('; ');
  for (const r of reports) {
    const cmp = r.comparison ? ` [mann-whitney p=${r.comparison.p.toPrecision(3)}, shift ${fmt(r.comparison.shift)}]` : '';
    logger.info(`${r.verdict.toUpperCase()} ${r.name}: ${r.reason}${cmp}`);
  }
  logger.info(`Verdict: ${verdict}`);

  const result: WatchResult = {
    verdict,
    detail,
    breaches,
    rules: reports,
    endedEarly,
    startedAt,
    endedAt: new Date(at).toISOString(),
    ticks: Math.min(tick, ticks),
    hosts: { canary, baseline: hostsBaseline ? baselineHosts : [], all },
    alertWarnings: [],
    settings: {
      source: settings.source,
      url: redact(settings.url),
      baseline: settings.baseline.kind === 'before' ? `before:${settings.baseline.windowMs / 1000}s` : settings.baseline.kind,
      durationMs,
      intervalMs: settings.intervalMs,
      failOn: settings.failOn,
      environment: settings.environment,
    },
  };
  if (options.alerts !== false) {
    const ctx = options.context ?? (({ repository, runUrl }) => ({ repository, runUrl }))(readContext());
    result.alertWarnings = await sendAlerts(result, settings, ctx, logger);
  }
  return result;
}

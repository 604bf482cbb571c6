// The shapes metric-watch's parts share: settings, readings, breaches, the canary comparison and the
// result. Types only, so every module can import them without importing each other's logic.
import type { MannWhitneyResult } from './stats.js';

export type SourceKind = 'prometheus' | 'graphite' | 'openmetrics' | 'http-json' | 'replay';
export type NoDataPolicy = 'fail' | 'pass' | 'inconclusive';
export type Verdict = 'pass' | 'fail' | 'inconclusive';
export type FailOn = 'fail' | 'inconclusive' | 'never';

/** A relative bound: `20%` of the baseline, or `5` in the metric's own unit. */
export interface RelativeBound {
  kind: 'percent' | 'absolute';
  value: number;
}

export interface Rule {
  name: string;
  /** PromQL / Graphite target / metric selector / JSON path; `{host}` expands per host. */
  query: string;
  min?: number;
  max?: number;
  maxDrop?: RelativeBound;
  maxRise?: RelativeBound;
  /** Consecutive breaching samples before the rule is in a hard (failed) state. */
  for: number;
  noData: NoDataPolicy;
  /** Judge the canaries against the baseline statistically (the spellings `true` and `mann-whitney`). */
  compare?: 'baseline';
  /** Confidence of the comparison: it fails when p < 1 - confidence. */
  confidence: number;
  /** The value grows with the traffic a host gets (a rate or count per host): scaled by its share of requests. */
  volume: boolean;
  /** `warn:`: bounds short of min/max that give WARNING in `fivestep check` (and nothing else). */
  warn?: WarnBounds;
  /** Who is told in production: `page` (undefined) or `ticket` (the alert's `severity` label). */
  severity?: Severity;
  /** A link (or a line) for whoever is paged: alert annotations, alert messages and the RCA issue. */
  runbook?: string;
  /** An SLO rule (`slo:`): `query` is then its burn rate, built from `good`/`errors` and `total`. */
  slo?: SloObjective;
}

export type Severity = 'page' | 'ticket';

export interface WarnBounds {
  min?: number;
  max?: number;
}

/**
 * A service level objective: the share of good events over `windowMs` (the SLO period, 30d by default).
 * The queries hold `{window}` where a rate's range goes; the watch and the exported rules fill it in.
 */
export interface SloObjective {
  /** 0.999 for `slo: 99.9%`. */
  objective: number;
  /** Exactly one of `good` and `errors` is set. */
  good?: string;
  errors?: string;
  total: string;
  windowMs: number;
}

export type Baseline = { kind: 'none' } | { kind: 'before'; windowMs: number } | { kind: 'hosts' };

export interface AlertSettings {
  webhookUrl: string;
  pagerdutyRoutingKey: string;
  /** Events API v2 endpoint; FIVESTEP_PAGERDUTY_URL overrides it (tests, EU accounts). */
  pagerdutyUrl: string;
  smtpUrl: string;
  /** `smtp-password`: the password of smtp-url's user when smtp-url holds none ('' when not given). */
  smtpPassword: string;
  emailTo: string[];
  emailFrom: string;
}

export interface WatchSettings {
  source: SourceKind;
  /** Base URL or endpoint; for `replay`, the path of the recording. */
  url: string;
  hosts: string[];
  canaryHosts: string[];
  rules: Rule[];
  /** 0 with `source: replay` when not set: the recording's duration / interval. */
  durationMs: number;
  intervalMs: number;
  baseline: Baseline;
  failOn: FailOn;
  /** Names the deployment target in PagerDuty's dedup_key and in alert text. */
  environment: string;
  /** Extra request headers for the metric source (e.g. Authorization). */
  headers: Record<string, string>;
  alerts: AlertSettings;
}

export type SampleState = 'ok' | 'breach' | 'no-data';
export type CheckKind = 'min' | 'max' | 'max-drop' | 'max-rise' | 'no-data' | 'compare' | 'error';

export interface Check {
  state: SampleState;
  /** Which check breached (or 'no-data'). */
  check?: CheckKind;
  /** The bound's value at this sample (a relative bound resolved against the baseline). */
  bound?: number;
  reason?: string;
}

/** One reading of a rule's query: `host` is '' for a query that is not per host. */
export interface Observation {
  t: number;
  host: string;
  value: number | null;
  /** undefined: there is no baseline to compare with; null: there is one but it had no value. */
  baseline?: number | null;
  /** Why value is null. */
  reason?: string;
  /** A volume rule under a canary weight: the value as read, before scaling by the host's share. */
  raw?: number;
  /** The host's measured share of requests (0..1) that `value` was scaled by. */
  share?: number;
}

export interface RecordedSample extends Observation, Check {}

export interface Breach {
  rule: string;
  check: CheckKind;
  host?: string;
  /** The last breaching value (for compare: the canaries' level). */
  value: number | null;
  bound: number | null;
  baseline?: number | null;
  /** When the rule entered its hard state (ISO 8601). */
  when: string;
  /** The first sample of the breaching streak (ISO 8601). */
  since: string;
  detail: string;
  /** The rule's `runbook`, for whoever reads the breach (alerts, the RCA issue). */
  runbook?: string;
}

export type Direction = 'increase' | 'decrease' | 'either';

/**
 * The canary judge's answer for one rule. The unit of the test is what is really independent: each host's
 * mean over the bake (`host-means`), each host's change from its own earlier readings (`paired-hosts`),
 * or one series with its autocorrelation accounted for (`series`).
 */
export interface Comparison {
  method: 'host-means' | 'paired-hosts' | 'series' | 'differences';
  /** The harmful direction tested (one-sided), or `either` (two-sided). */
  direction: Direction;
  confidence: number;
  /** Canaries' level and the baseline's (means of the units). */
  canary: number;
  baseline: number;
  /** canary - baseline; `relative` is that in percent of |baseline| (null when the baseline is 0). */
  difference: number;
  relative: number | null;
  t: number;
  df: number;
  /** p-value in the harmful direction (two-sided for `either`). */
  p: number;
  /** The false-fail probability this rule may spend in this watch: its share of 1 − confidence. */
  alpha: number;
  /** The look's information fraction: 1 at the end of the watch (or for a single look). */
  fraction: number;
  /** The p-value this look fails at or below (the sequential bound at `fraction`; α for a single look). */
  bound: number;
  /** p ≤ bound: the canaries are worse than the baseline. */
  significant: boolean;
  /** Independent units on each side (hosts; for `series`, effective readings). */
  units: { canary: number; baseline: number };
  /** Finite readings used on each side. */
  readings: { canary: number; baseline: number };
  /** Set when there was too little to decide: what was missing. The verdict is then inconclusive. */
  insufficient?: string;
  /** Pooled Mann-Whitney U and Hodges-Lehmann shift, for a reader: they never decide. */
  mannWhitney?: MannWhitneyResult;
}

export interface RuleReport {
  name: string;
  query: string;
  verdict: Verdict;
  reason: string;
  rule: Rule;
  /** Baseline value per host key ('' for a query that is not per host), for before:<duration>. */
  baselineValues?: Record<string, number | null>;
  comparison?: Comparison;
  breach?: Breach;
  samples: RecordedSample[];
  /** Readings of the baseline hosts (baseline: hosts), which are compared with, not judged. */
  baselineSamples: Observation[];
  /** The readings before the watch (baseline: before, or a rollout's last wave), per host key. */
  baselineHistory?: Record<string, { t: number; value: number }[]>;
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

/** Repository and run link for alert text. */
export interface AlertContext {
  repository: string;
  runUrl: string;
}

// A tolerant reader of ssh-rollout and metric-watch report files, for the RCA timeline.
// Reports come from other actions (maybe other versions): every field is checked, none is trusted,
// and what cannot be read is skipped with a note instead of failing the revert.
import { readFileSync } from 'node:fs';

export interface RolloutWave {
  index: number;
  hosts: string[];
  /** Epoch ms. */
  start?: number;
  end?: number;
  bake?: { start?: number; end?: number; verdict?: string; detail?: string };
}

export interface RolloutSummary {
  kind: 'rollout';
  path: string;
  release: string;
  result: string;
  startedAt?: number;
  finishedAt?: number;
  waves: RolloutWave[];
  failedHosts: { host: string; reason: string }[];
  stopReason: string;
}

export interface BreachSummary {
  rule: string;
  host?: string;
  value?: number | string | null;
  bound?: number | string | null;
  baseline?: number | string | null;
  /** Epoch ms of the hard state (when the rule counted as breached). */
  when?: number;
  /** Epoch ms of the first breaching sample. */
  since?: number;
  detail?: string;
}

export interface WatchSummary {
  kind: 'watch';
  path: string;
  verdict: string;
  detail: string;
  startedAt?: number;
  endedAt?: number;
  breaches: BreachSummary[];
}

export type ReportSummary = RolloutSummary | WatchSummary;

export interface ReportSet {
  rollouts: RolloutSummary[];
  watches: WatchSummary[];
  /** Files that could not be read or recognised, with why. */
  skipped: string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- foreign JSON, checked field by field */
type Json = Record<string, any>;

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** ISO string or epoch ms → epoch ms (undefined when neither). */
export function toTime(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v > 1e11 ? v : v * 1000; // seconds or ms
  if (typeof v === 'string' && v.trim()) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

const valueOf = (v: unknown): number | string | null | undefined =>
  typeof v === 'number' || typeof v === 'string' ? v : v === null ? null : undefined;

/** Reads one metric-watch breach, also the `breaches` output (same objects). */
export function parseBreach(b: unknown): BreachSummary | null {
  if (!isObj(b)) return null;
  const rule = str(b.rule) || str(b.name);
  if (!rule) return null;
  const out: BreachSummary = { rule };
  if (str(b.host)) out.host = str(b.host);
  for (const k of ['value', 'bound', 'baseline'] as const) {
    const v = valueOf(b[k]);
    if (v !== undefined) out[k] = v;
  }
  const when = toTime(b.when);
  const since = toTime(b.since);
  if (when !== undefined) out.when = when;
  if (since !== undefined) out.since = since;
  if (str(b.detail)) out.detail = str(b.detail);
  return out;
}

function parseRollout(path: string, j: Json): RolloutSummary {
  const waves: RolloutWave[] = (Array.isArray(j.waves) ? j.waves : []).filter(isObj).map((w: Json, i: number) => {
    const wave: RolloutWave = { index: typeof w.index === 'number' ? w.index : i + 1, hosts: Array.isArray(w.hosts) ? w.hosts.map(str).filter(Boolean) : [] };
    const start = toTime(w.start);
    const end = toTime(w.end);
    if (start !== undefined) wave.start = start;
    if (end !== undefined) wave.end = end;
    if (isObj(w.bake)) wave.bake = { start: toTime(w.bake.start), end: toTime(w.bake.end), verdict: str(w.bake.verdict) || undefined, detail: str(w.bake.detail) || undefined };
    return wave;
  });
  const failedHosts = (Array.isArray(j.hosts) ? j.hosts : [])
    .filter((h: unknown) => isObj(h) && ['failed', 'revert-failed'].includes(str(h.outcome)))
    .map((h: Json) => ({ host: str(h.host), reason: str(h.reason) || str(h.outcome) }));
  return {
    kind: 'rollout',
    path,
    release: str(j.release),
    result: str(j.result),
    startedAt: toTime(j.startedAt),
    finishedAt: toTime(j.finishedAt),
    waves,
    failedHosts,
    stopReason: str(j.stopReason),
  };
}

function parseWatch(path: string, j: Json): WatchSummary {
  let breaches = (Array.isArray(j.breaches) ? j.breaches : []).map(parseBreach).filter((b: BreachSummary | null): b is BreachSummary => b !== null);
  // Older/other shapes keep the breach only per rule.
  if (breaches.length === 0 && Array.isArray(j.rules)) {
    breaches = j.rules.map((r: unknown) => (isObj(r) ? parseBreach(r.breach) : null)).filter((b: BreachSummary | null): b is BreachSummary => b !== null);
  }
  return {
    kind: 'watch',
    path,
    verdict: str(j.verdict),
    detail: str(j.detail),
    startedAt: toTime(j.startedAt),
    endedAt: toTime(j.endedAt ?? j.finishedAt),
    breaches,
  };
}

/** Recognises a report by its `tool`/`kind` tag, else by shape. Returns null for anything else. */
export function parseReport(path: string, text: string): ReportSummary | null {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(j)) return null;
  const tag = str(j.tool) || str(j.kind);
  if (tag.endsWith('ssh-rollout') || (!tag && Array.isArray(j.waves) && Array.isArray(j.hosts))) return parseRollout(path, j);
  if (tag.endsWith('metric-watch') || (!tag && typeof j.verdict === 'string' && (Array.isArray(j.breaches) || Array.isArray(j.rules)))) return parseWatch(path, j);
  return null;
}

export function readReports(paths: readonly string[], read: (path: string) => string = (p) => readFileSync(p, 'utf8')): ReportSet {
  const set: ReportSet = { rollouts: [], watches: [], skipped: [] };
  for (const path of paths) {
    let text: string;
    try {
      text = read(path);
    } catch (err) {
      set.skipped.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    const r = parseReport(path, text);
    if (!r) set.skipped.push(`${path}: not an ssh-rollout or metric-watch report`);
    else if (r.kind === 'rollout') set.rollouts.push(r);
    else set.watches.push(r);
  }
  return set;
}

/** The `reason` input as given: metric-watch's `breaches` JSON becomes breaches; anything else stays text. */
export function parseReason(reason: string): { text: string; breaches: BreachSummary[] } {
  const t = reason.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      const j = JSON.parse(t);
      const list = (Array.isArray(j) ? j : [j]).map(parseBreach).filter((b): b is BreachSummary => b !== null);
      if (list.length) return { text: list.map(describeBreach).join('; '), breaches: list };
    } catch {
      // not JSON after all: free text
    }
  }
  return { text: t, breaches: [] };
}

export function describeBreach(b: BreachSummary): string {
  const parts = [`${b.rule}${b.host ? ` on ${b.host}` : ''}`];
  if (b.value !== undefined && b.value !== null) parts.push(`value ${fmtValue(b.value)}`);
  if (b.bound !== undefined && b.bound !== null) parts.push(`bound ${fmtValue(b.bound)}`);
  if (b.baseline !== undefined && b.baseline !== null) parts.push(`baseline ${fmtValue(b.baseline)}`);
  return parts.join(', ');
}

function fmtValue(v: number | string): string {
  return typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : v;
}

// The ssh-rollout and metric-watch reports as the RCA timeline needs them. Each kind's own module reads
// its file tolerantly (rollout/record.ts, metrics/record.ts); here a file that is neither is
// skipped with a note instead of failing the revert.
import { readFileSync } from 'node:fs';
import { isJsonObject } from '../common/json-fields.js';
import {
  looksLikeWatchReport,
  readBreach,
  readWatchReport,
  type BreachRead,
  type WatchReportRead,
} from '../metrics/record.js';
import { looksLikeRolloutReport, readRolloutReport, type RolloutReportRead } from '../rollout/record.js';

export interface RolloutSummary extends Pick<
  RolloutReportRead,
  'release' | 'result' | 'startedAt' | 'finishedAt' | 'waves' | 'stopReason'
> {
  kind: 'rollout';
  path: string;
  /** Hosts the rollout failed on, with why (their outcome when the report gives no reason). */
  failedHosts: { host: string; reason: string }[];
}

/** A breach from a watch report or from the `reason` input (metric-watch's `breaches` output). */
export type BreachSummary = BreachRead;

export interface WatchSummary extends Pick<
  WatchReportRead,
  'verdict' | 'detail' | 'startedAt' | 'endedAt' | 'breaches'
> {
  kind: 'watch';
  path: string;
}

export type ReportSummary = RolloutSummary | WatchSummary;

export interface ReportSet {
  rollouts: RolloutSummary[];
  watches: WatchSummary[];
  /** Files that could not be read or recognised, with why. */
  skipped: string[];
}

const FAILED_OUTCOMES = new Set(['failed', 'revert-failed']);

function rolloutSummary(path: string, r: RolloutReportRead): RolloutSummary {
  const failedHosts = r.hosts
    .filter((h) => FAILED_OUTCOMES.has(h.outcome))
    .map((h) => ({ host: h.host, reason: h.reason || h.outcome }));
  const { release, result, startedAt, finishedAt, waves, stopReason } = r;
  return { kind: 'rollout', path, release, result, startedAt, finishedAt, waves, failedHosts, stopReason };
}

function watchSummary(path: string, w: WatchReportRead): WatchSummary {
  const { verdict, detail, startedAt, endedAt, breaches } = w;
  return { kind: 'watch', path, verdict, detail, startedAt, endedAt, breaches };
}

/** Recognises a report by its `tool`/`kind` tag, else by shape. Returns null for anything else. */
export function parseReport(path: string, text: string): ReportSummary | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isJsonObject(doc)) return null;
  if (looksLikeRolloutReport(doc)) return rolloutSummary(path, readRolloutReport(doc)!);
  if (looksLikeWatchReport(doc)) return watchSummary(path, readWatchReport(doc)!);
  return null;
}

const readText = (path: string): string => readFileSync(path, 'utf8');

export function readReports(paths: readonly string[], read: (path: string) => string = readText): ReportSet {
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
      const list = (Array.isArray(j) ? j : [j]).map(readBreach).filter((b): b is BreachSummary => b !== undefined);
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

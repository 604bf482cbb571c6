// The JSON report (every sample; its shape and reader are in record.ts) and the job summary (per rule a
// Mermaid xychart with its bound, and a table).
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mdCode, mdText } from '../common/markdown.js';
import { GITHUB_LIMITS, fitMarkdown } from '../github/limits.js';
import { buildWatchReport } from './record.js';
import { amount, boundsAt, describeComparison, fmt } from './rules.js';
import { objectiveText, promDuration } from './slo.js';
import type { Comparison, Rule, RuleReport, WatchResult } from './types.js';
import { formatDurationInput } from '../common/format.js';

/** Writes the report under RUNNER_TEMP (or the OS temp dir) and returns its path. */
export function writeReport(result: WatchResult, env: NodeJS.ProcessEnv = process.env, now = Date.now()): string {
  const dir = join(env.RUNNER_TEMP || tmpdir(), 'fivestep');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `metric-watch-${now}-${process.pid}.json`);
  writeFileSync(path, `${JSON.stringify(buildWatchReport(result), null, 2)}\n`);
  return path;
}

/**
 * Charts go when the summary would pass this (UTF-8 bytes): a step summary may hold 1 MiB, and a rollout's summary
 * holds the watch's.
 */
const CHARTS_UP_TO_BYTES = 60_000;
const MAX_POINTS = 60;

function evenly<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  return Array.from({ length: max }, (_, i) => items[Math.round((i * (items.length - 1)) / (max - 1))]);
}

/** Mermaid lines need a number at every point: a gap repeats the previous value (the table counts the gaps). */
function fillGaps(values: (number | null | undefined)[]): number[] | undefined {
  const first = values.find((v) => typeof v === 'number' && Number.isFinite(v));
  if (first === undefined || first === null) return undefined;
  let last = first;
  return values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? (last = v) : last));
}

const num = (n: number) => String(Math.round(n * 1000) / 1000);
const quote = (s: string) => `"${s.replace(/"/g, "'")}"`;

/** A Mermaid `xychart-beta`: one line per host, then the lower and upper bounds (and the baseline). */
export function ruleChart(r: RuleReport): string | undefined {
  const times = [...new Set(r.samples.map((s) => s.t))].sort((a, b) => a - b);
  if (times.length === 0) return undefined;
  const shown = evenly(times, MAX_POINTS);
  const hosts = [...new Set(r.samples.map((s) => s.host))];
  const at = (host: string, t: number) => r.samples.find((s) => s.host === host && s.t === t);
  const lines: { label: string; values: number[] }[] = [];
  for (const host of hosts) {
    const values = fillGaps(shown.map((t) => at(host, t)?.value));
    if (values) lines.push({ label: host || 'value', values });
  }
  if (lines.length === 0) return undefined;
  const rule: Rule = r.rule;
  const firstHost = hosts[0];
  const bounds = shown.map((t) => boundsAt(rule, at(firstHost, t)?.baseline));
  const lower = fillGaps(bounds.map((b) => b.lower));
  const upper = fillGaps(bounds.map((b) => b.upper));
  if (lower) lines.push({ label: 'lower bound', values: lower });
  if (upper) lines.push({ label: 'upper bound', values: upper });
  const baseline = fillGaps(shown.map((t) => at(firstHost, t)?.baseline));
  if (baseline) lines.push({ label: 'baseline', values: baseline });
  const all = lines.flatMap((l) => l.values);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = hi === lo ? Math.max(1, Math.abs(hi) * 0.1) : (hi - lo) * 0.1;
  const t0 = shown[0];
  // Sub-second intervals (tests, benchmarks) need a decimal to keep the labels apart.
  const fine = shown.some((t, i) => i > 0 && t - shown[i - 1] < 1000);
  const labels = shown.map((t) => quote(`+${((t - t0) / 1000).toFixed(fine ? 1 : 0)}s`));
  return [
    '```mermaid',
    'xychart-beta',
    `  title ${quote(r.name)}`,
    `  x-axis [${labels.join(', ')}]`,
    `  y-axis ${quote(rule.slo ? 'burn rate' : r.query.slice(0, 60))} ${num(lo - pad)} --> ${num(hi + pad)}`,
    ...lines.map((l) => `  line [${l.values.map(num).join(', ')}]`),
    '```',
    `<sub>Lines in order: ${lines.map((l) => l.label).join(', ')}.</sub>`,
  ].join('\n');
}

function boundText(rule: Rule): string {
  const parts: string[] = [];
  const slo = rule.slo ? `SLO ${objectiveText(rule.slo)} over ${promDuration(rule.slo.windowMs)}: burn rate ` : '';
  if (rule.min !== undefined) parts.push(`min ${rule.min}`);
  if (rule.max !== undefined) parts.push(`${slo}max ${rule.max}`);
  if (rule.maxDrop) parts.push(`max-drop ${amount(rule.maxDrop)}`);
  if (rule.maxRise) parts.push(`max-rise ${amount(rule.maxRise)}`);
  if (rule.compare) parts.push(`compare @${rule.confidence}`);
  if (rule.volume) parts.push('volume');
  if (rule.for > 1) parts.push(`for ${rule.for}`);
  return parts.join(', ');
}

/** The judge's figures (deciding or not), then the pooled Mann-Whitney figures Kayenta users know. */
function comparisonText(c: Comparison, decides: boolean): string {
  const judged = c.insufficient
    ? `not compared: ${c.insufficient}`
    : `${decides ? '' : 'compared (not deciding): '}${describeComparison(c)}`;
  const sample = c.mannWhitney?.shiftSample;
  const sampled = sample
    ? ` (from ${sample.pairs.toLocaleString('en-US')} of ${sample.of.toLocaleString('en-US')} pairs)`
    : '';
  const mw = c.mannWhitney
    ? `; pooled Mann-Whitney p=${c.mannWhitney.p.toPrecision(3)}, Hodges-Lehmann shift ` +
      `${fmt(c.mannWhitney.shift)}${sampled} (readings taken as independent: shown, not judged)`
    : '';
  return judged + mw;
}

/** A reason or a name (a reason may hold what an endpoint answered): one line, no markup. */
const cell = (s: string) => mdText(s, 1000);
const ICON: Record<string, string> = { pass: '✅ pass', fail: '❌ fail', inconclusive: '⚠️ inconclusive' };

export function summaryTable(result: WatchResult): string {
  const rows = result.rules.map((r) => {
    const last = [...r.samples].reverse().find((s) => s.value !== null);
    const value = r.breach?.value ?? last?.value ?? null;
    const baselineValue = r.breach?.baseline ?? last?.baseline;
    const baseline =
      baselineValue !== undefined
        ? fmt(baselineValue)
        : r.baselineValues
          ? Object.values(r.baselineValues).map(fmt).join(', ')
          : '—';
    const gaps = r.samples.filter((s) => s.state === 'no-data').length;
    const cmp = r.comparison ? `<br>${comparisonText(r.comparison, Boolean(r.rule.compare))}` : '';
    return (
      `| ${cell(r.name)} | ${fmt(value)} | ${cell(boundText(r.rule))} | ${baseline} | ` +
      `${r.samples.length}${gaps ? ` (${gaps} no data)` : ''} | ${ICON[r.verdict]} | ${cell(r.reason)}${cmp} |`
    );
  });
  return [
    '| rule | value | bound | baseline | samples | verdict | why |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

/** `1 sample` (a watch --once), or how many every how long. */
function samplesText(result: WatchResult): string {
  if (result.ticks === 1) return '1 sample';
  return `${result.ticks} samples every ${formatDurationInput(result.settings.intervalMs)}`;
}

export function summaryMarkdown(result: WatchResult): string {
  const head = [
    `## metric-watch: ${ICON[result.verdict]}`,
    '',
    `${result.settings.source} ${mdCode(result.settings.url)}, ${samplesText(result)}, ` +
      `baseline ${result.settings.baseline}` +
      (result.hosts.canary.length ? `, canaries ${mdText(result.hosts.canary.join(', '))}` : '') +
      (result.endedEarly ? `. Ended early: ${mdText(result.endedEarly)}.` : '.'),
    '',
    summaryTable(result),
    '',
  ];
  if (result.alertWarnings.length) head.push(...result.alertWarnings.map((w) => `> ⚠️ ${mdText(w, 1000)}`), '');
  const charts = result.rules.map((r) => {
    const chart = ruleChart(r);
    return chart ? `### ${r.name}\n\n${chart}\n` : `### ${r.name}\n\nNo samples with data.\n`;
  });
  let text = [...head, ...charts].join('\n');
  if (Buffer.byteLength(text) > CHARTS_UP_TO_BYTES)
    text = [
      ...head,
      '_Charts left out: the summary would exceed GitHub’s size limit. The JSON report has every sample._',
    ].join('\n');
  return fitMarkdown(
    text,
    GITHUB_LIMITS.stepSummary,
    '… cut here to fit a step summary: the JSON report (the `report` output) has every rule and sample.',
  );
}

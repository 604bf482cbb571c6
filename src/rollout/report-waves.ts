// The job summary's view of the waves: the wave table and the Mermaid gantt chart. Past WAVE_ROWS_MAX waves both
// show groups of consecutive waves, so `waves: 1` over thousands of hosts stays a short table and a small chart.
import { SMALL_FLEET, formatDuration, plural } from '../common/format.js';
import { median } from '../common/stats.js';
import { countHost, emptyWaveCounts, type WaveCounts } from './outputs.js';
import type { HostRecord, RolloutReport, WaveRecord } from './record.js';
import { cell, stepMs, timeCell } from './report-cells.js';

/** At most this many rows in the wave table and bars in the wave chart (`waves: 1` makes a wave per host). */
export const WAVE_ROWS_MAX = 100;

/** Mermaid task names may not hold `#:();` or a newline. */
const taskName = (text: string): string => text.replace(/[#:;()\r\n]/g, '_');

/** Consecutive waves shown as one row of the wave table and one bar of the wave chart. */
export interface WaveGroup {
  waves: WaveRecord[];
  counts: WaveCounts;
  hosts: HostRecord[];
}

function hostsByWave(report: RolloutReport): Map<number, HostRecord[]> {
  const byWave = new Map<number, HostRecord[]>();
  for (const h of report.hosts) {
    const list = byWave.get(h.wave);
    if (list) list.push(h);
    else byWave.set(h.wave, [h]);
  }
  return byWave;
}

function mergeGroups(groups: WaveGroup[]): WaveGroup {
  const counts = emptyWaveCounts(groups[0].counts.wave);
  for (const g of groups)
    for (const k of ['hosts', 'updated', 'failed', 'revertFailed', 'reverted', 'notStarted'] as const)
      counts[k] += g.counts[k];
  return { waves: groups.flatMap((g) => g.waves), counts, hosts: groups.flatMap((g) => g.hosts) };
}

/** How a group ended, as a key: consecutive groups with the same key may be merged into one row. */
function endingKind(g: WaveGroup): string {
  const c = g.counts;
  const verdict = g.waves[0].bake?.verdict;
  return [
    c.failed + c.revertFailed > 0,
    c.revertFailed > 0,
    c.updated === c.hosts,
    c.reverted === c.hosts,
    c.notStarted === c.hosts,
    verdict && verdict !== 'pass' ? verdict : '',
  ].join();
}

/**
 * A group per wave; past WAVE_ROWS_MAX waves, runs of waves that ended alike are merged (so `waves: 1` over
 * thousands of hosts reads as "waves 2–2500 updated"), then, if still too many, fixed-size runs.
 */
export function waveGroups(report: RolloutReport): WaveGroup[] {
  const byWave = hostsByWave(report);
  const single = report.waves.map((w): WaveGroup => {
    const hosts = byWave.get(w.index) ?? [];
    const counts = emptyWaveCounts(w.index);
    for (const h of hosts) countHost(counts, h);
    return { waves: [w], counts, hosts };
  });
  if (single.length <= WAVE_ROWS_MAX) return single;
  const runs: WaveGroup[][] = [];
  for (const g of single) {
    const last = runs[runs.length - 1];
    if (last && endingKind(last[0]) === endingKind(g)) last.push(g);
    else runs.push([g]);
  }
  if (runs.length <= WAVE_ROWS_MAX) return runs.map(mergeGroups);
  const size = Math.ceil(single.length / WAVE_ROWS_MAX);
  const chunks: WaveGroup[] = [];
  for (let i = 0; i < single.length; i += size) chunks.push(mergeGroups(single.slice(i, i + size)));
  return chunks;
}

function groupLabel(g: WaveGroup): string {
  const first = g.waves[0].index;
  const last = g.waves[g.waves.length - 1].index;
  return first === last ? String(first) : `${first}–${last}`;
}

function bakeCell(g: WaveGroup): string {
  const bakes = g.waves.flatMap((w) => (w.bake ? [w.bake] : []));
  if (bakes.length === 0) return '–';
  if (g.waves.length === 1) {
    const [bake] = bakes;
    return `${formatDuration(bake.end - bake.start)}${bake.verdict ? `, ${cell(bake.verdict)}` : ''}`;
  }
  const verdicts = new Map<string, number>();
  for (const b of bakes) if (b.verdict) verdicts.set(b.verdict, (verdicts.get(b.verdict) ?? 0) + 1);
  return (
    `${bakes.length} ` +
    `bakes${verdicts.size ? `: ${[...verdicts].map(([v, n]) => `${n} ${cell(v)}`).join(', ')}` : ''}`
  );
}

/** The wave table: a row per group, with its counts, median step times and wave time (and bakes, if any). */
export function waveTable(groups: WaveGroup[]): string[] {
  const withBake = groups.some((g) => g.waves.some((w) => w.bake));
  const out = [
    `| wave | hosts | updated | failed | reverted | not started | switch (median) | health (median / slowest) ` +
      `| wave time |${withBake ? ' bake |' : ''}`,
    `| --- | --- | --- | --- | --- | --- | --- | --- | --- |${withBake ? ' --- |' : ''}`,
  ];
  for (const g of groups) {
    const c = g.counts;
    const switchMs = g.hosts.flatMap((h) => stepMs(h, 'switch', 'reload') ?? []);
    const healthMs = g.hosts.flatMap((h) => stepMs(h, 'health') ?? []);
    const slowest = healthMs.reduce((a, b) => Math.max(a, b), 0);
    const health = healthMs.length ? `${formatDuration(median(healthMs))} / ${formatDuration(slowest)}` : '–';
    const times = g.waves.flatMap((w) => (w.start !== undefined && w.end !== undefined ? [w.end - w.start] : []));
    const time = times.length ? formatDuration(times.reduce((a, b) => a + b, 0)) : '–';
    const failed = `${c.failed + c.revertFailed}${c.revertFailed ? ` (🔥 ${c.revertFailed} NOT put back)` : ''}`;
    const switchCell = timeCell(switchMs.length ? median(switchMs) : undefined);
    out.push(
      `| ${groupLabel(g)} | ${c.hosts} | ${c.updated} | ${failed} | ${c.reverted} | ${c.notStarted} | ` +
        `${switchCell} | ${health} | ${time} |${withBake ? ` ${bakeCell(g)} |` : ''}`,
    );
  }
  return out;
}

/**
 * Mermaid gantt: up to SMALL_FLEET hosts a bar per host from its switch to its last step; above, a bar per wave (its
 * switch span). Bakes in both.
 */
export function ganttChart(report: RolloutReport): string {
  const lines = ['```mermaid', 'gantt', `  title Release ${report.release}`, '  dateFormat x', '  axisFormat %M:%S'];
  if (report.hosts.length <= SMALL_FLEET) lines.push(...hostBars(report));
  else lines.push(...waveBars(report));
  lines.push('```');
  return lines.join('\n');
}

function hostBars(report: RolloutReport): string[] {
  const lines: string[] = [];
  const byId = new Map(report.hosts.map((h) => [h.host, h]));
  for (const wave of report.waves) {
    lines.push(`  section Wave ${wave.index}`);
    for (const id of wave.hosts) {
      const host = byId.get(id);
      const steps = (host?.steps ?? []).filter((s) => ['switch', 'reload', 'health', 'revert'].includes(s.name));
      if (!host || steps.length === 0) continue;
      const start = Math.min(...steps.map((s) => s.start));
      const end = Math.max(...steps.map((s) => s.end), start + 1);
      const tag = host.outcome === 'updated' ? '' : host.outcome === 'reverted' ? 'done, ' : 'crit, ';
      lines.push(`  ${taskName(id)} : ${tag}${start}, ${end}`);
    }
    if (wave.bake)
      lines.push(
        `  bake ${wave.bake.verdict ?? ''} : active, ${wave.bake.start}, ` +
          `${Math.max(wave.bake.end, wave.bake.start + 1)}`,
      );
  }
  return lines;
}

function waveBars(report: RolloutReport): string[] {
  const lines: string[] = [];
  for (const g of waveGroups(report)) {
    const spans = g.waves.filter((w) => w.start !== undefined && w.end !== undefined);
    const bake = g.waves.length === 1 ? g.waves[0].bake : undefined;
    if (spans.length === 0 && !bake) continue;
    lines.push(`  section ${g.waves.length === 1 ? 'Wave' : 'Waves'} ${groupLabel(g)}`);
    if (spans.length) {
      const c = g.counts;
      const failed = c.failed + c.revertFailed;
      const start = spans[0].start!;
      const end = Math.max(spans[spans.length - 1].end!, start + 1);
      const tag = failed ? 'crit, ' : c.reverted ? 'done, ' : '';
      const label = [
        plural(c.hosts, 'host'),
        ...(failed ? [`${failed} failed`] : []),
        ...(c.reverted ? [`${c.reverted} put back`] : []),
      ].join(', ');
      lines.push(`  ${label} : ${tag}${start}, ${end}`);
    }
    if (bake) {
      const tag = bake.verdict === 'fail' || bake.verdict === 'error' ? 'crit' : 'active';
      lines.push(
        `  ${taskName(`bake${bake.verdict ? ` ${bake.verdict}` : ''}`)} : ${tag}, ${bake.start}, ` +
          `${Math.max(bake.end, bake.start + 1)}`,
      );
    }
  }
  return lines;
}

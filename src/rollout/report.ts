// Pure builders for what a person reads: outputs, the job summary and the Mermaid gantt of the waves.
// The summary stays readable and under GitHub's limits at thousands of hosts: hosts are grouped by wave
// and outcome, every failed host is listed, per-host detail is kept for small fleets (the JSON report
// keeps every host).
import { SMALL_FLEET, formatBytes, formatDuration, plural } from '../common/format.js';
import { mdCode, mdText } from '../common/markdown.js';
import { median } from '../common/stats.js';
import { GITHUB_LIMITS } from '../github/limits.js';
import type { HostOutcome, HostRecord, RolloutReport, Staging, StepName, WaveRecord } from './record.js';

/** Up to this many hosts the summary has a row, and the gantt a bar, per host. */
export { SMALL_FLEET };
/** GitHub drops a step summary over 1 MiB ("upload aborted"): stay well under it, in UTF-8 bytes. */
export const SUMMARY_BUDGET_BYTES = Math.floor(GITHUB_LIMITS.stepSummary.bytes * 0.875);
/** A failure reason in the summary is cut to this many characters (the JSON report keeps it whole). */
export const REASON_MAX = 300;
/** At most this many rows in the wave table and bars in the wave chart (`waves: 1` makes a wave per host). */
export const WAVE_ROWS_MAX = 100;
/** At most this many rows of the traffic table above SMALL_FLEET hosts. */
export const TRAFFIC_ROWS_MAX = 50;

export interface RolloutOutputs {
  result: string;
  'release-id': string;
  'previous-releases': Record<string, string>;
  'updated-hosts': string[];
  'failed-hosts': { host: string; reason: string }[];
}

export function rolloutOutputs(report: RolloutReport): RolloutOutputs {
  const previous: Record<string, string> = {};
  for (const h of report.hosts) if (h.previous) previous[h.host] = h.previous;
  return {
    result: report.result,
    'release-id': report.release,
    'previous-releases': previous,
    'updated-hosts':
      report.result === 'success' ? report.hosts.filter((h) => h.outcome === 'updated').map((h) => h.host) : [],
    'failed-hosts': report.hosts
      .filter((h) => h.outcome === 'failed' || h.outcome === 'revert-failed')
      .map((h) => ({ host: h.host, reason: h.reason ?? h.outcome })),
  };
}

/** One wave's hosts by outcome. `failed` and `revertFailed` are disjoint; `notStarted` is pending or skipped. */
export interface WaveCounts {
  wave: number;
  hosts: number;
  updated: number;
  failed: number;
  /** Could not be put back: they may still run the new release. */
  revertFailed: number;
  /** Put back because the rollout stopped (another host failed, a metric watch, a signal). */
  reverted: number;
  notStarted: number;
}

const emptyCounts = (wave: number): WaveCounts => ({
  wave,
  hosts: 0,
  updated: 0,
  failed: 0,
  revertFailed: 0,
  reverted: 0,
  notStarted: 0,
});

const COUNT_OF: Record<HostOutcome, Exclude<keyof WaveCounts, 'wave' | 'hosts'>> = {
  updated: 'updated',
  failed: 'failed',
  'revert-failed': 'revertFailed',
  reverted: 'reverted',
  skipped: 'notStarted',
  pending: 'notStarted',
};

function addHost(counts: WaveCounts, host: HostRecord): void {
  counts.hosts++;
  counts[COUNT_OF[host.outcome]]++;
}

/** Per-outcome counts of the hosts of wave `index` (1-based, as HostRecord.wave); takes only the host records, so a
 * running rollout can pass its own. */
export function waveCounts(report: Pick<RolloutReport, 'hosts'>, index: number): WaveCounts {
  const counts = emptyCounts(index);
  for (const h of report.hosts) if (h.wave === index) addHost(counts, h);
  return counts;
}

/** The log's one line for a wave: `250 host(s): 249 updated, 1 failed` (outcomes with no host left out). */
export function waveCountLine(c: WaveCounts): string {
  const parts: [number, string][] = [
    [c.updated, 'updated'],
    [c.failed, 'failed'],
    [c.revertFailed, 'NOT put back'],
    [c.reverted, 'put back'],
    [c.notStarted, 'not started'],
  ];
  return `${c.hosts} host(s): ${
    parts
      .filter(([n]) => n > 0)
      .map(([n, w]) => `${n} ${w}`)
      .join(', ') || 'none'
  }`;
}

function stepMs(host: HostRecord, ...names: StepName[]): number | undefined {
  const steps = host.steps.filter((s) => names.includes(s.name));
  if (steps.length === 0) return undefined;
  return steps.reduce((sum, s) => sum + (s.end - s.start), 0);
}

/** rollout.ts's name for formatDuration (common/format.ts), until it imports that (then this line goes). */

/** A time in a table cell: '–' where none was measured. */
const timeCell = (ms: number | undefined): string => (ms === undefined ? '–' : formatDuration(ms));

const OUTCOME_ICON: Record<string, string> = {
  updated: '✅ updated',
  failed: '❌ failed',
  reverted: '↩️ reverted',
  'revert-failed': '🔥 NOT reverted',
  skipped: '⏭️ not started',
  pending: '⏭️ not started',
};

const RESULT_HEADLINE: Record<string, string> = {
  success: '✅ success',
  reverted: '↩️ reverted: a failure was caught and every switched host was put back',
  failed: '🔥 failed: some hosts could not be put back (see below)',
};

/** Untrusted text (a host's output, a verdict, a name) in the summary: one line, no markup. */
const cell = (text: string): string => mdText(text, Infinity);

const reasonText = (reason: string): string => mdText(reason, REASON_MAX);

/** Mermaid task names may not hold `#:();` or a newline. */
const taskName = (text: string): string => text.replace(/[#:;()\r\n]/g, '_');

/** Consecutive waves shown as one row of the wave table and one bar of the wave chart. */
interface WaveGroup {
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
  const counts = emptyCounts(groups[0].counts.wave);
  for (const g of groups)
    for (const k of ['hosts', 'updated', 'failed', 'revertFailed', 'reverted', 'notStarted'] as const)
      counts[k] += g.counts[k];
  return { waves: groups.flatMap((g) => g.waves), counts, hosts: groups.flatMap((g) => g.hosts) };
}

/**
 * A group per wave; past WAVE_ROWS_MAX waves, runs of waves that ended alike are merged (so `waves: 1` over
 * thousands of hosts reads as "waves 2–2500 updated"), then, if still too many, fixed-size runs.
 */
function waveGroups(report: RolloutReport): WaveGroup[] {
  const byWave = hostsByWave(report);
  const single = report.waves.map((w): WaveGroup => {
    const hosts = byWave.get(w.index) ?? [];
    const counts = emptyCounts(w.index);
    for (const h of hosts) addHost(counts, h);
    return { waves: [w], counts, hosts };
  });
  if (single.length <= WAVE_ROWS_MAX) return single;
  const kind = (g: WaveGroup): string => {
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
  };
  const runs: WaveGroup[][] = [];
  for (const g of single) {
    const last = runs[runs.length - 1];
    if (last && kind(last[0]) === kind(g)) last.push(g);
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

function waveTable(groups: WaveGroup[]): string[] {
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

/** Where a failed host was left: put back, never switched, or (a stopped run) still on the new release. */
function whereLeft(h: HostRecord, release: string): string {
  const revert = h.steps.find((s) => s.name === 'revert');
  if (revert?.ok) return `put back: ${cell(revert.detail ?? '')}`;
  if (!h.steps.some((s) => s.name === 'switch' && s.ok))
    return `not switched: still on ${cell(h.previous || '(no release)')}`;
  return `not put back: still on ${cell(release)}`;
}

function failedItems(report: RolloutReport): string[] {
  const line = (h: HostRecord): string =>
    h.outcome === 'revert-failed'
      ? `- 🔥 **${cell(h.host)}** · wave ${h.wave} · **NOT put back**: ${reasonText(h.reason ?? h.outcome)}`
      : `- ❌ ${cell(h.host)} · wave ${h.wave}: ${reasonText(h.reason ?? h.outcome)} ` +
        `(${whereLeft(h, report.release)})`;
  return [
    ...report.hosts.filter((h) => h.outcome === 'revert-failed'),
    ...report.hosts.filter((h) => h.outcome === 'failed'),
  ].map(line);
}

/** How the artifact reached the hosts, from the staging fields (absent fields: nothing). */
function stagingInfo(report: RolloutReport): string {
  const parts: string[] = [];
  if (report.artifact.url) parts.push(`hosts downloaded the artifact from ${mdCode(report.artifact.url)}`);
  const LABEL: Record<Staging, string> = { delta: 'delta', full: 'full', url: 'downloaded', cached: 'cached' };
  const staged = new Map<Staging, number>();
  for (const h of report.hosts) if (h.staging) staged.set(h.staging, (staged.get(h.staging) ?? 0) + 1);
  if (staged.size)
    parts.push(
      `staged: ${[...staged]
        .sort((a, b) => b[1] - a[1])
        .map(([s, n]) => `${n} ${LABEL[s] ?? s}`)
        .join(', ')}`,
    );
  const withSent = report.hosts.filter((h) => h.sentBytes !== undefined);
  const sent = report.sentBytes ?? (withSent.length ? withSent.reduce((sum, h) => sum + h.sentBytes!, 0) : undefined);
  if (sent !== undefined) {
    // Per host of those the runner staged (or, without per-host figures, those with a staging record).
    const per = withSent.length || report.hosts.filter((h) => h.staging).length;
    parts.push(`runner sent ${formatBytes(sent)}${sent > 0 && per > 0 ? ` (${formatBytes(sent / per)}/host)` : ''}`);
  }
  return parts.map((p) => `; ${p}`).join('');
}

function unhealthyLines(report: RolloutReport): string[] {
  const found = report.unhealthyAtStart ?? [];
  if (found.length === 0) return [];
  const out = ['', `**Found on a release that never became healthy** (a rollout that died midway, or failed):`];
  if (found.length <= SMALL_FLEET) {
    for (const u of found)
      out.push(
        `- ${u.host}: ${u.release} (last recorded: ${u.status}); on failure this rollout puts it back on ` +
          `${u.revertTo || '(no release)'}`,
      );
    return out;
  }
  const groups = new Map<string, { release: string; status: string; revertTo: string; hosts: number }>();
  for (const u of found) {
    const key = JSON.stringify([u.release, u.status, u.revertTo]);
    const g = groups.get(key) ?? { release: u.release, status: u.status, revertTo: u.revertTo, hosts: 0 };
    g.hosts++;
    groups.set(key, g);
  }
  const shown = [...groups.values()].slice(0, SMALL_FLEET);
  for (const g of shown)
    out.push(
      `- ${plural(g.hosts, 'host')} on ${g.release} (last recorded: ${g.status}); on failure this rollout ` +
        `puts them back on ${g.revertTo || '(no release)'}`,
    );
  if (groups.size > shown.length) out.push(`- … and ${groups.size - shown.length} more releases`);
  out.push('', 'Their names are in the JSON report (`unhealthyAtStart`).');
  return out;
}

function hostTable(report: RolloutReport): string[] {
  const out = [
    '| host | wave | previous | upload | switch | health | result | total |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const h of report.hosts) {
    const total = h.steps.length
      ? Math.max(...h.steps.map((s) => s.end)) - Math.min(...h.steps.map((s) => s.start))
      : undefined;
    const cached = h.steps.some((s) => s.name === 'unpack') ? 'cached' : '–';
    const upload = h.uploaded ? timeCell(stepMs(h, 'upload')) : cached;
    // A host that failed on its own is put back at once: say so beside the failure.
    const putBack = h.outcome === 'failed' ? h.steps.find((s) => s.name === 'revert' && s.ok) : undefined;
    const why = h.reason ? `: ${reasonText(h.reason)}` : '';
    const back = putBack ? ` (put back: ${cell(putBack.detail ?? '')})` : '';
    const result = `${OUTCOME_ICON[h.outcome] ?? h.outcome}${why}${back}`;
    const times = `${upload} | ${timeCell(stepMs(h, 'switch', 'reload'))} | ${timeCell(stepMs(h, 'health'))}`;
    out.push(`| ${h.host} | ${h.wave} | ${h.previous || '–'} | ${times} | ${result} | ${timeCell(total)} |`);
  }
  return out;
}

/** Mermaid gantt: up to SMALL_FLEET hosts a bar per host from its switch to its last step; above, a bar per wave (its
 * switch span). Bakes in both. */
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

export function summaryMarkdown(report: RolloutReport): string {
  const before: string[] = [];
  before.push(
    `## ssh-rollout ${report.dryRun ? '(dry run) ' : ''}${report.release}: ${RESULT_HEADLINE[report.result]}`,
  );
  before.push('');
  before.push(
    `${report.hosts.length} host(s) in ${report.waves.length} wave(s), ${formatDuration(report.durationMs)}; ` +
      `artifact ${formatBytes(report.artifact.bytes)}, sha256 \`${report.artifact.sha256.slice(0, 12)}…\`; ` +
      `deploy path ${mdCode(report.deployPath)}${stagingInfo(report)}`,
  );
  if (report.stopReason) before.push('', `**Stopped:** ${mdText(report.stopReason, 4 * REASON_MAX)}`);
  const out = report.outOfRotation ?? [];
  if (out.length) {
    const named =
      out.length <= SMALL_FLEET
        ? out.map(cell).join(', ')
        : `${out.length} hosts (named in the JSON report, \`outOfRotation\`)`;
    before.push(
      '',
      `**Left out of rotation** on the load balancer, not being healthy (it sends them no users until you ` +
        `put them back): ${named}`,
    );
  }
  before.push(...unhealthyLines(report));
  before.push('', ...waveTable(waveGroups(report)));

  const items = failedItems(report);
  const stuck = report.hosts.filter((h) => h.outcome === 'revert-failed').length;
  if (items.length) {
    before.push('', `### Failed hosts (${items.length})`);
    if (stuck)
      before.push(
        '',
        `**🔥 ${stuck} host(s) could NOT be put back** (listed first): they may still run ${report.release}; ` +
          `check them by hand.`,
      );
    before.push('');
  }

  const after: string[] = [];
  const reverted = report.hosts.filter((h) => h.outcome === 'reverted');
  if (reverted.length) {
    after.push(
      '',
      reverted.length <= SMALL_FLEET
        ? `**Put back when the rollout stopped** (${reverted.length}): ${reverted.map((h) => cell(h.host)).join(', ')}`
        : `**Put back when the rollout stopped:** ${reverted.length} hosts (per wave in the table above; ` +
            `names in the JSON report, the \`report\` output).`,
    );
  }
  if (report.hosts.length <= SMALL_FLEET) after.push('', ...hostTable(report));
  else
    after.push(
      '',
      `Per-host detail (previous release, each step and its time, full reasons) of all ${report.hosts.length} ` +
        `hosts is in the JSON report (the \`report\` output).`,
    );
  const traffic = trafficTable(report);
  if (traffic) after.push('', traffic);
  if (!report.dryRun) after.push('', ganttChart(report));
  if (report.errors.length) {
    const shown = report.errors.slice(0, SMALL_FLEET);
    after.push('', '**Warnings:**', ...shown.map((e) => `- ${reasonText(e)}`));
    if (report.errors.length > shown.length)
      after.push(`- … and ${report.errors.length - shown.length} more warnings: see the JSON report (\`errors\`)`);
  }
  return withinBudget(before, items, after);
}

/** Joins the summary, cutting the failed-host list (never the rest) so the whole stays within SUMMARY_BUDGET_BYTES. */
function withinBudget(before: string[], items: string[], after: string[]): string {
  const join = (lines: string[]) => lines.join('\n') + '\n';
  const whole = join([...before, ...items, ...after]);
  if (Buffer.byteLength(whole) <= SUMMARY_BUDGET_BYTES) return whole;
  const more = (n: number) => ['', `… and ${n} more failed hosts: see the JSON report (the \`report\` output)`];
  // The longest "more" line bounds what the cut costs; each kept item costs its bytes and a newline.
  let used = Buffer.byteLength(join([...before, ...more(items.length), ...after]));
  let kept = 0;
  while (kept < items.length) {
    const cost = Buffer.byteLength(items[kept]) + 1;
    if (used + cost > SUMMARY_BUDGET_BYTES) break;
    used += cost;
    kept++;
  }
  return join([...before, ...items.slice(0, kept), ...more(items.length - kept), ...after]);
}

/** The load balancer's share of requests, per wave (only when a balancer was used): per host up to SMALL_FLEET hosts,
 * above that per wave's hosts against the rest. */
export function trafficTable(report: RolloutReport): string {
  const rows = report.waves.flatMap((w) => (w.traffic ?? []).map((t) => ({ wave: w.index, waveHosts: w.hosts, ...t })));
  if (rows.length === 0) return '';
  const hosts = report.hosts.map((h) => h.host);
  if (hosts.length <= SMALL_FLEET) {
    const out = [
      '**Traffic split** (share of requests on the load balancer)',
      '',
      `| wave | when | ${hosts.join(' | ')} |`,
      `| --- | --- | ${hosts.map(() => '---').join(' | ')} |`,
    ];
    for (const r of rows)
      out.push(
        `| ${r.wave} | ${cell(r.label)} | ${hosts.map((h) => (h in r.share ? `${r.share[h]}%` : '–')).join(' | ')} |`,
      );
    return out.join('\n');
  }
  const fleet = new Set(hosts);
  const pct = (n: number) => `${Math.round(n * 10) / 10}%`;
  const out = [
    `**Traffic split** (share of requests on the load balancer; ${hosts.length} hosts, so per wave: the ` +
      `wave's hosts against the rest)`,
    '',
    "| wave | when | this wave's hosts | other hosts | hosts out (0%) |",
    '| --- | --- | --- | --- | --- |',
  ];
  for (const r of rows.slice(0, TRAFFIC_ROWS_MAX)) {
    const inWave = new Set(r.waveHosts);
    let mine = 0;
    let rest = 0;
    let out0 = 0;
    for (const [h, share] of Object.entries(r.share)) {
      if (!fleet.has(h)) continue;
      if (inWave.has(h)) mine += share;
      else rest += share;
      if (share === 0) out0++;
    }
    out.push(
      `| ${r.wave} | ${cell(r.label)} | ${pct(mine)} of ${r.waveHosts.length} | ${pct(rest)} of ` +
        `${hosts.length - r.waveHosts.length} | ${out0} |`,
    );
  }
  if (rows.length > TRAFFIC_ROWS_MAX)
    out.push('', `… and ${rows.length - TRAFFIC_ROWS_MAX} more rows: see the JSON report (\`waves[].traffic\`).`);
  return out.join('\n');
}

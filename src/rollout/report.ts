// The job summary a person reads after a rollout, and the summary's limits. It stays readable and under GitHub's
// limits at thousands of hosts: hosts are grouped by wave and outcome, every failed host is listed (the list is what
// gets cut if the whole would not fit), per-host detail is kept for small fleets (the JSON report keeps every host).
// Its parts: report-waves.ts (wave table, gantt), report-hosts.ts (host lists and table), report-cells.ts (cells).
import { SMALL_FLEET, formatBytes, formatDuration } from '../common/format.js';
import { mdCode, mdText } from '../common/markdown.js';
import { GITHUB_LIMITS } from '../github/limits.js';
import { STAGED_HOW } from '../engine/step-input.js';
import type { RolloutReport, Staging } from './record.js';
import { REASON_MAX, cell, reasonText } from './report-cells.js';
import { failedItems, hostTable, unhealthyLines } from './report-hosts.js';
import { ganttChart, waveGroups, waveTable } from './report-waves.js';

/** Up to this many hosts the summary has a row, and the gantt a bar, per host. */
export { SMALL_FLEET };
/** GitHub drops a step summary over 1 MiB ("upload aborted"): stay well under it, in UTF-8 bytes. */
export const SUMMARY_BUDGET_BYTES = Math.floor(GITHUB_LIMITS.stepSummary.bytes * 0.875);
/** At most this many rows of the traffic table above SMALL_FLEET hosts. */
export const TRAFFIC_ROWS_MAX = 50;

const RESULT_HEADLINE: Record<string, string> = {
  success: '✅ success',
  reverted: '↩️ reverted: a failure was caught and every switched host was put back',
  failed: '🔥 failed: some hosts could not be put back (see below)',
};

/** How the artifact reached the hosts, from the staging fields (absent fields: nothing). */
function stagingInfo(report: RolloutReport): string {
  const parts: string[] = [];
  if (report.artifact.url) parts.push(`hosts downloaded the artifact from ${mdCode(report.artifact.url)}`);
  const staged = new Map<Staging, number>();
  for (const h of report.hosts) if (h.staging) staged.set(h.staging, (staged.get(h.staging) ?? 0) + 1);
  if (staged.size)
    parts.push(
      `staged: ${[...staged]
        .sort((a, b) => b[1] - a[1])
        .map(([s, n]) => `${n} ${STAGED_HOW[s] ?? s}`)
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

/** The job summary, in Markdown, within SUMMARY_BUDGET_BYTES. */
export function summaryMarkdown(report: RolloutReport): string {
  const items = failedItems(report);
  return withinBudget([...summaryHead(report), ...failedHeading(report, items.length)], items, summaryTail(report));
}

/**
 * The summary above the failed-host list: the headline, the info line, why the rollout stopped, hosts left out of
 * rotation or found unhealthy, the wave table.
 */
function summaryHead(report: RolloutReport): string[] {
  const head = [
    `## ssh-rollout ${report.dryRun ? '(dry run) ' : ''}${report.release}: ${RESULT_HEADLINE[report.result]}`,
    '',
    `${report.hosts.length} host(s) in ${report.waves.length} wave(s), ${formatDuration(report.durationMs)}; ` +
      `artifact ${formatBytes(report.artifact.bytes)}, sha256 \`${report.artifact.sha256.slice(0, 12)}…\`; ` +
      `deploy path ${mdCode(report.deployPath)}${stagingInfo(report)}`,
  ];
  if (report.stopReason) head.push('', `**Stopped:** ${mdText(report.stopReason, 4 * REASON_MAX)}`);
  const out = report.outOfRotation ?? [];
  if (out.length) {
    const named =
      out.length <= SMALL_FLEET
        ? out.map(cell).join(', ')
        : `${out.length} hosts (named in the JSON report, \`outOfRotation\`)`;
    head.push(
      '',
      `**Left out of rotation** on the load balancer, not being healthy (it sends them no users until you ` +
        `put them back): ${named}`,
    );
  }
  head.push(...unhealthyLines(report));
  head.push('', ...waveTable(waveGroups(report)));
  return head;
}

/** The heading of the failed-host list (none without failed hosts), warning first of hosts not put back. */
function failedHeading(report: RolloutReport, failed: number): string[] {
  if (failed === 0) return [];
  const heading = ['', `### Failed hosts (${failed})`];
  const stuck = report.hosts.filter((h) => h.outcome === 'revert-failed').length;
  if (stuck)
    heading.push(
      '',
      `**🔥 ${stuck} host(s) could NOT be put back** (listed first): they may still run ${report.release}; ` +
        `check them by hand.`,
    );
  heading.push('');
  return heading;
}

/**
 * The summary below the failed-host list: hosts put back, the per-host table (or where to find it), the traffic
 * table, the gantt (not for a dry run), warnings.
 */
function summaryTail(report: RolloutReport): string[] {
  const tail: string[] = [];
  const reverted = report.hosts.filter((h) => h.outcome === 'reverted');
  if (reverted.length) {
    tail.push(
      '',
      reverted.length <= SMALL_FLEET
        ? `**Put back when the rollout stopped** (${reverted.length}): ${reverted.map((h) => cell(h.host)).join(', ')}`
        : `**Put back when the rollout stopped:** ${reverted.length} hosts (per wave in the table above; ` +
            `names in the JSON report, the \`report\` output).`,
    );
  }
  if (report.hosts.length <= SMALL_FLEET) tail.push('', ...hostTable(report));
  else
    tail.push(
      '',
      `Per-host detail (previous release, each step and its time, full reasons) of all ${report.hosts.length} ` +
        `hosts is in the JSON report (the \`report\` output).`,
    );
  const traffic = trafficTable(report);
  if (traffic) tail.push('', traffic);
  if (!report.dryRun) tail.push('', ganttChart(report));
  if (report.errors.length) {
    const shown = report.errors.slice(0, SMALL_FLEET);
    tail.push('', '**Warnings:**', ...shown.map((e) => `- ${reasonText(e)}`));
    if (report.errors.length > shown.length)
      tail.push(`- … and ${report.errors.length - shown.length} more warnings: see the JSON report (\`errors\`)`);
  }
  return tail;
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

/**
 * The load balancer's share of requests, per wave (only when a balancer was used): per host up to SMALL_FLEET hosts,
 * above that per wave's hosts against the rest.
 */
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

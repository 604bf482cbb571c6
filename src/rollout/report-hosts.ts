// The job summary's host-by-host parts: the failed-host list, the hosts found on a release that never became healthy
// (counted by release in large fleets) and, for small fleets, the per-host table.
import { SMALL_FLEET, plural } from '../common/format.js';
import type { HostRecord, RolloutReport } from './record.js';
import { cell, reasonText, stepMs, timeCell } from './report-cells.js';
import { STAGED_HOW } from '../engine/step-input.js';

const OUTCOME_ICON: Record<string, string> = {
  updated: '✅ updated',
  failed: '❌ failed',
  reverted: '↩️ reverted',
  'revert-failed': '🔥 NOT reverted',
  skipped: '⏭️ not started',
  pending: '⏭️ not started',
};

/** Where a failed host was left: put back, never switched, or (a stopped run) still on the new release. */
function whereLeft(h: HostRecord, release: string): string {
  const revert = h.steps.find((s) => s.name === 'revert');
  if (revert?.ok) return `put back: ${cell(revert.detail ?? '')}`;
  if (!h.steps.some((s) => s.name === 'switch' && s.ok))
    return `not switched: still on ${cell(h.previous || '(no release)')}`;
  return `not put back: still on ${cell(release)}`;
}

/** A list item per failed host, those that could not be put back first. */
export function failedItems(report: RolloutReport): string[] {
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

/** The hosts found on a release that never became healthy, each with where a failure puts it back; none: no lines. */
export function unhealthyLines(report: RolloutReport): string[] {
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

/** A row per host: its previous release, step times, outcome with its reason, and total time. */
export function hostTable(report: RolloutReport): string[] {
  const out = [
    '| host | wave | previous | upload | switch | health | result | total |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const h of report.hosts) {
    const total = h.steps.length
      ? Math.max(...h.steps.map((s) => s.end)) - Math.min(...h.steps.map((s) => s.start))
      : undefined;
    const cached = h.steps.some((s) => s.name === 'unpack') ? STAGED_HOW.cached : '–';
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

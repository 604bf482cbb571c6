// Pure builders for what a person reads: outputs, the job summary table and the Mermaid gantt of the waves.
import type { HostRecord, RolloutReport, StepName } from './rollout.js';

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
    'updated-hosts': report.result === 'success' ? report.hosts.filter((h) => h.outcome === 'updated').map((h) => h.host) : [],
    'failed-hosts': report.hosts
      .filter((h) => h.outcome === 'failed' || h.outcome === 'revert-failed')
      .map((h) => ({ host: h.host, reason: h.reason ?? h.outcome })),
  };
}

function stepMs(host: HostRecord, ...names: StepName[]): number | undefined {
  const steps = host.steps.filter((s) => names.includes(s.name));
  if (steps.length === 0) return undefined;
  return steps.reduce((sum, s) => sum + (s.end - s.start), 0);
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

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

/** Escapes text for a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Mermaid gantt: one section per wave, one bar per host from its switch to its last step. */
export function ganttChart(report: RolloutReport): string {
  const lines = ['```mermaid', 'gantt', `  title Release ${report.release}`, '  dateFormat x', '  axisFormat %M:%S'];
  for (const wave of report.waves) {
    lines.push(`  section Wave ${wave.index}`);
    for (const id of wave.hosts) {
      const host = report.hosts.find((h) => h.host === id);
      const steps = (host?.steps ?? []).filter((s) => ['switch', 'reload', 'health', 'revert'].includes(s.name));
      if (!host || steps.length === 0) continue;
      const start = Math.min(...steps.map((s) => s.start));
      const end = Math.max(...steps.map((s) => s.end), start + 1);
      const tag = host.outcome === 'updated' ? '' : host.outcome === 'reverted' ? 'done, ' : 'crit, ';
      lines.push(`  ${id.replace(/:/g, '_')} : ${tag}${start}, ${end}`);
    }
    if (wave.bake) lines.push(`  bake ${wave.bake.verdict ?? ''} : active, ${wave.bake.start}, ${Math.max(wave.bake.end, wave.bake.start + 1)}`);
  }
  lines.push('```');
  return lines.join('\n');
}

export function summaryMarkdown(report: RolloutReport): string {
  const out: string[] = [];
  out.push(`## ssh-rollout ${report.dryRun ? '(dry run) ' : ''}${report.release}: ${RESULT_HEADLINE[report.result]}`);
  out.push('');
  out.push(
    `${report.hosts.length} host(s) in ${report.waves.length} wave(s), ${formatMs(report.durationMs)}; artifact ${(report.artifact.bytes / 1024).toFixed(0)} KiB, sha256 \`${report.artifact.sha256.slice(0, 12)}…\`; deploy path \`${report.deployPath}\``,
  );
  if (report.stopReason) out.push('', `**Stopped:** ${cell(report.stopReason)}`);
  if (report.unhealthyAtStart?.length) {
    out.push('', `**Found on a release that never became healthy** (a rollout that died midway, or failed):`);
    for (const u of report.unhealthyAtStart) out.push(`- ${u.host}: ${u.release} (last recorded: ${u.status}); on failure this rollout puts it back on ${u.revertTo || '(no release)'}`);
  }
  out.push('');
  out.push('| host | wave | previous | upload | switch | health | result | total |');
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const h of report.hosts) {
    const total = h.steps.length ? Math.max(...h.steps.map((s) => s.end)) - Math.min(...h.steps.map((s) => s.start)) : undefined;
    const upload = h.uploaded ? formatMs(stepMs(h, 'upload')) : h.steps.some((s) => s.name === 'unpack') ? 'cached' : '–';
    // A host that failed on its own is put back at once: say so beside the failure.
    const putBack = h.outcome === 'failed' ? h.steps.find((s) => s.name === 'revert' && s.ok) : undefined;
    const result = `${OUTCOME_ICON[h.outcome] ?? h.outcome}${h.reason ? `: ${cell(h.reason)}` : ''}${putBack ? ` (put back: ${cell(putBack.detail ?? '')})` : ''}`;
    out.push(
      `| ${h.host} | ${h.wave} | ${h.previous || '–'} | ${upload} | ${formatMs(stepMs(h, 'switch', 'reload'))} | ${formatMs(stepMs(h, 'health'))} | ${result} | ${formatMs(total)} |`,
    );
  }
  const traffic = trafficTable(report);
  if (traffic) out.push('', traffic);
  if (!report.dryRun) out.push('', ganttChart(report));
  if (report.errors.length) out.push('', '**Warnings:**', ...report.errors.map((e) => `- ${cell(e)}`));
  return out.join('\n') + '\n';
}

/** The load balancer's share of requests per host, per wave (only when a balancer was used). */
export function trafficTable(report: RolloutReport): string {
  const rows = report.waves.flatMap((w) => (w.traffic ?? []).map((t) => ({ wave: w.index, ...t })));
  if (rows.length === 0) return '';
  const hosts = report.hosts.map((h) => h.host);
  const out = ['**Traffic split** (share of requests on the load balancer)', '', `| wave | when | ${hosts.join(' | ')} |`, `| --- | --- | ${hosts.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.wave} | ${cell(r.label)} | ${hosts.map((h) => (h in r.share ? `${r.share[h]}%` : '–')).join(' | ')} |`);
  return out.join('\n');
}

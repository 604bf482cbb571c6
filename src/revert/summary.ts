// Pure: the action's outputs (SPEC names) and the job summary from what the run did.
import type { GitRevertResult } from './git.js';
import type { HostsRevertReport } from './hosts.js';
import type { RcaResult } from './rca.js';

export interface RevertOutcome {
  hosts: HostsRevertReport | null;
  git: GitRevertResult | null;
  rca: RcaResult | null;
  /** Errors that fail the step (git). */
  errors: string[];
  badReleases: string[];
  /** Why nothing was done (e.g. the release reached no host), shown in the summary. */
  notes?: string[];
}

export interface RevertOutputs {
  result: 'reverted' | 'nothing-to-do' | 'failed';
  'reverted-hosts': string[];
  'reverted-to': Record<string, string>;
  'revert-sha': string;
  'pull-request': string;
  issue: string;
}

/** failed: a host is still on the bad release or broken, or git failed; reverted: something was put back. */
export function revertOutputs(o: RevertOutcome): RevertOutputs {
  const hosts = o.hosts?.hosts ?? [];
  const reverted = hosts.filter((h) => h.outcome === 'reverted');
  const failed = o.errors.length > 0 || hosts.some((h) => h.outcome === 'failed' || h.outcome === 'no-good-release');
  const gitChanged = o.git?.status === 'pushed' || o.git?.status === 'pull-request';
  const revertedTo: Record<string, string> = {};
  for (const h of reverted) revertedTo[h.host] = h.to;
  return {
    result: failed ? 'failed' : reverted.length > 0 || gitChanged ? 'reverted' : 'nothing-to-do',
    'reverted-hosts': reverted.map((h) => h.host),
    'reverted-to': revertedTo,
    'revert-sha': o.git?.revertSha ?? '',
    'pull-request': o.git?.pullRequest?.url ?? '',
    issue: o.rca?.url ?? '',
  };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const ICON: Record<string, string> = { reverted: '↩️ reverted', 'nothing-to-do': '✔️ nothing to do', 'no-good-release': '🔥 no good release: left as it is', failed: '❌ failed' };

export function summaryMarkdown(o: RevertOutcome): string {
  const out = revertOutputs(o);
  const lines: string[] = [`## auto-revert: ${out.result}${o.badReleases.length ? ` (bad release ${o.badReleases.join(', ')})` : ''}`, ''];
  for (const n of o.notes ?? []) lines.push(cell(n), '');
  const h = o.hosts;
  if (h) {
    if (h.timeToHealthyMs !== undefined) lines.push(`Last reverted host healthy **${(h.timeToHealthyMs / 1000).toFixed(2)} s** after the start.`, '');
    lines.push('| host | was on | now on | bad release | marked bad | result |', '| --- | --- | --- | --- | --- | --- |');
    for (const x of h.hosts) {
      lines.push(`| ${x.host} | ${x.from || '–'} | ${x.outcome === 'reverted' ? x.to : x.from || '–'} | ${x.bad || '–'} | ${x.markedBad ? 'yes' : '–'} | ${ICON[x.outcome]}${x.reason ? `: ${cell(x.reason)}` : ''} |`);
    }
    lines.push('');
  }
  if (o.git) {
    lines.push(`**Git:** ${cell(o.git.message)}${o.git.pullRequest ? ` — [#${o.git.pullRequest.number}](${o.git.pullRequest.url})` : ''}`, '');
  }
  for (const e of o.errors) lines.push(`**Error:** ${cell(e)}`, '');
  if (o.rca) lines.push(`**RCA issue:** [#${o.rca.number}](${o.rca.url})${o.rca.commented ? ' (commented: it was already open)' : ''}`, '');
  return lines.join('\n');
}

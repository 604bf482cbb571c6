// Pure: the action's outputs (named as actions/auto-revert/action.yml declares them) and the job summary from
// what the run did.
import { SMALL_FLEET, formatDuration } from '../common/format.js';
import { mdCode, mdText } from '../common/markdown.js';
import { GITHUB_LIMITS, fitMarkdown } from '../github/limits.js';
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
  /** A rollback on purpose (mark-bad false, to-release named): where every host went; nothing was marked bad. */
  rollbackTo?: string;
  /**
   * Why nothing was done (e.g. the release reached no host), shown in the summary: fivestep's own sentences, from
   * inputs and the run.
   */
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

/** A reason, a host's output, a git message: one line, no markup. */
const cell = (s: string): string => mdText(s, 500);
const ICON: Record<string, string> = {
  reverted: '↩️ reverted',
  'nothing-to-do': '✔️ nothing to do',
  'no-good-release': '🔥 no good release: left as it is',
  failed: '❌ failed',
};

export function summaryMarkdown(o: RevertOutcome): string {
  const out = revertOutputs(o);
  const what = o.rollbackTo
    ? ` (rollback on purpose to ${o.rollbackTo}; nothing marked bad)`
    : o.badReleases.length
      ? ` (bad release ${o.badReleases.join(', ')})`
      : '';
  const lines: string[] = [`## auto-revert: ${out.result}${what}`, ''];
  for (const n of o.notes ?? []) lines.push(n, '');
  const h = o.hosts;
  if (h) {
    if (h.timeToHealthyMs !== undefined) {
      lines.push(`Last reverted host healthy **${formatDuration(h.timeToHealthyMs)}** after the start.`, '');
    }
    if (h.hosts.length <= SMALL_FLEET) {
      lines.push(
        '| host | was on | now on | bad release | marked bad | result |',
        '| --- | --- | --- | --- | --- | --- |',
      );
      for (const x of h.hosts) {
        lines.push(
          `| ${cell(x.host)} | ${cell(x.from || '–')} | ${cell(x.outcome === 'reverted' ? x.to : x.from || '–')} ` +
            `| ${cell(x.bad || '–')} | ${x.markedBad ? 'yes' : '–'} | ` +
            `${ICON[x.outcome]}${x.reason ? `: ${cell(x.reason)}` : ''} |`,
        );
      }
    } else {
      // A row per host does not scale (about 180 bytes a host); grouped as the rollout summary groups, and
      // every host that is not back named (those need a person).
      const groups = new Map<string, { from: string; to: string; outcome: string; hosts: number }>();
      for (const x of h.hosts) {
        const to = x.outcome === 'reverted' ? x.to : x.from || '–';
        const key = `${x.from}\u0000${to}\u0000${x.outcome}`;
        const g = groups.get(key) ?? { from: x.from || '–', to, outcome: x.outcome, hosts: 0 };
        g.hosts++;
        groups.set(key, g);
      }
      lines.push(`${h.hosts.length} hosts, grouped (the \`reverted-to\` output names each reverted host):`, '');
      lines.push('| hosts | was on | now on | result |', '| ---: | --- | --- | --- |');
      for (const g of [...groups.values()].sort((a, b) => b.hosts - a.hosts))
        lines.push(`| ${g.hosts} | ${cell(g.from)} | ${cell(g.to)} | ${ICON[g.outcome]} |`);
      const stuck = h.hosts.filter((x) => x.outcome === 'failed' || x.outcome === 'no-good-release');
      if (stuck.length) {
        lines.push('', `**Not put back** (${stuck.length}):`, '');
        for (const x of stuck.slice(0, SMALL_FLEET))
          lines.push(`- ${mdCode(x.host)}: ${ICON[x.outcome]}${x.reason ? `: ${cell(x.reason)}` : ''}`);
        if (stuck.length > SMALL_FLEET)
          lines.push(`- … and ${stuck.length - SMALL_FLEET} more: the run log names each host and why.`);
      }
    }
    lines.push('');
  }
  if (o.git) {
    const pr = o.git.pullRequest;
    lines.push(`**Git:** ${cell(o.git.message)}${pr ? ` — [#${pr.number}](${pr.url})` : ''}`, '');
  }
  for (const e of o.errors) lines.push(`**Error:** ${cell(e)}`, '');
  if (o.rca)
    lines.push(
      `**RCA issue:** [#${o.rca.number}](${o.rca.url})${o.rca.commented ? ' (commented: it was already open)' : ''}`,
      '',
    );
  return fitMarkdown(
    lines.join('\n'),
    GITHUB_LIMITS.stepSummary,
    '… cut here to fit a step summary: the run log has every host.',
  );
}

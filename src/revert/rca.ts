// The root-cause-analysis issue: a pure builder (what happened, from reports and this run) and a
// thin GitHub side (open it, or comment on the open one for the same release).
import { SMALL_FLEET, formatDuration, hostList } from '../common/format.js';
import { mdCode, mdText } from '../common/markdown.js';
import type { GitHubClient } from '../github/client.js';
import { openedBy, tokenLogin } from '../github/identity.js';
import { GITHUB_LIMITS, fitMarkdown } from '../github/limits.js';
import type { HostsRevertReport } from './hosts.js';
import { httpLink } from '../common/url.js';
import type { GitRevertResult } from './git.js';
import { describeBreach, type BreachSummary, type ReportSet, type RolloutSummary } from './reports.js';

export interface RcaInput {
  repository: string;
  serverUrl: string;
  runUrl: string;
  /** The release(s) taken off the hosts (sorted, unique; may be empty for a git-only revert). */
  badReleases: string[];
  reasonText: string;
  /** Breaches given in `reason` (metric-watch's `breaches` output). */
  reasonBreaches: BreachSummary[];
  commits: string[];
  hosts: HostsRevertReport | null;
  git: GitRevertResult | null;
  reports: ReportSet;
  /** When auto-revert started (epoch ms). */
  startedAt: number;
}

export interface TimelineEntry {
  time: number;
  event: string;
}

/** The hidden marker that identifies the issue of one release, so a second run comments instead. */
export function rcaMarker(badReleases: readonly string[], commits: readonly string[]): string {
  const key = badReleases.length
    ? `release=${badReleases.join(',')}`
    : `commits=${commits.map((c) => c.slice(0, 12)).join(',')}`;
  return `<!-- fivestep-rca ${key} -->`;
}

const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
/** Text from reports, hosts and commit messages in the issue: one line, no markup, no mention. */
const cell = (s: string): string => mdText(s, 500);
/** At most this many breaches, and failed hosts, are listed; the reports have all. */
const LISTED = SMALL_FLEET;

/** Every event with a time, oldest first: deploy start, waves, bakes, breaches, the revert. */
export function buildTimeline(input: RcaInput): TimelineEntry[] {
  const t: TimelineEntry[] = [
    ...input.reports.rollouts.flatMap(rolloutEvents),
    ...watchEvents(input),
    { time: input.startedAt, event: 'auto-revert started' },
    ...revertEvents(input.hosts),
  ];
  return t.sort((a, b) => a.time - b.time);
}

function rolloutEvents(r: RolloutSummary): TimelineEntry[] {
  const t: TimelineEntry[] = [];
  if (r.startedAt !== undefined)
    t.push({ time: r.startedAt, event: `ssh-rollout of ${r.release || 'a release'} started` });
  for (const w of r.waves) {
    if (w.start !== undefined)
      t.push({
        time: w.start,
        event:
          `wave ${w.index} started: ` +
          `${w.hosts.length ? hostList(w.hosts, 'the rollout report names all', 10) : 'no hosts'}`,
      });
    if (w.end !== undefined) t.push({ time: w.end, event: `wave ${w.index} switched` });
    if (w.bake?.end !== undefined && w.bake.verdict)
      t.push({
        time: w.bake.end,
        event: `bake after wave ${w.index}: ${w.bake.verdict}${w.bake.detail ? ` (${w.bake.detail})` : ''}`,
      });
  }
  if (r.finishedAt !== undefined)
    t.push({
      time: r.finishedAt,
      event: `ssh-rollout finished: ${r.result || 'unknown'}${r.stopReason ? ` (${r.stopReason})` : ''}`,
    });
  return t;
}

function watchEvents(input: RcaInput): TimelineEntry[] {
  const t: TimelineEntry[] = [];
  for (const w of input.reports.watches) {
    if (w.startedAt !== undefined) t.push({ time: w.startedAt, event: 'metric-watch started' });
    if (w.endedAt !== undefined)
      t.push({
        time: w.endedAt,
        event: `metric-watch verdict: ${w.verdict || 'unknown'}${w.detail ? ` (${w.detail})` : ''}`,
      });
  }
  for (const b of distinctBreaches(input)) {
    if (b.since !== undefined && b.since !== b.when)
      t.push({ time: b.since, event: `first breaching sample: ${b.rule}${b.host ? ` on ${b.host}` : ''}` });
    if (b.when !== undefined) t.push({ time: b.when, event: `breach: ${describeBreach(b)}` });
  }
  return t;
}

function revertEvents(h: HostsRevertReport | null): TimelineEntry[] {
  if (!h) return [];
  if (h.timeToHealthyMs === undefined) return [{ time: Date.parse(h.finishedAt), event: `hosts: ${countOutcomes(h)}` }];
  const reverted = h.hosts.filter((x) => x.outcome === 'reverted');
  const after = `${formatDuration(h.timeToHealthyMs)} after the revert started`;
  const event = `last of ${reverted.length} reverted host(s) healthy (${after})`;
  return [{ time: Date.parse(h.startedAt) + h.timeToHealthyMs, event }];
}

/** The breaches of the metric-watch reports and of `reason`, each once (a report and `reason` may both name one). */
function distinctBreaches(input: RcaInput): BreachSummary[] {
  const seen = new Set<string>();
  return [...input.reports.watches.flatMap((w) => w.breaches), ...input.reasonBreaches].filter((b) => {
    const key = `${b.rule}|${b.host ?? ''}|${b.when ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function countOutcomes(h: HostsRevertReport): string {
  const counts = new Map<string, number>();
  for (const x of h.hosts) counts.set(x.outcome, (counts.get(x.outcome) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ');
}

/** Impact: from the first switch to the bad release (or the deploy start) to the last host healthy again. */
export function impactWindow(input: RcaInput): { start?: number; end?: number } {
  const starts = input.reports.rollouts
    .flatMap((r) => [r.waves[0]?.start ?? r.startedAt])
    .filter((x): x is number => x !== undefined);
  const breachStarts = [...input.reports.watches.flatMap((w) => w.breaches), ...input.reasonBreaches]
    .map((b) => b.since ?? b.when)
    .filter((x): x is number => x !== undefined);
  const start = starts.length ? Math.min(...starts) : breachStarts.length ? Math.min(...breachStarts) : undefined;
  const h = input.hosts;
  const end =
    h?.timeToHealthyMs !== undefined
      ? Date.parse(h.startedAt) + h.timeToHealthyMs
      : h
        ? Date.parse(h.finishedAt)
        : undefined;
  return { start, end };
}

export function rcaTitle(input: RcaInput): string {
  const what = input.badReleases.length
    ? `release ${input.badReleases.join(', ')}`
    : `commit ${input.commits.map((c) => c.slice(0, 7)).join(', ')}`;
  return `Incident: ${what} reverted (${iso(input.startedAt).slice(0, 10)})`;
}

/** What happened in this run, in a few lines (used in the issue and in a follow-up comment). */
function whatHappened(input: RcaInput): string[] {
  const out: string[] = [];
  const h = input.hosts;
  if (h) {
    const reverted = h.hosts.filter((x) => x.outcome === 'reverted');
    const bad = h.hosts.filter((x) => x.outcome === 'failed' || x.outcome === 'no-good-release');
    const took = h.timeToHealthyMs !== undefined ? formatDuration(h.timeToHealthyMs) : '';
    const healthy = took ? `; the last reverted host was healthy ${took} after the revert started` : '';
    out.push(`- **Hosts:** ${countOutcomes(h) || 'none'}${healthy}.`);
    // Grouped by what changed (at 2,000 hosts a line each would not fit an issue); every host is in the job summary.
    const moves = new Map<string, string[]>();
    for (const x of reverted) {
      const move = `${x.from} → ${x.to}`;
      moves.set(move, [...(moves.get(move) ?? []), x.host]);
    }
    for (const [move, names] of moves)
      out.push(
        `  - ${mdText(move, 300)}: ` +
          `${names.length > 1 ? `${names.length} hosts, ` : ''}${mdText(hostList(names, 'all in the job summary'))}`,
      );
    for (const x of bad.slice(0, LISTED)) out.push(`  - ${mdCode(x.host)}: **${x.outcome}**: ${cell(x.reason ?? '')}`);
    if (bad.length > LISTED)
      out.push(`  - … and ${bad.length - LISTED} more hosts not put back: the job summary lists them.`);
  }
  const g = input.git;
  if (g) {
    const pr = g.pullRequest;
    const text = pr ? cell(g.message).replace(`#\u200b${pr.number}`, `[#${pr.number}](${pr.url})`) : cell(g.message);
    out.push(`- **Git:** ${text}${!pr && g.revertSha ? ` (${commitLink(input, g.revertSha)})` : ''}.`);
  }
  return out;
}

function commitLink(input: RcaInput, sha: string): string {
  return `[\`${sha.slice(0, 7)}\`](${input.serverUrl}/${input.repository}/commit/${sha})`;
}

export function buildRcaBody(input: RcaInput): string {
  const out: string[] = [
    rcaMarker(input.badReleases, input.commits),
    '',
    ...summarySection(input),
    ...impactSection(input),
    ...timelineSection(input),
    ...breachSection(input),
    ...rolloutFailureSection(input),
    ...linksSection(input),
    ...FIVE_WHYS,
    ...ACTION_ITEMS,
    '_Opened by fivestep auto-revert. The bad release is marked bad on its hosts: no automatic rollback ' +
      'lands on it again._',
  ];
  return fitMarkdown(out.join('\n'), GITHUB_LIMITS.issueBody, cutLine(input, GITHUB_LIMITS.issueBody.what));
}

function summarySection(input: RcaInput): string[] {
  const what = input.badReleases.length ? `Release **${input.badReleases.join(', ')}**` : 'A deployment';
  const commits = input.commits.map((c) => commitLink(input, c)).join(', ') || 'unknown commits';
  return [
    '## Summary',
    '',
    `${what} of ${commits} was reverted automatically by fivestep auto-revert.`,
    '',
    `**Reason:** ${cell(input.reasonText) || '(none given)'}`,
    '',
    ...whatHappened(input),
    '',
  ];
}

function impactSection(input: RcaInput): string[] {
  const { start, end } = impactWindow(input);
  const window =
    start !== undefined && end !== undefined
      ? `From ${iso(start)} to ${iso(end)} (${formatDuration(Math.max(0, end - start))}).`
      : end !== undefined
        ? `Until ${iso(end)}; the start is unknown (pass the ssh-rollout and metric-watch reports in \`reports\`).`
        : 'Unknown: no host was reverted and no report gives times.';
  return ['## Impact window', '', window, '', 'Customer impact: _to fill in_ (users affected, revenue, errors).', ''];
}

function timelineSection(input: RcaInput): string[] {
  return [
    '## Timeline (UTC)',
    '',
    '| time | event |',
    '| --- | --- |',
    ...buildTimeline(input).map((e) => `| ${iso(e.time)} | ${cell(e.event)} |`),
    '',
  ];
}

function breachSection(input: RcaInput): string[] {
  const breaches = distinctBreaches(input);
  if (!breaches.length) return [];
  const v = (x: unknown) => (x === undefined || x === null ? '–' : cell(String(x)));
  const out = [
    '## Metrics that breached',
    '',
    '| rule | host | value | bound | baseline | when |',
    '| --- | --- | --- | --- | --- | --- |',
    ...breaches
      .slice(0, LISTED)
      .map(
        (b) =>
          `| ${cell(b.rule)} | ${v(b.host)} | ${v(b.value)} | ${v(b.bound)} | ${v(b.baseline)} | ` +
          `${b.when !== undefined ? iso(b.when) : '–'} |`,
      ),
  ];
  if (breaches.length > LISTED)
    out.push('', `… and ${breaches.length - LISTED} more breaches: the metric-watch reports have them all.`);
  out.push('', ...runbookLines(breaches));
  return out;
}

/** One line a rule that breached with a runbook: `- Runbook for <rule>: <link>`, and a blank line after them. */
function runbookLines(breaches: readonly BreachSummary[]): string[] {
  const byRule = new Map<string, string>();
  for (const b of breaches) if (b.runbook?.trim() && !byRule.has(b.rule)) byRule.set(b.rule, b.runbook.trim());
  if (byRule.size === 0) return [];
  const lines = [...byRule]
    .slice(0, LISTED)
    .map(([rule, runbook]) => `- Runbook for ${cell(rule)}: ${runbookMd(runbook)}`);
  return [...lines, ''];
}

/**
 * A runbook in the issue: untrusted text. An http(s) URL is a link (its text escaped, its target encoded so
 * nothing breaks out of it); anything else is text that opens nothing (no link, markup, HTML or mention).
 */
export function runbookMd(runbook: string): string {
  const href = httpLink(runbook);
  return href ? `[${cell(runbook)}](${href})` : cell(runbook);
}

function rolloutFailureSection(input: RcaInput): string[] {
  const failed = input.reports.rollouts.flatMap((r) => r.failedHosts);
  if (!failed.length) return [];
  const out = [
    '## Hosts that failed during the rollout',
    '',
    ...failed.slice(0, LISTED).map((f) => `- ${mdCode(f.host)}: ${cell(f.reason)}`),
  ];
  if (failed.length > LISTED)
    out.push(`- … and ${failed.length - LISTED} more: the ssh-rollout report lists them all.`);
  out.push('');
  return out;
}

function linksSection(input: RcaInput): string[] {
  const out = ['## Links', '', `- Run: ${input.runUrl}`];
  if (input.commits.length)
    out.push(`- Deployed commit(s): ${input.commits.map((c) => commitLink(input, c)).join(', ')}`);
  if (input.git?.revertSha) out.push(`- Revert commit: ${commitLink(input, input.git.revertSha)}`);
  if (input.git?.pullRequest) out.push(`- Revert pull request: #${input.git.pullRequest.number}`);
  out.push(...input.reports.skipped.map((s) => `- Report not used: ${cell(s)}`), '');
  return out;
}

/** For the humans to fill in. */
const FIVE_WHYS: readonly string[] = [
  '## Five whys',
  '',
  'Ask "why?" until the answer is a process, not a person. Each answer is the next question.',
  '',
  '1. Why did users see a problem? _…_',
  '2. Why did that happen? _…_',
  '3. Why? _…_',
  '4. Why? _…_',
  '5. Why? _…_',
  '',
  '**Root cause:** _…_',
  '',
];

const ACTION_ITEMS: readonly string[] = [
  '## Action items',
  '',
  'One fix per why, so each layer gets better:',
  '',
  '- [ ] Add a test that would have caught this (step 1: every bug fixed gets a new test)',
  '- [ ] Add or tighten a metric-watch rule that catches it sooner',
  '- [ ] Fix the root cause and redeploy (the bad release stays marked bad on the hosts)',
  '- [ ] _owner, date_',
  '',
];

const cutLine = (input: RcaInput, what: string): string =>
  `… cut here to fit ${what}: [the auto-revert run](${input.runUrl}) has the rest in its job summary and reports.`;

/** The follow-up comment when an open issue for the same release already exists. */
export function buildRcaComment(input: RcaInput): string {
  const text = [
    `auto-revert ran again at ${iso(input.startedAt)} (${input.runUrl}).`,
    '',
    `**Reason:** ${cell(input.reasonText) || '(none given)'}`,
    '',
    ...whatHappened(input),
  ].join('\n');
  return fitMarkdown(text, GITHUB_LIMITS.commentBody, cutLine(input, GITHUB_LIMITS.commentBody.what));
}

export interface RcaTarget {
  owner: string;
  repo: string;
  labels: string[];
}

export interface RcaResult {
  number: number;
  url: string;
  /** true when an open issue existed and got a comment. */
  commented: boolean;
}

/** Opens the issue, or comments on the open one with the same marker (the same release). */
export async function publishRca(client: GitHubClient, target: RcaTarget, input: RcaInput): Promise<RcaResult> {
  const marker = rcaMarker(input.badReleases, input.commits);
  // Only an issue this token opened is commented on: a stranger's issue with the marker is not ours.
  const login = await tokenLogin(client);
  const open = await client.paginate(client.rest.issues.listForRepo, {
    owner: target.owner,
    repo: target.repo,
    state: 'open',
    creator: login,
    ...(target.labels.length ? { labels: target.labels.join(',') } : {}),
    per_page: 100,
  });
  const existing = open.find((i) => !i.pull_request && openedBy(i, login) && (i.body ?? '').includes(marker));
  if (existing) {
    await client.rest.issues.createComment({
      owner: target.owner,
      repo: target.repo,
      issue_number: existing.number,
      body: buildRcaComment(input),
    });
    return { number: existing.number, url: existing.html_url, commented: true };
  }
  const created = await client.rest.issues.create({
    owner: target.owner,
    repo: target.repo,
    title: rcaTitle(input),
    body: buildRcaBody(input),
    labels: target.labels,
  });
  return { number: created.data.number, url: created.data.html_url, commented: false };
}

// Pure decisions about the tree: is the default branch red, since when, which commits broke it, and the
// texts the gate posts (tree status, red-main issue, the all-clear comment).

import { mdCode, mdText } from '../common/markdown.js';
import { GITHUB_LIMITS, clip, fitMarkdown, fits } from '../github/limits.js';

export type GateConclusion = 'success' | 'failure';

export interface CommitResult {
  sha: string;
  /** The gate's finished result on this commit; undefined when it has none (or it is still pending). */
  result?: GateConclusion;
  /** Where the result came from (the run), when known. */
  url?: string;
  message?: string;
  author?: string;
  login?: string;
}

export interface TreeState {
  state: 'open' | 'closed';
  /** False when no commit in the window has a finished result: the tree is open by default then. */
  known: boolean;
  /** The newest commit with a finished result. */
  at?: CommitResult;
  /** While closed: the oldest commit of the current red streak. */
  since?: CommitResult;
  /** While closed: the newest green commit before the streak, when it is within the window. */
  lastGreen?: CommitResult;
  /** While closed: the commits after `lastGreen` up to and including `since`, oldest first: where the break came in. */
  suspects: CommitResult[];
}

/**
 * The tree from the default branch's history, newest first: the newest finished result decides; commits
 * without one (skipped runs, runs still going) are passed over.
 */
export function treeFromHistory(history: readonly CommitResult[]): TreeState {
  const first = history.findIndex((c) => c.result !== undefined);
  if (first === -1) return { state: 'open', known: false, suspects: [] };
  const at = history[first];
  if (at.result === 'success') return { state: 'open', known: true, at, suspects: [] };
  let since = at;
  let greenIndex = -1;
  for (let i = first + 1; i < history.length; i++) {
    const c = history[i];
    if (c.result === 'success') {
      greenIndex = i;
      break;
    }
    if (c.result === 'failure') since = c;
  }
  const sinceIndex = history.indexOf(since);
  const end = greenIndex === -1 ? history.length : greenIndex;
  // Commits between the last green and the first red one (inclusive) had no result of their own: any of them may be
  // the cause.
  const suspects = history.slice(sinceIndex, end).reverse();
  return {
    state: 'closed',
    known: true,
    at,
    since,
    lastGreen: greenIndex === -1 ? undefined : history[greenIndex],
    suspects,
  };
}

export const short = (sha: string): string => sha.slice(0, 7);

export interface StatusText {
  state: 'success' | 'failure';
  description: string;
  targetUrl?: string;
}

/** The `<check-name>/tree` commit status on a pull request's head. */
export function treeStatus(
  tree: TreeState,
  o: { branch: string; overridden: boolean; overrideLabel: string; commitUrl: (sha: string) => string },
): StatusText {
  if (tree.state === 'open') {
    const description = tree.at
      ? `tree open: ${o.branch} is green at ${short(tree.at.sha)}`
      : `tree open: no gate result on ${o.branch} yet`;
    return {
      state: 'success',
      description,
      targetUrl: tree.at ? (tree.at.url ?? o.commitUrl(tree.at.sha)) : undefined,
    };
  }
  const since = tree.since ?? tree.at!;
  const link = since.url ?? o.commitUrl(since.sha);
  if (o.overridden) {
    return {
      state: 'success',
      description: fit(
        `tree closed (${o.branch} red since ${short(since.sha)}), overridden by label '${o.overrideLabel}'`,
      ),
      targetUrl: link,
    };
  }
  const full = `tree closed: ${o.branch} is red since ${short(since.sha)}, ${link}`;
  // GitHub rejects descriptions over 140 characters; the link stays reachable as the status's target URL.
  const description = fits(full, GITHUB_LIMITS.statusDescription)
    ? full
    : fit(`tree closed: ${o.branch} is red since ${short(since.sha)}`);
  return { state: 'failure', description, targetUrl: link };
}

function fit(s: string): string {
  return clip(s, GITHUB_LIMITS.statusDescription);
}

export interface FailingTest {
  id: string;
  file?: string;
  line?: number;
  message?: string;
}

export interface IssueContext {
  checkName: string;
  branch: string;
  repository: string;
  serverUrl: string;
  runUrl: string;
  overrideLabel: string;
}

/** Hidden in the issue body, so the gate finds its own issue again without labels or search. */
export const redMainMarker = (checkName: string): string => `<!-- fivestep:test-gate:red-main:${checkName} -->`;

const MAX_LISTED = 50;

export function redMainIssue(
  tree: TreeState,
  current: CommitResult,
  failing: readonly FailingTest[],
  ctx: IssueContext,
): { title: string; body: string } {
  const since = tree.since ?? current;
  const commitLink = (sha: string): string => `[\`${short(sha)}\`](${ctx.serverUrl}/${ctx.repository}/commit/${sha})`;
  const lines: string[] = [redMainMarker(ctx.checkName)];
  lines.push(
    `${mdCode(ctx.branch)} is red since ${commitLink(since.sha)}: \`${ctx.checkName}\` fails ([latest ` +
      `run](${ctx.runUrl}), at ${commitLink(current.sha)}).`,
    '',
    `The tree is closed: pull requests cannot merge until \`${ctx.branch}\` is green again, except the fix, ` +
      `which carries the \`${ctx.overrideLabel}\` label. This issue closes itself when the gate passes on ` +
      `\`${ctx.branch}\`.`,
    '',
    '## Breaking commit range',
    '',
  );
  if (tree.lastGreen) {
    lines.push(
      `Last green: ${commitLink(tree.lastGreen.sha)}. ` +
        `[Compare](${ctx.serverUrl}/${ctx.repository}/compare/${tree.lastGreen.sha}...${since.sha}).`,
      '',
    );
  } else {
    lines.push('No green commit in the window the gate looked at.', '');
  }
  const suspects = tree.suspects.length > 0 ? tree.suspects : [since];
  lines.push('| commit | author | message |', '| --- | --- | --- |');
  for (const c of suspects.slice(-MAX_LISTED)) {
    lines.push(`| ${commitLink(c.sha)} | ${authorOf(c) ?? ''} | ${mdText(firstLine(c.message ?? ''), 120)} |`);
  }
  lines.push('', `## Failing tests (at ${short(current.sha)})`, '');
  if (failing.length === 0) lines.push('The command failed without a JUnit report naming tests; see the run log.');
  for (const t of failing.slice(0, MAX_LISTED)) {
    const where = t.file ? ` — ${mdCode(`${t.file}${t.line ? `:${t.line}` : ''}`)}` : '';
    lines.push(`- ${mdCode(t.id)}${where}${t.message ? `: ${mdText(firstLine(t.message), 200)}` : ''}`);
  }
  if (failing.length > MAX_LISTED) lines.push(`- … and ${failing.length - MAX_LISTED} more (see the check run)`);
  const authors = [...new Set(suspects.map(authorOf).filter((a): a is string => !!a))];
  lines.push('', '## Authors', '', authors.length > 0 ? `${authors.join(', ')}: please take a look.` : 'Unknown.');
  lines.push(
    '',
    '## Five whys',
    '',
    'Fill these in once the tree is open again; each answer is the next question.',
    '',
    '1. Why did the tests fail on the default branch?',
    '2. Why?',
    '3. Why?',
    '4. Why?',
    '5. Why?',
    '',
    '**Root cause:**',
    '',
    '**Action items** (each bug fixed gets a test):',
    '',
    '- [ ] ',
  );
  return {
    title: `${ctx.branch} is red: ${ctx.checkName} failing since ${short(since.sha)}`,
    body: fitMarkdown(
      lines.join('\n'),
      GITHUB_LIMITS.issueBody,
      `… cut here to fit ${GITHUB_LIMITS.issueBody.what}: the check run of [the latest run](${ctx.runUrl}) ` +
        `has every failing test.`,
    ),
  };
}

export function stillRedComment(current: CommitResult, failing: readonly FailingTest[], ctx: IssueContext): string {
  return (
    `Still red at [\`${short(current.sha)}\`](${ctx.serverUrl}/${ctx.repository}/commit/${current.sha}): ` +
    `${failing.length} failing test(s). [Run](${ctx.runUrl}).`
  );
}

export function greenComment(current: CommitResult, ctx: IssueContext, reopenedPulls: number): string {
  return [
    `\`${ctx.branch}\` is green again at ` +
      `[\`${short(current.sha)}\`](${ctx.serverUrl}/${ctx.repository}/commit/${current.sha}) ` +
      `([run](${ctx.runUrl})). The tree is open` +
      (reopenedPulls > 0 ? `; the tree status of ${reopenedPulls} open pull request(s) is green again.` : '.'),
    '',
    'Closing. Please finish the five whys above and link the test that now guards against this failure.',
  ].join('\n');
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

/** GitHub's login of a suspect commit's author is mentioned (asked to look); a name from git is only text. */
function authorOf(c: CommitResult): string | undefined {
  if (c.login && LOGIN.test(c.login)) return `@${c.login}`;
  return c.author ? mdText(c.author, 100) : undefined;
}
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

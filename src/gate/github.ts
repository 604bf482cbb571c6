// The GitHub side of the gate: check runs, commit statuses, the tree state read from the default branch,
// tree statuses on open pull requests, the red-main issue, and the bug-needs-test rule.
import { minimatch } from 'minimatch';
import { mdBlock } from '../common/markdown.js';
import { openedBy, tokenLogin } from '../github/identity.js';
import type { GitHubClient } from '../github/client.js';
import type { Logger } from '../common/logger.js';
import { oneLine } from '../common/text.js';
import { batches, type Annotation } from './report.js';
import { redMainMarker, type CommitResult, type GateConclusion, type StatusText } from './tree.js';

export interface Repo {
  owner: string;
  repo: string;
}

export async function defaultBranch(
  client: GitHubClient,
  repo: Repo,
  payload: { repository?: { default_branch?: string } },
): Promise<string> {
  const fromEvent = payload?.repository?.default_branch;
  if (fromEvent) return fromEvent;
  return (await client.rest.repos.get({ ...repo })).data.default_branch;
}

export async function startCheckRun(
  client: GitHubClient,
  repo: Repo,
  o: { name: string; headSha: string; detailsUrl?: string },
): Promise<number> {
  const res = await client.rest.checks.create({
    ...repo,
    name: o.name,
    head_sha: o.headSha,
    status: 'in_progress',
    started_at: new Date().toISOString(),
    details_url: o.detailsUrl,
  });
  return res.data.id;
}

/**
 * Completes the check run. GitHub takes at most 50 annotations per request and appends those of each
 * update, so the first batch goes with the conclusion and the rest follow in updates of 50.
 */
export async function finishCheckRun(
  client: GitHubClient,
  repo: Repo,
  id: number | undefined,
  o: {
    name: string;
    headSha: string;
    detailsUrl?: string;
    conclusion: GateConclusion;
    title: string;
    summary: string;
    annotations: Annotation[];
    onCompleted?: () => void;
  },
): Promise<number> {
  const [first = [], ...rest] = batches(o.annotations);
  const output = { title: o.title, summary: o.summary };
  const completed = {
    status: 'completed' as const,
    conclusion: o.conclusion,
    completed_at: new Date().toISOString(),
    output: { ...output, annotations: first },
  };
  let checkRunId = id;
  if (checkRunId === undefined) {
    checkRunId = (
      await client.rest.checks.create({
        ...repo,
        name: o.name,
        head_sha: o.headSha,
        details_url: o.detailsUrl,
        ...completed,
      })
    ).data.id;
  } else {
    await client.rest.checks.update({ ...repo, check_run_id: checkRunId, ...completed });
  }
  // Completed: a later batch of annotations that fails leaves the conclusion posted.
  o.onCompleted?.();
  for (const batch of rest)
    await client.rest.checks.update({ ...repo, check_run_id: checkRunId, output: { ...output, annotations: batch } });
  return checkRunId;
}

/**
 * The gate failed after it created its check run (or, with no `id`, before it could post one in mode
 * publish): the check run is completed as a failure whose summary says so, and why in one line. Left
 * `in_progress`, it would hold the pull request with no reason given.
 */
export async function failCheckRun(
  client: GitHubClient,
  repo: Repo,
  id: number | undefined,
  o: { name: string; headSha: string; detailsUrl?: string; reason: string },
): Promise<void> {
  // A code block: nothing in the error (a test name, a path) is read as Markdown, a link or a mention.
  const summary =
    `## ❌ ${o.name}: the gate failed\n\nIt stopped before it could report the tests, with ` +
    `this error (the run log has the rest):\n\n${mdBlock(oneLine(o.reason, 1000))}\n`;
  const completed = {
    status: 'completed' as const,
    conclusion: 'failure' as const,
    completed_at: new Date().toISOString(),
    output: { title: 'the gate failed', summary },
  };
  if (id === undefined)
    await client.rest.checks.create({
      ...repo,
      name: o.name,
      head_sha: o.headSha,
      details_url: o.detailsUrl,
      ...completed,
    });
  else await client.rest.checks.update({ ...repo, check_run_id: id, ...completed });
}

export async function setStatus(
  client: GitHubClient,
  repo: Repo,
  sha: string,
  context: string,
  s: StatusText | { state: 'pending'; description: string; targetUrl?: string },
): Promise<void> {
  await client.rest.repos.createCommitStatus({
    ...repo,
    sha,
    context,
    state: s.state,
    description: s.description,
    target_url: s.targetUrl,
  });
}

/** The gate's finished result on one commit: its commit status named `checkName`, else its check run. */
export async function gateResult(
  client: GitHubClient,
  repo: Repo,
  sha: string,
  checkName: string,
): Promise<{ result?: GateConclusion; url?: string }> {
  const statuses = (await client.rest.repos.listCommitStatusesForRef({ ...repo, ref: sha, per_page: 100 })).data;
  const status = statuses.find((s) => s.context === checkName); // newest first
  if (status && status.state !== 'pending')
    return { result: status.state === 'success' ? 'success' : 'failure', url: status.target_url ?? undefined };
  const runs = (
    await client.rest.checks.listForRef({ ...repo, ref: sha, check_name: checkName, filter: 'latest', per_page: 10 })
  ).data.check_runs;
  const run = runs.find(
    (r) =>
      r.status === 'completed' &&
      r.conclusion !== 'cancelled' &&
      String(r.conclusion) !== 'skipped' &&
      String(r.conclusion) !== 'stale',
  );
  if (!run) return {};
  const ok = run.conclusion === 'success' || run.conclusion === 'neutral';
  return { result: ok ? 'success' : 'failure', url: run.details_url ?? run.html_url ?? undefined };
}

/**
 * A branch's commits, newest first, with the gate's result on each, read until the first green one (what
 * the tree needs) or `depth` commits. `skipResultOf` is a commit whose result the caller already knows.
 */
export async function branchHistory(
  client: GitHubClient,
  repo: Repo,
  ref: string,
  checkName: string,
  o: { depth: number; skipResultOf?: string },
): Promise<CommitResult[]> {
  let commits;
  try {
    commits = (await client.rest.repos.listCommits({ ...repo, sha: ref, per_page: Math.min(100, o.depth) })).data;
  } catch (err) {
    // An empty repository (409) or a branch not pushed yet has no history: no result, the tree is open.
    if ([404, 409, 422].includes((err as { status?: number }).status ?? 0)) return [];
    throw err;
  }
  const out: CommitResult[] = [];
  for (const c of commits) {
    const entry: CommitResult = {
      sha: c.sha,
      message: c.commit.message,
      author: c.commit.author?.name ?? undefined,
      login: c.author?.login ?? undefined,
    };
    out.push(entry);
    if (c.sha === o.skipResultOf) continue;
    Object.assign(entry, await gateResult(client, repo, c.sha, checkName));
    if (entry.result === 'success') break;
  }
  return out;
}

export async function labelsOf(client: GitHubClient, repo: Repo, number: number): Promise<string[]> {
  const labels = await client.paginate(client.rest.issues.listLabelsOnIssue, {
    ...repo,
    issue_number: number,
    per_page: 100,
  });
  return labels.map((l) => l.name);
}

export async function changedFiles(client: GitHubClient, repo: Repo, number: number): Promise<string[]> {
  const files = await client.paginate(client.rest.pulls.listFiles, { ...repo, pull_number: number, per_page: 100 });
  // A rename counts for both names: moving a test is touching a test.
  return files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]));
}

export interface OpenPull {
  number: number;
  headSha: string;
  labels: string[];
}

export async function openPulls(client: GitHubClient, repo: Repo, base: string): Promise<OpenPull[]> {
  const pulls = await client.paginate(client.rest.pulls.list, { ...repo, state: 'open', base, per_page: 100 });
  return pulls.map((p) => ({ number: p.number, headSha: p.head.sha, labels: p.labels.map((l) => l.name) }));
}

/** What a `workflow_run` event says about the run that triggered it (the fields publish uses). */
export interface TriggeringRun {
  id: number;
  event: string;
  conclusion: string | null;
  headSha: string;
  headBranch: string;
  /** owner/name of the repository the head is in: a fork's for a fork's pull request. */
  headRepository: string;
  htmlUrl?: string;
  /** Same-repository pull requests only: GitHub leaves this empty for a fork's. */
  pullRequests: { number: number; headSha: string; baseRef: string }[];
}

export interface PullRef {
  number: number;
  baseRef: string;
  labels: string[];
}

/**
 * The open pull request whose head is the triggering run's commit. A fork's is not in the event, so it is
 * looked up by its head label (`owner:branch`), and only a pull request whose head is that very commit counts.
 */
export async function findPullForRun(
  client: GitHubClient,
  repo: Repo,
  run: TriggeringRun,
): Promise<PullRef | undefined> {
  const listed = run.pullRequests.find((p) => p.headSha === run.headSha);
  if (listed) {
    const p = (await client.rest.pulls.get({ ...repo, pull_number: listed.number })).data;
    return { number: p.number, baseRef: p.base.ref, labels: p.labels.map((l) => l.name) };
  }
  const owner = run.headRepository.split('/')[0];
  const pulls = await client.paginate(client.rest.pulls.list, {
    ...repo,
    state: 'open',
    head: `${owner}:${run.headBranch}`,
    per_page: 100,
  });
  const p = pulls.find((x) => x.head.sha === run.headSha);
  return p ? { number: p.number, baseRef: p.base.ref, labels: p.labels.map((l) => l.name) } : undefined;
}

/** The zip of the triggering run's artifact `name`; undefined when the run has no such (unexpired) artifact. */
export async function downloadRunArtifact(
  client: GitHubClient,
  repo: Repo,
  runId: number,
  name: string,
): Promise<{ zip: Uint8Array; id: number } | { missing: string }> {
  const { data } = await client.rest.actions.listWorkflowRunArtifacts({ ...repo, run_id: runId, name, per_page: 100 });
  const artifact = data.artifacts.find((a) => a.name === name && !a.expired);
  if (!artifact) {
    const expired = data.artifacts.some((a) => a.name === name);
    return {
      missing: expired
        ? `the artifact '${name}' of run ${runId} has expired`
        : `run ${runId} has no artifact named '${name}'`,
    };
  }
  // The API answers with a redirect to a signed storage URL; fetch follows it without the token.
  const res = await client.rest.actions.downloadArtifact({ ...repo, artifact_id: artifact.id, archive_format: 'zip' });
  return { zip: new Uint8Array(res.data as ArrayBuffer), id: artifact.id };
}

export interface IssueRef {
  number: number;
  html_url: string;
}

/**
 * The gate's own open red-main issue: opened with this token (its author is the token's login) and
 * holding the marker. An issue a stranger wrote with the marker is never taken for it.
 */
export async function findRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
): Promise<IssueRef | undefined> {
  const marker = redMainMarker(checkName);
  const login = await tokenLogin(client);
  for await (const page of client.paginate.iterator(client.rest.issues.listForRepo, {
    ...repo,
    state: 'open',
    creator: login,
    per_page: 100,
  })) {
    const hit = page.data.find((i) => !i.pull_request && openedBy(i, login) && (i.body ?? '').includes(marker));
    if (hit) return { number: hit.number, html_url: hit.html_url };
  }
  return undefined;
}

export async function openOrUpdateRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
  issue: { title: string; body: string },
  comment: string,
  logger: Logger,
): Promise<IssueRef> {
  const existing = await findRedMainIssue(client, repo, checkName);
  if (existing) {
    await client.rest.issues.update({ ...repo, issue_number: existing.number, title: issue.title, body: issue.body });
    await client.rest.issues.createComment({ ...repo, issue_number: existing.number, body: comment });
    logger.info(`updated the red-main issue #${existing.number}: ${existing.html_url}`);
    return existing;
  }
  const created = (await client.rest.issues.create({ ...repo, title: issue.title, body: issue.body })).data;
  logger.info(`opened the red-main issue #${created.number}: ${created.html_url}`);
  return { number: created.number, html_url: created.html_url };
}

export async function closeRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
  comment: string,
  logger: Logger,
): Promise<IssueRef | undefined> {
  const existing = await findRedMainIssue(client, repo, checkName);
  if (!existing) return undefined;
  await client.rest.issues.createComment({ ...repo, issue_number: existing.number, body: comment });
  await client.rest.issues.update({
    ...repo,
    issue_number: existing.number,
    state: 'closed',
    state_reason: 'completed',
  });
  logger.info(`closed the red-main issue #${existing.number}: ${existing.html_url}`);
  return existing;
}

export interface BugRuleResult {
  /** The pull request carries a bug label. */
  applies: boolean;
  ok: boolean;
  message: string;
  testFiles: string[];
}

/** Pure: a pull request labelled as a bug fix must change at least one file matching `testPaths`. */
export function bugRule(
  labels: readonly string[],
  files: readonly string[],
  o: { bugLabels: readonly string[]; testPaths: readonly string[] },
): BugRuleResult {
  const wanted = new Set(o.bugLabels.map((l) => l.toLowerCase()));
  const bugLabel = labels.find((l) => wanted.has(l.toLowerCase()));
  if (!bugLabel) return { applies: false, ok: true, message: 'not labelled as a bug fix', testFiles: [] };
  const testFiles = files.filter((f) => o.testPaths.some((p) => minimatch(f, p, { dot: true })));
  if (testFiles.length > 0) {
    return {
      applies: true,
      ok: true,
      message: `bug fix with a test: ${testFiles.slice(0, 5).join(', ')}${testFiles.length > 5 ? ', …' : ''}`,
      testFiles,
    };
  }
  return {
    applies: true,
    ok: false,
    message:
      `this pull request is labelled '${bugLabel}' but changes no test: every bug fixed gets a new ` +
      `test. Add one that fails without the fix (files matching test-paths: ${o.testPaths.join(', ')}).`,
    testFiles,
  };
}

/** Why a write is usually refused, per mode: what the job's token needs. */
export const PERMISSION_HINTS = {
  run:
    "the token needs 'checks: write', 'statuses: write', 'issues: write' and 'pull-requests: read'; a " +
    'pull request from a fork gets a read-only token: use mode save and publish, see the README',
  publish:
    "the workflow_run job's token needs 'checks: write', 'statuses: write', 'pull-requests: read' and 'actions: read'",
} as const;

/** Explains the usual reason a write is refused, so the log says what to change. */
export function describeApiError(err: unknown, hint: string = PERMISSION_HINTS.run): string {
  const e = err as { status?: number; message?: string };
  const base = e.status ? `${e.status} ${e.message ?? ''}`.trim() : String(e?.message ?? err);
  return e.status === 403 || e.status === 404 ? `${base} (${hint})` : base;
}

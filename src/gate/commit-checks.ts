// The gate's marks on a commit: its check run (started, completed with its annotations, or failed with the
// reason) and its commit statuses (the gate's own and the tree's).
import { mdBlock } from '../common/markdown.js';
import { oneLine } from '../common/text.js';
import type { GitHubClient } from '../github/client.js';
import type { Repo } from './github.js';
import { batches, type Annotation } from './report.js';
import type { GateConclusion, StatusText } from './tree.js';

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
  const checkRunId = await postCompleted(client, repo, id, o, completed);
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
  await postCompleted(client, repo, id, o, completed);
}

/** What a check run update sets besides which run it is (status, conclusion, output…). */
type CheckRunFields = Omit<
  NonNullable<Parameters<GitHubClient['rest']['checks']['update']>[0]>,
  'owner' | 'repo' | 'check_run_id'
>;

/** A completed check run: the one this gate created (`id`) updated, or a new one when there is none. */
async function postCompleted(
  client: GitHubClient,
  repo: Repo,
  id: number | undefined,
  o: { name: string; headSha: string; detailsUrl?: string },
  completed: CheckRunFields,
): Promise<number> {
  if (id !== undefined) {
    await client.rest.checks.update({ ...repo, check_run_id: id, ...completed });
    return id;
  }
  const created = await client.rest.checks.create({
    ...repo,
    name: o.name,
    head_sha: o.headSha,
    details_url: o.detailsUrl,
    ...completed,
  });
  return created.data.id;
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

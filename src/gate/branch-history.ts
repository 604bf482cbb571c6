// The gate's results read back from GitHub: on one commit (its commit status, else its check run), and
// along a branch's newest commits, which is what the tree state is decided from.
import type { GitHubClient } from '../github/client.js';
import type { Repo } from './github.js';
import type { CommitResult, GateConclusion } from './tree.js';

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

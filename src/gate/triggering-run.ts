// What publish mode reads about the workflow run that triggered it: the pull request its commit is the
// head of (a fork's too), and the artifact the untrusted run saved its result in.
import type { GitHubClient } from '../github/client.js';
import type { Repo } from './github.js';

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

// The commit side of auto-revert: one revert commit for the deployed commits, pushed to the branch
// or to a new branch with a pull request. revertCommits reads the facts through GitRepo's verbs
// (git-repo.ts: git runs through execFile with argv arrays only, no input ever reaches a shell),
// decides with the pure guard rails (guard-rails.ts), then acts through the verbs.
import type { Logger } from '../common/logger.js';
import type { GitHubClient } from '../github/client.js';
import { revertBranch, revertMessage, revertPullRequestText, subjectOf } from './git-message.js';
import { GitError, GitRepo, type CommitInfo } from './git-repo.js';
import {
  DAY_MS,
  decideGuardRails,
  parseAutoReverts,
  refusals,
  type EarlierReverts,
  type OpenRevertPullRequest,
} from './guard-rails.js';

// The pure parts, where callers and tests have always found them.
export { AUTO_REVERT_TRAILER, parseTrailers, revertBranch, revertMessage } from './git-message.js';
export type { RevertMessageInput } from './git-message.js';
export { GitError, type CommitInfo } from './git-repo.js';
export { findExistingRevert, parseAutoReverts, refusal, revertsInLastDay } from './guard-rails.js';
export type { AutoRevertRecord } from './guard-rails.js';

/** User tokens start a workflow run on push; the workflow's own GITHUB_TOKEN does not (and looks like an App token). */
export function tokenWarning(token: string, mode: 'push' | 'pull-request'): string | null {
  if (/^(ghp_|github_pat_|gho_|ghu_)/.test(token)) return null;
  const what = mode === 'push' ? 'the pushed revert commit' : 'the revert pull request';
  return (
    `if github-token is the workflow's default GITHUB_TOKEN, ${what} starts no workflow run ` +
    '(GitHub does not trigger workflows from it), so the revert is not tested or deployed automatically; ' +
    'pass a GitHub App installation token (actions/create-github-app-token) or a personal access token to have it run'
  );
}

export interface GitRevertOptions {
  /** The checked-out repository. */
  cwd: string;
  /** Oldest first: SHAs or other revisions. */
  commits: string[];
  reason: string;
  runUrl: string;
  mode: 'push' | 'pull-request';
  /** The branch the commits are on (push target, PR base); '' = the checked-out branch. */
  branch: string;
  maxRevertsPerDay: number;
  /** For an https remote: sent as the auth header of fetch/push. '' = what checkout persisted. */
  token: string;
  /** e.g. https://github.com: the remote the token belongs to. */
  serverUrl: string;
  owner: string;
  repo: string;
  remote?: string;
}

export type GitRevertStatus = 'pushed' | 'pull-request' | 'already-reverted' | 'refused' | 'rate-limited';

export interface GitRevertResult {
  status: GitRevertStatus;
  /** Full SHAs reverted (or refused). */
  commits: string[];
  /** The revert commit (new, or the earlier one that already covers these commits). */
  revertSha?: string;
  pullRequest?: { number: number; url: string };
  branch?: string;
  message: string;
}

export interface GitDeps {
  logger: Logger;
  /** Needed for pull-request mode. */
  github?: GitHubClient;
  now?: () => number;
}

/** What one run works with: the options, resolved, and its collaborators. */
interface RevertRun {
  repo: GitRepo;
  options: GitRevertOptions;
  remote: string;
  /** The branch the commits are on: the push target, the PR base. */
  target: string;
  deps: GitDeps;
  now: () => number;
}

export async function revertCommits(options: GitRevertOptions, deps: GitDeps): Promise<GitRevertResult> {
  const now = deps.now ?? Date.now;
  const remote = options.remote ?? 'origin';
  const repo = await GitRepo.open(options.cwd, { remote, token: options.token });
  const target = options.branch || (await checkedOutBranch(repo));
  const run: RevertRun = { repo, options, remote, target, deps, now };
  if (await repo.isShallow()) {
    // actions/checkout fetches one commit by default: a revert needs parents, the limit needs a day of history.
    deps.logger.info('Shallow clone: fetching more history (set fetch-depth: 0 on actions/checkout to skip this)');
    await repo.deepen(remote, target, new Date(now() - 2 * DAY_MS));
  }
  // Read the facts before changing anything. A refusal needs only the commits: then neither the
  // history nor GitHub is read.
  const commits = await readCommits(repo, options.commits);
  const shas = commits.map((c) => c.sha);
  const earlier = refusals(commits).length ? undefined : await readEarlierReverts(run, revertBranch(shas));
  const decision = decideGuardRails({ commits, earlier });
  if (decision.status !== 'go') return { ...decision, commits: shas };
  return makeRevert(run, commits);
}

/** Commits the revert, then pushes it (push mode) or opens its pull request. */
async function makeRevert(run: RevertRun, commits: readonly CommitInfo[]): Promise<GitRevertResult> {
  const { repo, options } = run;
  const shas = commits.map((c) => c.sha);
  await checkRevertable(repo, commits);
  const original = (await repo.currentBranch()) || (await repo.headSha());
  const restore = async (): Promise<void> => {
    if (options.mode === 'pull-request') await repo.forceCheckout(original);
  };
  // In pull-request mode the commit is made on its own branch: the job's checkout stays as it was.
  if (options.mode === 'pull-request') await repo.checkoutNewBranch(revertBranch(shas));
  if (!(await commitRevert(run, commits, restore))) {
    await restore();
    const message = 'the changes of these commits are already undone on the branch: nothing to commit';
    return { status: 'already-reverted', commits: shas, message };
  }
  const revertSha = await repo.headSha();
  if (options.mode === 'pull-request') return openRevertPullRequest(run, commits, revertSha, restore);
  await pushWithOneRebase(run, revertSha);
  const sha = await repo.headSha();
  const message = `pushed revert ${sha.slice(0, 7)} to ${run.target}`;
  return { status: 'pushed', commits: shas, revertSha: sha, branch: run.target, message };
}

async function checkedOutBranch(repo: GitRepo): Promise<string> {
  const branch = await repo.currentBranch();
  if (branch) return branch;
  throw new Error('cannot tell which branch to revert on: HEAD is detached and the run is not on a branch push');
}

/** Resolves and reads every commit before anything changes. */
async function readCommits(repo: GitRepo, revs: readonly string[]): Promise<CommitInfo[]> {
  const commits: CommitInfo[] = [];
  for (const rev of revs) {
    const sha = await repo.resolveCommit(rev);
    if (sha === null) {
      const hint = 'is actions/checkout run before, with enough fetch-depth?';
      throw new Error(`commit ${rev} is not in the checked-out repository (${hint})`);
    }
    commits.push(await repo.readCommit(sha));
  }
  return commits;
}

/** Our reverts of the last 30 days and, in pull-request mode, the open PR of an earlier run. */
async function readEarlierReverts(run: RevertRun, branch: string): Promise<EarlierReverts> {
  const autoReverts = parseAutoReverts(await run.repo.logSince(run.now() - 30 * DAY_MS));
  const openPullRequest = run.options.mode === 'pull-request' ? await findOpenPullRequest(run, branch) : null;
  return { openPullRequest, autoReverts, now: run.now(), maxRevertsPerDay: run.options.maxRevertsPerDay };
}

function gitHubOf(deps: GitDeps): GitHubClient {
  if (!deps.github) throw new Error('pull-request mode needs a GitHub client');
  return deps.github;
}

async function findOpenPullRequest(run: RevertRun, branch: string): Promise<OpenRevertPullRequest | null> {
  const { owner, repo } = run.options;
  const open = await gitHubOf(run.deps).rest.pulls.list({
    owner,
    repo,
    state: 'open',
    head: `${owner}:${branch}`,
    per_page: 10,
  });
  const pr = open.data.find((p) => p.head.ref === branch);
  return pr ? { number: pr.number, url: pr.html_url, headSha: pr.head.sha, branch } : null;
}

/** Every commit is in HEAD's history and the tree is clean: the revert can start. */
async function checkRevertable(repo: GitRepo, commits: readonly CommitInfo[]): Promise<void> {
  for (const c of commits) {
    if (!(await repo.isAncestor(c.sha, 'HEAD'))) {
      throw new Error(`commit ${c.sha.slice(0, 7)} is not in the history of the checked-out HEAD`);
    }
  }
  const dirty = await repo.trackedChanges();
  if (dirty) throw new Error(`the working tree has uncommitted changes; auto-revert needs a clean checkout:\n${dirty}`);
}

const messageInput = (run: RevertRun, commits: readonly CommitInfo[]) => ({
  commits: commits.map((c) => ({ sha: c.sha, subject: subjectOf(c.message) })),
  reason: run.options.reason,
  runUrl: run.options.runUrl,
});

/** Reverts the commits into one commit on HEAD; false when they change nothing any more. */
async function commitRevert(
  run: RevertRun,
  commits: readonly CommitInfo[],
  restore: () => Promise<void>,
): Promise<boolean> {
  try {
    // Newest first, so each revert applies to the tree the later commits left.
    for (const c of [...commits].reverse()) await revertOne(run.repo, c);
    if (!(await run.repo.hasStagedChanges())) return false;
    await run.repo.commit(revertMessage(messageInput(run, commits)));
    return true;
  } catch (err) {
    await run.repo.resetMerge();
    await restore();
    throw err;
  }
}

async function revertOne(repo: GitRepo, commit: CommitInfo): Promise<void> {
  const r = await repo.revertNoCommit(commit.sha, commit.parents.length > 1 ? 1 : undefined);
  if (r.code === 0) return;
  const conflicts = await repo.conflictedFiles();
  await repo.abortRevert();
  const detail = conflicts.length ? `conflicts in ${conflicts.join(', ')}` : r.stderr.trim();
  throw new Error(`git revert of ${commit.sha.slice(0, 7)} does not apply cleanly: ${detail}`);
}

async function pushWithOneRebase(run: RevertRun, sha: string): Promise<void> {
  const { repo, remote, target } = run;
  const first = await repo.tryPush(remote, target);
  if (first.code === 0) return;
  const rejected = /rejected|non-fast-forward|fetch first/i.test(first.stderr);
  if (!rejected) throw new GitError(['push'], first.code, first.stderr);
  // Someone pushed meanwhile: replay the revert on top once, then give up loudly.
  run.deps.logger.info(`push of ${sha.slice(0, 7)} rejected (the branch moved); rebasing once`);
  await repo.fetch(remote, target);
  const rebase = await repo.rebase('FETCH_HEAD');
  if (rebase.code !== 0) {
    await repo.abortRebase();
    throw new Error(`the revert does not apply on top of the new ${target}: ${rebase.stderr.trim()}`);
  }
  await repo.push(remote, target);
}

async function openRevertPullRequest(
  run: RevertRun,
  commits: readonly CommitInfo[],
  revertSha: string,
  restore: () => Promise<void>,
): Promise<GitRevertResult> {
  const branch = revertBranch(commits.map((c) => c.sha));
  // A branch left by a closed PR of an earlier run is replaced: it holds the same revert.
  await run.repo.push(run.remote, branch, { force: true });
  await restore();
  const { title, body } = revertPullRequestText(messageInput(run, commits));
  const { owner, repo } = run.options;
  const pr = await gitHubOf(run.deps).rest.pulls.create({ owner, repo, head: branch, base: run.target, title, body });
  return {
    status: 'pull-request',
    commits: commits.map((c) => c.sha),
    revertSha,
    branch,
    pullRequest: { number: pr.data.number, url: pr.data.html_url },
    message: `opened pull request #${pr.data.number} from ${branch}`,
  };
}

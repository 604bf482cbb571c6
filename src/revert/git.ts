// The commit side of auto-revert: one revert commit for the deployed commits, pushed to the branch
// or to a new branch with a pull request. git runs through execFile with argv arrays only: no
// input ever reaches a shell. Pure parts (trailers, guard rails, message) are exported for tests.
import { execFile } from 'node:child_process';
import type { Logger } from '../common/logger.js';
import type { GitHubClient } from '../github/client.js';

/** Put on every revert commit we make: the daily limit counts these, and we never revert them. */
export const AUTO_REVERT_TRAILER = 'Auto-Revert: fivestep';
const DAY_MS = 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------
// Pure

/** Trailers of a commit message (the last paragraph's `Key: value` lines), keys lower-cased. */
export function parseTrailers(message: string): Map<string, string[]> {
  const paragraphs = message.replace(/\r\n/g, '\n').trim().split(/\n\s*\n/);
  const trailers = new Map<string, string[]>();
  if (paragraphs.length < 2) return trailers;
  const lines = paragraphs[paragraphs.length - 1].split('\n');
  const parsed = lines.map((l) => /^([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*)$/.exec(l));
  // git accepts a trailer block only when (nearly) every line is a trailer; continuation lines start with space.
  if (!parsed.every((m, i) => m || /^\s/.test(lines[i]))) return trailers;
  for (const m of parsed) {
    if (!m) continue;
    const key = m[1].toLowerCase();
    trailers.set(key, [...(trailers.get(key) ?? []), m[2].trim()]);
  }
  return trailers;
}

export interface CommitInfo {
  sha: string;
  parents: string[];
  message: string;
}

const subjectOf = (message: string): string => message.split('\n', 1)[0].trim();

/** Why this commit must not be reverted automatically, or null. */
export function refusal(commit: CommitInfo): string | null {
  const trailers = parseTrailers(commit.message);
  const short = commit.sha.slice(0, 7);
  const noAuto = trailers.get('no-auto-revert') ?? [];
  if (noAuto.some((v) => /^(true|yes|1)$/i.test(v))) return `${short} carries a 'No-Auto-Revert: true' trailer`;
  if ((trailers.get('auto-revert') ?? []).length > 0) return `${short} is itself an automatic revert (Auto-Revert trailer): never revert a revert`;
  if (/^Revert "/.test(subjectOf(commit.message)) || /^This reverts commit [0-9a-f]{7,40}/m.test(commit.message)) {
    return `${short} is a revert ("${subjectOf(commit.message)}"): never revert a revert`;
  }
  return null;
}

/** An automatic revert found in history: when it was committed and what it reverted. */
export interface AutoRevertRecord {
  sha: string;
  time: number;
  reverts: string[];
}

/** Parses `git log --format=%H%x1f%ct%x1f%B%x1e` output, keeping our own revert commits only. */
export function parseAutoReverts(logOutput: string): AutoRevertRecord[] {
  const out: AutoRevertRecord[] = [];
  for (const rec of logOutput.split('\x1e')) {
    const [sha, ct, body] = rec.replace(/^\n+/, '').split('\x1f');
    if (!sha || body === undefined) continue;
    const trailers = parseTrailers(body);
    if (!(trailers.get('auto-revert') ?? []).some((v) => v.toLowerCase() === 'fivestep')) continue;
    out.push({ sha: sha.trim(), time: Number(ct) * 1000, reverts: (trailers.get('reverts') ?? []).map((s) => s.split(/\s/)[0]) });
  }
  return out;
}

/** Automatic reverts in the 24 hours before `now`. */
export function revertsInLastDay(records: readonly AutoRevertRecord[], now: number): number {
  return records.filter((r) => r.time > now - DAY_MS && r.time <= now + 60_000).length;
}

/** An earlier automatic revert that already covers every commit (so this run changes nothing). */
export function findExistingRevert(records: readonly AutoRevertRecord[], shas: readonly string[]): AutoRevertRecord | undefined {
  return records.find((r) => shas.every((s) => r.reverts.includes(s)));
}

export interface RevertMessageInput {
  commits: { sha: string; subject: string }[];
  reason: string;
  runUrl: string;
}

/** The one revert commit's message: names every SHA, the reason and the run; trailers last. */
export function revertMessage(input: RevertMessageInput): string {
  const { commits } = input;
  const newest = commits[commits.length - 1];
  const title =
    commits.length === 1
      ? `Revert "${newest.subject.slice(0, 60)}"${newest.subject.length > 60 ? '…' : ''} (auto-revert)`
      : `Revert ${commits.length} commits ${commits[0].sha.slice(0, 7)}..${newest.sha.slice(0, 7)} (auto-revert)`;
  const reason = input.reason.trim() || 'the deployment was reverted by fivestep auto-revert';
  const lines = [
    title,
    '',
    'Automatic revert after a failed deployment.',
    '',
    ...[...commits].reverse().map((c) => `This reverts commit ${c.sha} (${c.subject}).`),
    '',
    `Reason: ${reason.replace(/\r?\n/g, ' ').slice(0, 1500)}`,
    `Run: ${input.runUrl}`,
    '',
    AUTO_REVERT_TRAILER,
    ...commits.map((c) => `Reverts: ${c.sha}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The branch of a pull-request revert: stable per commit set, so a second run finds its PR. */
export function revertBranch(shas: readonly string[]): string {
  const last = shas[shas.length - 1].slice(0, 12);
  return shas.length === 1 ? `fivestep/revert-${last}` : `fivestep/revert-${shas[0].slice(0, 7)}-${last}`;
}

/** User tokens start a workflow run on push; the workflow's own GITHUB_TOKEN does not (and looks like an App token). */
export function tokenWarning(token: string, mode: 'push' | 'pull-request'): string | null {
  if (/^(ghp_|github_pat_|gho_|ghu_)/.test(token)) return null;
  const what = mode === 'push' ? 'the pushed revert commit' : 'the revert pull request';
  return `if github-token is the workflow's default GITHUB_TOKEN, ${what} starts no workflow run (GitHub does not trigger workflows from it), so the revert is not tested or deployed automatically; pass a GitHub App installation token (actions/create-github-app-token) or a personal access token to have it run`;
}

// ---------------------------------------------------------------------------------------------
// Shell

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

export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`git ${args[0]} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`);
    this.name = 'GitError';
  }
}

interface GitRun {
  (args: string[], opts?: { input?: string; allowFail?: boolean }): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** `config` is [key, value] pairs passed as GIT_CONFIG_* environment, so a token never shows in argv (ps). */
function gitRunner(cwd: string, config: [string, string][]): GitRun {
  const configEnv: Record<string, string> = { GIT_CONFIG_COUNT: String(config.length) };
  config.forEach(([k, v], i) => {
    configEnv[`GIT_CONFIG_KEY_${i}`] = k;
    configEnv[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return (args, opts = {}) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        'git',
        args,
        { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...configEnv, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          if (code !== 0 && !opts.allowFail) reject(new GitError(args, code, String(stderr)));
          else resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
}

export async function revertCommits(o: GitRevertOptions, deps: GitDeps): Promise<GitRevertResult> {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const remote = o.remote ?? 'origin';
  let git = gitRunner(o.cwd, []);

  // Authenticate https remotes with the given token (an App token can trigger workflows; the
  // persisted checkout token cannot). The empty value first resets checkout's header for that URL.
  const config: [string, string][] = [];
  const remoteUrl = (await git(['remote', 'get-url', remote], { allowFail: true })).stdout.trim();
  if (o.token && /^https:\/\//.test(remoteUrl)) {
    const base = `${new URL(remoteUrl).origin}/`;
    const basic = Buffer.from(`x-access-token:${o.token}`).toString('base64');
    config.push([`http.${base}.extraheader`, ''], [`http.${base}.extraheader`, `AUTHORIZATION: basic ${basic}`]);
  }
  // A runner has no git identity; commit and rebase need one.
  if (!(await git(['config', 'user.email'], { allowFail: true })).stdout.trim()) {
    config.push(['user.name', 'github-actions[bot]'], ['user.email', '41898282+github-actions[bot]@users.noreply.github.com']);
  }
  git = gitRunner(o.cwd, config);

  if (!o.branch) {
    o = { ...o, branch: (await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFail: true })).stdout.trim() };
    if (!o.branch) throw new Error('cannot tell which branch to revert on: HEAD is detached and the run is not on a branch push');
  }

  if ((await git(['rev-parse', '--is-shallow-repository'])).stdout.trim() === 'true') {
    // actions/checkout fetches one commit by default: a revert needs parents, the limit needs a day of history.
    logger.info('Shallow clone: fetching more history (set fetch-depth: 0 on actions/checkout to skip this)');
    await git(['fetch', '--no-tags', `--shallow-since=${new Date(now() - 2 * DAY_MS).toISOString()}`, remote, o.branch], { allowFail: true });
    await git(['fetch', '--no-tags', '--deepen=50', remote, o.branch], { allowFail: true });
  }

  // Resolve and read every commit before changing anything.
  const infos: CommitInfo[] = [];
  for (const c of o.commits) {
    const r = await git(['rev-parse', '--verify', '--quiet', '--end-of-options', `${c}^{commit}`], { allowFail: true });
    if (r.code !== 0) throw new Error(`commit ${c} is not in the checked-out repository (is actions/checkout run before, with enough fetch-depth?)`);
    const sha = r.stdout.trim();
    const show = await git(['show', '-s', '--format=%P%x1f%B', sha]);
    const [parents, message] = show.stdout.split('\x1f');
    infos.push({ sha, parents: parents.trim().split(/\s+/).filter(Boolean), message: message ?? '' });
  }
  const shas = infos.map((i) => i.sha);

  const refusals = infos.map(refusal).filter((r): r is string => r !== null);
  if (refusals.length) return { status: 'refused', commits: shas, message: `not reverting in git: ${refusals.join('; ')}` };

  const history = parseAutoReverts((await git(['log', '--all', `--since=${Math.floor((now() - 30 * DAY_MS) / 1000)}`, '--format=%H%x1f%ct%x1f%B%x1e'])).stdout);
  const branch = revertBranch(shas);
  // An open PR from an earlier run is the answer (checked first: its commit is also in history).
  if (o.mode === 'pull-request') {
    if (!deps.github) throw new Error('pull-request mode needs a GitHub client');
    const open = await deps.github.rest.pulls.list({ owner: o.owner, repo: o.repo, state: 'open', head: `${o.owner}:${branch}`, per_page: 10 });
    const pr = open.data.find((p) => p.head.ref === branch);
    if (pr) {
      return { status: 'already-reverted', commits: shas, revertSha: pr.head.sha, branch, pullRequest: { number: pr.number, url: pr.html_url }, message: `a revert pull request is already open: #${pr.number}` };
    }
  }
  const existing = findExistingRevert(history, shas);
  if (existing) {
    return { status: 'already-reverted', commits: shas, revertSha: existing.sha, message: `already reverted by ${existing.sha.slice(0, 7)}` };
  }
  const recent = revertsInLastDay(history, now());
  if (recent >= o.maxRevertsPerDay) {
    return {
      status: 'rate-limited',
      commits: shas,
      message: `not reverting in git: ${recent} automatic revert(s) in the last 24 h, max-reverts-per-day is ${o.maxRevertsPerDay}`,
    };
  }

  for (const i of infos) {
    const anc = await git(['merge-base', '--is-ancestor', i.sha, 'HEAD'], { allowFail: true });
    if (anc.code !== 0) throw new Error(`commit ${i.sha.slice(0, 7)} is not in the history of the checked-out HEAD`);
  }
  const dirty = (await git(['status', '--porcelain', '--untracked-files=no'])).stdout.trim();
  if (dirty) throw new Error(`the working tree has uncommitted changes; auto-revert needs a clean checkout:\n${dirty}`);

  const original = (await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFail: true })).stdout.trim() || (await git(['rev-parse', 'HEAD'])).stdout.trim();
  // In pull-request mode the commit is made on its own branch: the job's checkout stays as it was.
  if (o.mode === 'pull-request') await git(['checkout', '--quiet', '-B', branch]);
  try {
    // Newest first, so each revert applies to the tree the later commits left.
    for (const i of [...infos].reverse()) {
      const args = ['revert', '--no-commit', ...(i.parents.length > 1 ? ['-m', '1'] : []), i.sha];
      const r = await git(args, { allowFail: true });
      if (r.code !== 0) {
        const conflicts = (await git(['diff', '--name-only', '--diff-filter=U'], { allowFail: true })).stdout.trim().split('\n').filter(Boolean);
        await git(['revert', '--abort'], { allowFail: true });
        throw new Error(`git revert of ${i.sha.slice(0, 7)} does not apply cleanly${conflicts.length ? `: conflicts in ${conflicts.join(', ')}` : `: ${r.stderr.trim()}`}`);
      }
    }
    const staged = await git(['diff', '--cached', '--quiet'], { allowFail: true });
    if (staged.code === 0) {
      await restore();
      return { status: 'already-reverted', commits: shas, message: 'the changes of these commits are already undone on the branch: nothing to commit' };
    }
    const subjects = infos.map((i) => ({ sha: i.sha, subject: subjectOf(i.message) }));
    await git(['commit', '--quiet', '--no-verify', '-F', '-'], { input: revertMessage({ commits: subjects, reason: o.reason, runUrl: o.runUrl }) });
  } catch (err) {
    await git(['reset', '--quiet', '--merge'], { allowFail: true });
    await restore();
    throw err;
  }
  const revertSha = (await git(['rev-parse', 'HEAD'])).stdout.trim();

  if (o.mode === 'push') {
    await pushWithOneRebase(revertSha);
    const sha = (await git(['rev-parse', 'HEAD'])).stdout.trim();
    return { status: 'pushed', commits: shas, revertSha: sha, branch: o.branch, message: `pushed revert ${sha.slice(0, 7)} to ${o.branch}` };
  }

  // A branch left by a closed PR of an earlier run is replaced: it holds the same revert.
  await git(['push', '--quiet', '--force', remote, `HEAD:refs/heads/${branch}`]);
  await restore();
  const title = subjectOf(revertMessage({ commits: infos.map((i) => ({ sha: i.sha, subject: subjectOf(i.message) })), reason: o.reason, runUrl: o.runUrl }));
  const body = [
    `Automatic revert of ${shas.map((s) => `${s.slice(0, 7)}`).join(', ')} after a failed deployment.`,
    '',
    `**Reason:** ${o.reason.trim() || '(none given)'}`,
    `**Run:** ${o.runUrl}`,
    '',
    'The servers were already put back on the previous release; merging this makes the branch match them.',
  ].join('\n');
  const pr = await deps.github!.rest.pulls.create({ owner: o.owner, repo: o.repo, head: branch, base: o.branch, title, body });
  return {
    status: 'pull-request',
    commits: shas,
    revertSha,
    branch,
    pullRequest: { number: pr.data.number, url: pr.data.html_url },
    message: `opened pull request #${pr.data.number} from ${branch}`,
  };

  async function restore(): Promise<void> {
    if (o.mode === 'pull-request') await git(['checkout', '--quiet', '--force', original], { allowFail: true });
  }

  async function pushWithOneRebase(sha: string): Promise<void> {
    const first = await git(['push', '--quiet', remote, `HEAD:refs/heads/${o.branch}`], { allowFail: true });
    if (first.code === 0) return;
    if (!/rejected|non-fast-forward|fetch first/i.test(first.stderr)) throw new GitError(['push'], first.code, first.stderr);
    // Someone pushed meanwhile: replay the revert on top once, then give up loudly.
    logger.info(`push of ${sha.slice(0, 7)} rejected (the branch moved); rebasing once`);
    await git(['fetch', '--quiet', '--no-tags', remote, o.branch]);
    const rebase = await git(['rebase', '--quiet', 'FETCH_HEAD'], { allowFail: true });
    if (rebase.code !== 0) {
      await git(['rebase', '--abort'], { allowFail: true });
      throw new Error(`the revert does not apply on top of the new ${o.branch}: ${rebase.stderr.trim()}`);
    }
    await git(['push', '--quiet', remote, `HEAD:refs/heads/${o.branch}`]);
  }
}

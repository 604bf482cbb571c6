// The checked-out repository as named git verbs (after actions/checkout's git-command-manager), over
// one execGit: the only place auto-revert spawns git. git runs through execFile with argv arrays only,
// so no input ever reaches a shell; a token travels in GIT_CONFIG_* environment, never in argv (ps).
import { execFile } from 'node:child_process';
import { lastLines } from '../common/text.js';

/** A commit as read from the repository. */
export interface CommitInfo {
  sha: string;
  parents: string[];
  message: string;
}

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`git ${args[0]} failed (exit ${code}): ${lastLines(stderr) || 'no output'}`);
    this.name = 'GitError';
  }
}

interface ExecOptions {
  /** Written to git's stdin. */
  input?: string;
  /** Resolve with the exit code instead of rejecting with a GitError. */
  allowFail?: boolean;
}

/** `config` as git's GIT_CONFIG_COUNT / _KEY_n / _VALUE_n environment. */
function configEnvironment(config: readonly [string, string][]): Record<string, string> {
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(config.length) };
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

/** Runs git once in `cwd`: no prompt (a missing credential fails instead of hanging), C locale output. */
function execGit(cwd: string, configEnv: Record<string, string>, args: string[], opts: ExecOptions = {}) {
  const env = { ...process.env, ...configEnv, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
  return new Promise<GitOutput>((resolve, reject) => {
    const child = execFile('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, env }, (err, stdout, stderr) => {
      const errCode = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof errCode === 'number' ? errCode : 1) : 0;
      if (code !== 0 && !opts.allowFail) reject(new GitError(args, code, String(stderr)));
      else resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Who commits when the runner has no git identity. */
const BOT_IDENTITY: [string, string][] = [
  ['user.name', 'github-actions[bot]'],
  ['user.email', '41898282+github-actions[bot]@users.noreply.github.com'],
];

/** The config that sends `token` as the auth header of fetch and push to `remoteUrl`'s host. */
function tokenHeaderConfig(remoteUrl: string, token: string): [string, string][] {
  const key = `http.${new URL(remoteUrl).origin}/.extraheader`;
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  // The empty value first resets the header actions/checkout persisted for that URL.
  return [
    [key, ''],
    [key, `AUTHORIZATION: basic ${basic}`],
  ];
}

export class GitRepo {
  private readonly configEnv: Record<string, string>;

  constructor(
    readonly cwd: string,
    config: readonly [string, string][] = [],
  ) {
    this.configEnv = configEnvironment(config);
  }

  /**
   * The checkout at `cwd`, ready to commit and push: an https `remote` authenticated with `token`
   * (an App token can trigger workflows; the persisted checkout token cannot), and a bot identity
   * when the runner has none ('' token = what checkout persisted).
   */
  static async open(cwd: string, auth: { remote: string; token: string }): Promise<GitRepo> {
    const plain = new GitRepo(cwd);
    const config: [string, string][] = [];
    const remoteUrl = await plain.remoteUrl(auth.remote);
    if (auth.token && /^https:\/\//.test(remoteUrl)) config.push(...tokenHeaderConfig(remoteUrl, auth.token));
    if (!(await plain.configValue('user.email'))) config.push(...BOT_IDENTITY);
    return new GitRepo(cwd, config);
  }

  private run(args: string[], opts?: ExecOptions): Promise<GitOutput> {
    return execGit(this.cwd, this.configEnv, args, opts);
  }

  /** Trimmed stdout whatever the exit code: a git that fails prints nothing there. */
  private async outputOrEmpty(args: string[]): Promise<string> {
    return (await this.run(args, { allowFail: true })).stdout.trim();
  }

  private async succeeds(args: string[]): Promise<boolean> {
    return (await this.run(args, { allowFail: true })).code === 0;
  }

  /** '' when there is no such remote. */
  remoteUrl(remote: string): Promise<string> {
    return this.outputOrEmpty(['remote', 'get-url', remote]);
  }

  /** '' when unset. */
  configValue(key: string): Promise<string> {
    return this.outputOrEmpty(['config', key]);
  }

  /** The checked-out branch; '' when HEAD is detached. */
  currentBranch(): Promise<string> {
    return this.outputOrEmpty(['symbolic-ref', '--quiet', '--short', 'HEAD']);
  }

  async headSha(): Promise<string> {
    return (await this.run(['rev-parse', 'HEAD'])).stdout.trim();
  }

  async isShallow(): Promise<boolean> {
    return (await this.run(['rev-parse', '--is-shallow-repository'])).stdout.trim() === 'true';
  }

  /** Fetches `branch` back to `since`, then 50 commits more; best effort (a failure leaves it as it was). */
  async deepen(remote: string, branch: string, since: Date): Promise<void> {
    const shallowSince = `--shallow-since=${since.toISOString()}`;
    await this.run(['fetch', '--no-tags', shallowSince, remote, branch], { allowFail: true });
    await this.run(['fetch', '--no-tags', '--deepen=50', remote, branch], { allowFail: true });
  }

  /** The full SHA of the commit `rev` names; null when there is none. */
  async resolveCommit(rev: string): Promise<string | null> {
    const args = ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`];
    const r = await this.run(args, { allowFail: true });
    return r.code === 0 ? r.stdout.trim() : null;
  }

  async readCommit(sha: string): Promise<CommitInfo> {
    const [parents, message] = (await this.run(['show', '-s', '--format=%P%x1f%B', sha])).stdout.split('\x1f');
    return { sha, parents: parents.trim().split(/\s+/).filter(Boolean), message: message ?? '' };
  }

  /** Every commit on every ref since `sinceMs`, in the format parseAutoReverts reads. */
  async logSince(sinceMs: number): Promise<string> {
    const since = `--since=${Math.floor(sinceMs / 1000)}`;
    return (await this.run(['log', '--all', since, '--format=%H%x1f%ct%x1f%B%x1e'])).stdout;
  }

  isAncestor(sha: string, of: string): Promise<boolean> {
    return this.succeeds(['merge-base', '--is-ancestor', sha, of]);
  }

  /** `git status --porcelain` of tracked files: '' when the working tree is clean. */
  async trackedChanges(): Promise<string> {
    return (await this.run(['status', '--porcelain', '--untracked-files=no'])).stdout.trim();
  }

  /** Creates (or resets) `branch` at HEAD and checks it out. */
  async checkoutNewBranch(branch: string): Promise<void> {
    await this.run(['checkout', '--quiet', '-B', branch]);
  }

  /** Best effort: puts the checkout back on `ref`, discarding changes. */
  async forceCheckout(ref: string): Promise<void> {
    await this.run(['checkout', '--quiet', '--force', ref], { allowFail: true });
  }

  /** Applies the reverse of `sha` to the index and tree; `mainline` picks the parent of a merge. */
  revertNoCommit(sha: string, mainline?: number): Promise<GitOutput> {
    const parent = mainline === undefined ? [] : ['-m', String(mainline)];
    return this.run(['revert', '--no-commit', ...parent, sha], { allowFail: true });
  }

  /** Paths left unmerged by a revert or rebase. */
  async conflictedFiles(): Promise<string[]> {
    return (await this.outputOrEmpty(['diff', '--name-only', '--diff-filter=U'])).split('\n').filter(Boolean);
  }

  async abortRevert(): Promise<void> {
    await this.run(['revert', '--abort'], { allowFail: true });
  }

  async hasStagedChanges(): Promise<boolean> {
    return !(await this.succeeds(['diff', '--cached', '--quiet']));
  }

  /** Commits the index with `message` (from stdin); hooks do not run. */
  async commit(message: string): Promise<void> {
    await this.run(['commit', '--quiet', '--no-verify', '-F', '-'], { input: message });
  }

  /** Best effort: drops a half-made revert from the index and tree. */
  async resetMerge(): Promise<void> {
    await this.run(['reset', '--quiet', '--merge'], { allowFail: true });
  }

  async fetch(remote: string, branch: string): Promise<void> {
    await this.run(['fetch', '--quiet', '--no-tags', remote, branch]);
  }

  rebase(upstream: string): Promise<GitOutput> {
    return this.run(['rebase', '--quiet', upstream], { allowFail: true });
  }

  async abortRebase(): Promise<void> {
    await this.run(['rebase', '--abort'], { allowFail: true });
  }

  /** Pushes HEAD to `branch` on `remote`; throws a GitError when refused. */
  async push(remote: string, branch: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.run(['push', '--quiet', ...(opts.force ? ['--force'] : []), remote, `HEAD:refs/heads/${branch}`]);
  }

  /** Pushes HEAD to `branch` on `remote`, returning git's exit code and output instead of throwing. */
  tryPush(remote: string, branch: string): Promise<GitOutput> {
    return this.run(['push', '--quiet', remote, `HEAD:refs/heads/${branch}`], { allowFail: true });
  }
}

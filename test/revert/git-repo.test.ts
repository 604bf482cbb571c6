// GitRepo's verbs against REAL temporary repositories, for what revertCommits' own tests (git.test.ts)
// do not reach: the negative answers, merges, a failed rebase, and the token and identity config.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitError, GitRepo } from '../../src/revert/git-repo.js';
import { git, scratchClone } from './git-scratch.js';

/** A clone of a bare remote with two commits on main. */
function clone() {
  const { base, remote, work, commit } = scratchClone('fivestep-git-repo-');
  const c0 = commit('app.txt', 'v0\n', 'initial');
  const c1 = commit('app.txt', 'v1\n', 'feature one\n\nbody line');
  git(work, 'push', '--quiet', 'origin', 'main');
  return { base, remote, work, commit, c0, c1, repo: new GitRepo(work) };
}

test('reads: branch, HEAD, commits, ancestry, shallowness', async () => {
  const { work, repo, c0, c1 } = clone();
  expect(await repo.currentBranch()).toBe('main');
  expect(await repo.headSha()).toBe(c1);
  expect(await repo.isShallow()).toBe(false);
  expect(await repo.resolveCommit('HEAD~1')).toBe(c0);
  expect(await repo.resolveCommit('no-such-rev')).toBeNull();
  // --end-of-options: a revision that looks like an option is a revision, never an option.
  expect(await repo.resolveCommit('--output=/tmp/x')).toBeNull();
  // %B ends with a newline, and show adds one.
  expect(await repo.readCommit(c1)).toEqual({ sha: c1, parents: [c0], message: 'feature one\n\nbody line\n\n' });
  expect(await repo.isAncestor(c0, 'HEAD')).toBe(true);
  expect(await repo.isAncestor(c1, c0)).toBe(false);
  git(work, 'checkout', '--quiet', '--detach', c0);
  expect(await repo.currentBranch()).toBe('');
});

test('remote and config values; empty when missing', async () => {
  const { repo, remote } = clone();
  expect(await repo.remoteUrl('origin')).toBe(remote);
  expect(await repo.remoteUrl('upstream')).toBe('');
  expect(await repo.configValue('user.email')).toBe('dev@example.com');
  expect(await repo.configValue('fivestep.unset')).toBe('');
});

test('open: an https remote gets the token as auth header, through the environment', async () => {
  const { work } = clone();
  git(work, 'remote', 'add', 'gh', 'https://github.example/acme/shop.git');
  const repo = await GitRepo.open(work, { remote: 'gh', token: 'ghs_secret' });
  const header = await repo.configValue('http.https://github.example/.extraheader');
  expect(header).toBe(`AUTHORIZATION: basic ${Buffer.from('x-access-token:ghs_secret').toString('base64')}`);
  // Nothing is written to the repository's config.
  expect(() => git(work, 'config', '--get-all', 'http.https://github.example/.extraheader')).toThrow();
  // A local remote gets no header; the identity configured is kept.
  const local = await GitRepo.open(work, { remote: 'origin', token: 'ghs_secret' });
  expect(await local.configValue('http.https://github.example/.extraheader')).toBe('');
  expect(await local.configValue('user.name')).toBe('Dev');
});

test('the working tree: tracked changes, staged changes, commit', async () => {
  const { work, repo, c1 } = clone();
  expect(await repo.trackedChanges()).toBe('');
  expect(await repo.hasStagedChanges()).toBe(false);
  writeFileSync(join(work, 'app.txt'), 'edited\n');
  writeFileSync(join(work, 'untracked.txt'), 'x\n');
  expect(await repo.trackedChanges()).toBe('M app.txt');
  git(work, 'add', 'app.txt');
  expect(await repo.hasStagedChanges()).toBe(true);
  await repo.commit('edit\n\nfrom stdin\n');
  expect(git(work, 'log', '-1', '--format=%B')).toBe('edit\n\nfrom stdin');
  expect(git(work, 'rev-parse', 'HEAD~1')).toBe(c1);
});

test('revert of a merge names the mainline; a conflict lists its files and aborts', async () => {
  const { work, repo, commit, c1 } = clone();
  git(work, 'checkout', '--quiet', '-b', 'side');
  commit('side.txt', 's\n', 'side');
  git(work, 'checkout', '--quiet', 'main');
  git(work, 'merge', '--quiet', '--no-ff', '-m', 'merge side', 'side');
  const merge = git(work, 'rev-parse', 'HEAD');
  expect((await repo.revertNoCommit(merge)).code).not.toBe(0);
  expect((await repo.revertNoCommit(merge, 1)).code).toBe(0);
  expect(git(work, 'diff', '--cached', '--name-only')).toBe('side.txt');
  await repo.resetMerge();
  expect(await repo.trackedChanges()).toBe('');

  commit('app.txt', 'v2\n', 'app again');
  const r = await repo.revertNoCommit(c1);
  expect(r.code).not.toBe(0);
  expect(await repo.conflictedFiles()).toEqual(['app.txt']);
  await repo.abortRevert();
  expect(await repo.conflictedFiles()).toEqual([]);
  expect(git(work, 'status', '--porcelain')).toBe('');
});

test('branches: checkoutNewBranch, forceCheckout back', async () => {
  const { work, repo, c1 } = clone();
  await repo.checkoutNewBranch('fivestep/revert-x');
  expect(await repo.currentBranch()).toBe('fivestep/revert-x');
  writeFileSync(join(work, 'app.txt'), 'dirty\n');
  await repo.forceCheckout('main');
  expect(await repo.currentBranch()).toBe('main');
  expect(await repo.headSha()).toBe(c1);
  expect(await repo.trackedChanges()).toBe('');
});

test('push, tryPush, fetch and rebase: a moved branch, a rebase that fails and is aborted', async () => {
  const { base, remote, repo, commit } = clone();
  const other = join(base, 'other');
  execFileSync('git', ['clone', '--quiet', remote, other], { stdio: 'ignore' });
  writeFileSync(join(other, 'app.txt'), 'theirs\n');
  git(other, '-c', 'user.name=O', '-c', 'user.email=o@x', 'commit', '--quiet', '-am', 'theirs');
  git(other, 'push', '--quiet', 'origin', 'main');

  const mine = commit('app.txt', 'mine\n', 'mine');
  const rejected = await repo.tryPush('origin', 'main');
  expect(rejected.code).not.toBe(0);
  expect(rejected.stderr).toMatch(/rejected|fetch first/);
  await expect(repo.push('origin', 'main')).rejects.toBeInstanceOf(GitError);

  await repo.fetch('origin', 'main');
  const rebase = await repo.rebase('FETCH_HEAD');
  expect(rebase.code).not.toBe(0);
  await repo.abortRebase();
  expect(await repo.headSha()).toBe(mine);

  await repo.push('origin', 'fivestep/revert-y', { force: true });
  expect(git(remote, 'rev-parse', 'fivestep/revert-y')).toBe(mine);
  expect((await repo.tryPush('origin', 'fivestep/revert-y')).code).toBe(0);
});

test('a shallow clone is deepened; logSince lists commits in the format parseAutoReverts reads', async () => {
  const { base, remote, c0, c1 } = clone();
  const shallow = join(base, 'shallow');
  execFileSync('git', ['clone', '--quiet', '--depth', '1', `file://${remote}`, shallow], { stdio: 'ignore' });
  const repo = new GitRepo(shallow);
  expect(await repo.isShallow()).toBe(true);
  expect(await repo.resolveCommit(c0)).toBeNull();
  await repo.deepen('origin', 'main', new Date(Date.now() - 48 * 3600_000));
  expect(await repo.resolveCommit(c0)).toBe(c0);
  const log = await repo.logSince(Date.now() - 3600_000);
  const records = log.split('\x1e').filter((r) => r.trim());
  expect(records.map((r) => r.replace(/^\n+/, '').split('\x1f')[0])).toEqual([c1, c0]);
  expect(await repo.logSince(Date.now() + 3600_000)).toBe('');
});

test('a failing git names its subcommand, exit code and last stderr lines', async () => {
  const { repo } = clone();
  const err = await repo.fetch('origin', 'no-such-branch').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GitError);
  expect((err as GitError).message).toMatch(/^git fetch failed \(exit 128\): .*no-such-branch/);
});

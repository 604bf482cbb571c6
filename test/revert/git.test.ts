// git revert in REAL temporary repositories: push mode against a bare local remote, pull-request
// mode against the GitHub API stand-in; every guard rail.
import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { createClient } from '../../src/github/client.js';
import {
  findExistingRevert,
  parseAutoReverts,
  parseTrailers,
  refusal,
  revertBranch,
  revertCommits,
  revertMessage,
  revertsInLastDay,
  tokenWarning,
  type GitRevertOptions,
} from '../../src/revert/git.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { git, scratchClone } from './git-scratch.js';

/** A bare remote and a clone of it with three commits on main; returns their SHAs. */
function repo() {
  const { base, remote, work, commit } = scratchClone('fivestep-git-');
  const c0 = commit('app.txt', 'v0\n', 'initial');
  const c1 = commit('app.txt', 'v1\n', 'feature one');
  const c2 = commit('other.txt', 'x\n', 'feature two');
  git(work, 'push', '--quiet', 'origin', 'main');
  return { base, remote, work, commit, c0, c1, c2 };
}

const options = (work: string, over: Partial<GitRevertOptions> = {}): GitRevertOptions => ({
  cwd: work,
  commits: [],
  reason: 'revenue per minute: value 40, bound 100',
  runUrl: 'https://github.com/acme/shop/actions/runs/7',
  mode: 'push',
  branch: 'main',
  maxRevertsPerDay: 3,
  token: '',
  serverUrl: 'https://github.com',
  owner: 'acme',
  repo: 'shop',
  ...over,
});

describe('pure parts', () => {
  test('trailers: last paragraph only, keys case-insensitive', () => {
    const t = parseTrailers(
      'subject\n\nbody text: not a trailer here\nmore\n\nNo-Auto-Revert: true\nSigned-off-by: A <a@x>\n',
    );
    expect(t.get('no-auto-revert')).toEqual(['true']);
    expect(t.get('signed-off-by')).toEqual(['A <a@x>']);
    expect(parseTrailers('subject only: yes').size).toBe(0);
    expect(parseTrailers('s\n\nKey: v\nnot a trailer line').size).toBe(0);
  });

  test('refusals: No-Auto-Revert, a revert, our own revert; a normal commit passes', () => {
    const c = (message: string) => ({ sha: 'abcdef1234567', parents: ['p'], message });
    expect(refusal(c('fix\n\nNo-Auto-Revert: true'))).toMatch(/No-Auto-Revert/);
    expect(refusal(c('fix\n\nno-auto-revert: false'))).toBeNull();
    expect(refusal(c('Revert "fix"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.'))).toMatch(
      /never revert a revert/,
    );
    expect(refusal(c('x\n\nAuto-Revert: fivestep\nReverts: 0123456'))).toMatch(/never revert a revert/);
    expect(refusal(c('feature'))).toBeNull();
  });

  test('message names every SHA, the reason and the run, with our trailers last', () => {
    const m = revertMessage({
      commits: [
        { sha: 'a'.repeat(40), subject: 'one' },
        { sha: 'b'.repeat(40), subject: 'two' },
      ],
      reason: 'error rate 9%',
      runUrl: 'https://run/1',
    });
    expect(m.split('\n')[0]).toBe(`Revert 2 commits aaaaaaa..bbbbbbb (auto-revert)`);
    expect(m).toContain(`This reverts commit ${'b'.repeat(40)} (two).`);
    expect(m).toContain(`This reverts commit ${'a'.repeat(40)} (one).`);
    expect(m).toContain('Reason: error rate 9%');
    expect(m).toContain('Run: https://run/1');
    const t = parseTrailers(m);
    expect(t.get('auto-revert')).toEqual(['fivestep']);
    expect(t.get('reverts')).toEqual(['a'.repeat(40), 'b'.repeat(40)]);
  });

  test('daily count and existing reverts from log output', () => {
    const now = 1_700_000_000_000;
    const rec = (sha: string, ageH: number, reverts: string[]) =>
      `${sha}\x1f${Math.floor((now - ageH * 3600_000) / 1000)}\x1fRevert x\n\nAuto-Revert: fivestep\n${reverts.map((r) => `Reverts: ${r}`).join('\n')}\n\x1e\n`;
    const out = parseAutoReverts(
      rec('s1', 1, ['c1']) +
        rec('s2', 23, ['c2', 'c3']) +
        rec('s3', 25, ['c4']) +
        `s4\x1f${now / 1000}\x1fordinary commit\n\x1e`,
    );
    expect(out.map((r) => r.sha)).toEqual(['s1', 's2', 's3']);
    expect(revertsInLastDay(out, now)).toBe(2);
    expect(findExistingRevert(out, ['c2', 'c3'])?.sha).toBe('s2');
    expect(findExistingRevert(out, ['c1', 'c2'])).toBeUndefined();
    expect(revertBranch(['0123456789abcdef'])).toBe('fivestep/revert-0123456789ab');
  });

  test('token warning: user tokens start workflows, the default token does not', () => {
    expect(tokenWarning('ghp_x', 'push')).toBeNull();
    expect(tokenWarning('github_pat_x', 'pull-request')).toBeNull();
    expect(tokenWarning('ghs_x', 'push')).toMatch(/starts no workflow run.*App installation token/);
  });
});

describe('push mode against a bare remote', () => {
  test('two commits reverted as ONE commit on the remote branch; a second run finds it', async () => {
    const r = repo();
    const logger = new MemoryLogger();
    const res = await revertCommits(options(r.work, { commits: [r.c1, r.c2] }), { logger });
    expect(res.status).toBe('pushed');
    expect(git(r.remote, 'rev-parse', 'main')).toBe(res.revertSha);
    expect(git(r.remote, 'rev-parse', 'main~1')).toBe(r.c2);
    const message = git(r.remote, 'log', '-1', '--format=%B', 'main');
    expect(message).toContain(`This reverts commit ${r.c1}`);
    expect(message).toContain(`This reverts commit ${r.c2}`);
    expect(message).toContain('Reason: revenue per minute: value 40, bound 100');
    expect(message).toContain('Run: https://github.com/acme/shop/actions/runs/7');
    expect(message).toMatch(/Auto-Revert: fivestep$/m);
    expect(git(r.remote, 'show', 'main:app.txt')).toBe('v0');
    expect(() => git(r.remote, 'show', 'main:other.txt')).toThrow();

    const again = await revertCommits(options(r.work, { commits: [r.c1, r.c2] }), { logger });
    expect(again).toMatchObject({ status: 'already-reverted', revertSha: res.revertSha });
    expect(git(r.remote, 'rev-parse', 'main')).toBe(res.revertSha);
  });

  test('the branch moved meanwhile: rebased once and pushed', async () => {
    const r = repo();
    // Someone else pushes after our checkout.
    const other = join(r.base, 'other');
    execFileSync('git', ['clone', '--quiet', r.remote, other], { stdio: 'ignore' });
    writeFileSync(join(other, 'third.txt'), 'y\n');
    git(other, 'add', 'third.txt');
    git(other, '-c', 'user.name=O', '-c', 'user.email=o@x', 'commit', '--quiet', '-m', 'third');
    git(other, 'push', '--quiet', 'origin', 'main');
    const res = await revertCommits(options(r.work, { commits: [r.c2] }), { logger: new MemoryLogger() });
    expect(res.status).toBe('pushed');
    expect(git(r.remote, 'log', '-1', '--format=%s', 'main~1')).toBe('third');
    expect(git(r.remote, 'rev-parse', 'main')).toBe(res.revertSha);
  });

  test('guard rail: a commit with No-Auto-Revert: true is refused, nothing changes', async () => {
    const r = repo();
    const c3 = r.commit('db.txt', 'migration\n', 'irreversible migration\n\nNo-Auto-Revert: true');
    git(r.work, 'push', '--quiet', 'origin', 'main');
    const res = await revertCommits(options(r.work, { commits: [r.c2, c3] }), { logger: new MemoryLogger() });
    expect(res.status).toBe('refused');
    expect(res.message).toMatch(/No-Auto-Revert/);
    expect(git(r.remote, 'rev-parse', 'main')).toBe(c3);
    expect(git(r.work, 'rev-parse', 'HEAD')).toBe(c3);
  });

  test('guard rail: never revert a revert (git revert made by a person, and our own)', async () => {
    const r = repo();
    git(r.work, 'revert', '--no-edit', r.c2);
    const manual = git(r.work, 'rev-parse', 'HEAD');
    git(r.work, 'push', '--quiet', 'origin', 'main');
    expect((await revertCommits(options(r.work, { commits: [manual] }), { logger: new MemoryLogger() })).status).toBe(
      'refused',
    );

    const r2 = repo();
    const ours = await revertCommits(options(r2.work, { commits: [r2.c2] }), { logger: new MemoryLogger() });
    const res = await revertCommits(options(r2.work, { commits: [ours.revertSha!] }), { logger: new MemoryLogger() });
    expect(res.status).toBe('refused');
    expect(res.message).toMatch(/Auto-Revert trailer/);
  });

  test('guard rail: max-reverts-per-day counted from the repository history', async () => {
    const r = repo();
    const a = await revertCommits(options(r.work, { commits: [r.c2], maxRevertsPerDay: 2 }), {
      logger: new MemoryLogger(),
    });
    expect(a.status).toBe('pushed');
    const c3 = r.commit('c.txt', '3\n', 'three');
    const b = await revertCommits(options(r.work, { commits: [c3], maxRevertsPerDay: 2 }), {
      logger: new MemoryLogger(),
    });
    expect(b.status).toBe('pushed');
    const c4 = r.commit('d.txt', '4\n', 'four');
    const c = await revertCommits(options(r.work, { commits: [c4], maxRevertsPerDay: 2 }), {
      logger: new MemoryLogger(),
    });
    expect(c.status).toBe('rate-limited');
    expect(c.message).toMatch(/2 automatic revert\(s\) in the last 24 h, max-reverts-per-day is 2/);
    // A day later the limit has room again (the count is from commit times, not local state).
    const later = await revertCommits(options(r.work, { commits: [c4], maxRevertsPerDay: 2 }), {
      logger: new MemoryLogger(),
      now: () => Date.now() + 25 * 3600_000,
    });
    expect(later.status).toBe('pushed');
    // 0 disables automatic git reverts.
    const c5 = r.commit('e.txt', '5\n', 'five');
    expect(
      (await revertCommits(options(r.work, { commits: [c5], maxRevertsPerDay: 0 }), { logger: new MemoryLogger() }))
        .status,
    ).toBe('rate-limited');
  });

  test('a runner without a git identity commits as github-actions[bot]', async () => {
    const r = repo();
    git(r.work, 'config', '--unset', 'user.name');
    git(r.work, 'config', '--unset', 'user.email');
    const saved = { global: process.env.GIT_CONFIG_GLOBAL, system: process.env.GIT_CONFIG_NOSYSTEM };
    process.env.GIT_CONFIG_GLOBAL = '/dev/null';
    process.env.GIT_CONFIG_NOSYSTEM = '1';
    try {
      const res = await revertCommits(options(r.work, { commits: [r.c2] }), { logger: new MemoryLogger() });
      expect(res.status).toBe('pushed');
      expect(git(r.remote, 'log', '-1', '--format=%an <%ae>', 'main')).toBe(
        'github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>',
      );
    } finally {
      if (saved.global === undefined) delete process.env.GIT_CONFIG_GLOBAL;
      else process.env.GIT_CONFIG_GLOBAL = saved.global;
      if (saved.system === undefined) delete process.env.GIT_CONFIG_NOSYSTEM;
      else process.env.GIT_CONFIG_NOSYSTEM = saved.system;
    }
  });

  test('a shallow checkout (actions/checkout default depth 1) is deepened first', async () => {
    const r = repo();
    const shallow = join(r.base, 'shallow');
    execFileSync('git', ['clone', '--quiet', '--depth', '1', `file://${r.remote}`, shallow], { stdio: 'ignore' });
    expect(git(shallow, 'rev-parse', '--is-shallow-repository')).toBe('true');
    const logger = new MemoryLogger();
    const res = await revertCommits(options(shallow, { commits: [r.c2] }), { logger });
    expect(res.status).toBe('pushed');
    expect(logger.text()).toContain('Shallow clone: fetching more history');
    expect(git(r.remote, 'rev-parse', 'main~1')).toBe(r.c2);
  });

  test('a conflict aborts cleanly with the conflicting file named', async () => {
    const r = repo();
    r.commit('app.txt', 'v2\n', 'change app again');
    git(r.work, 'push', '--quiet', 'origin', 'main');
    const head = git(r.work, 'rev-parse', 'HEAD');
    await expect(revertCommits(options(r.work, { commits: [r.c1] }), { logger: new MemoryLogger() })).rejects.toThrow(
      /conflicts in app.txt/,
    );
    expect(git(r.work, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(r.work, 'status', '--porcelain')).toBe('');
    expect(readFileSync(join(r.work, 'app.txt'), 'utf8')).toBe('v2\n');
  });

  test('an unknown commit is an error before anything changes', async () => {
    const r = repo();
    await expect(
      revertCommits(options(r.work, { commits: ['0123456789abcdef0123456789abcdef01234567'] }), {
        logger: new MemoryLogger(),
      }),
    ).rejects.toThrow(/not in the checked-out repository/);
  });
});

describe('pull-request mode against the GitHub API stand-in', () => {
  let gh: GitHubApiStandIn;
  beforeAll(async () => {
    gh = await startGitHubApi();
  });
  afterAll(() => gh.close());

  test('pushes a revert branch, opens the PR, leaves the checkout alone; a second run finds the PR', async () => {
    const r = repo();
    const github = createClient('token', gh.url);
    const res = await revertCommits(options(r.work, { commits: [r.c2], mode: 'pull-request' }), {
      logger: new MemoryLogger(),
      github,
    });
    expect(res.status).toBe('pull-request');
    const branch = revertBranch([r.c2]);
    expect(res.branch).toBe(branch);
    expect(git(r.remote, 'rev-parse', branch)).toBe(res.revertSha);
    expect(git(r.remote, 'rev-parse', 'main')).toBe(r.c2);
    expect(git(r.work, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(git(r.work, 'rev-parse', 'HEAD')).toBe(r.c2);
    const pulls = gh.repo('acme/shop').pulls;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({
      number: res.pullRequest!.number,
      head: expect.objectContaining({ ref: branch }),
      base: expect.objectContaining({ ref: 'main' }),
    });
    expect(pulls[0].body).toContain(r.c2.slice(0, 7));
    expect(pulls[0].body).toContain('https://github.com/acme/shop/actions/runs/7');

    const again = await revertCommits(options(r.work, { commits: [r.c2], mode: 'pull-request' }), {
      logger: new MemoryLogger(),
      github,
    });
    expect(again).toMatchObject({ status: 'already-reverted', pullRequest: { number: res.pullRequest!.number } });
    expect(gh.repo('acme/shop').pulls).toHaveLength(1);
  });
});

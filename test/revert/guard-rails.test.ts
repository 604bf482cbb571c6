// The guard rails as a pure decision: each rail alone, then the order when several apply.
import {
  decideGuardRails,
  refusal,
  refusals,
  type AutoRevertRecord,
  type EarlierReverts,
  type GuardRailFacts,
} from '../../src/revert/guard-rails.js';
import type { CommitInfo } from '../../src/revert/git-repo.js';

const NOW = 1_700_000_000_000;
const HOUR = 3600_000;
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

const commit = (sha: string, message = 'feature'): CommitInfo => ({ sha, parents: ['p'], message });
const autoRevert = (sha: string, ageHours: number, reverts: string[]): AutoRevertRecord => ({
  sha,
  time: NOW - ageHours * HOUR,
  reverts,
});
const earlier = (over: Partial<EarlierReverts> = {}): EarlierReverts => ({
  openPullRequest: null,
  autoReverts: [],
  now: NOW,
  maxRevertsPerDay: 3,
  ...over,
});
const facts = (commits: CommitInfo[], over: Partial<EarlierReverts> = {}): GuardRailFacts => ({
  commits,
  earlier: earlier(over),
});

const openPr = { number: 12, url: 'https://github.com/acme/shop/pull/12', headSha: 'f'.repeat(40), branch: 'b' };
const NO_AUTO = 'migration\n\nNo-Auto-Revert: true';
/** Facts under which every rail after "refused" would stop the revert. */
const everyLaterRail = {
  openPullRequest: openPr,
  autoReverts: [autoRevert('e'.repeat(40), 1, [A, B]), autoRevert('d'.repeat(40), 2, ['x'])],
  maxRevertsPerDay: 1,
};

describe('refusal of one commit', () => {
  test.each([
    ['No-Auto-Revert: true', 'fix\n\nNo-Auto-Revert: true', `aaaaaaa carries a 'No-Auto-Revert: true' trailer`],
    ['No-Auto-Revert: yes', 'fix\n\nno-auto-revert: YES', `aaaaaaa carries a 'No-Auto-Revert: true' trailer`],
    ['No-Auto-Revert: 1', 'fix\n\nNo-Auto-Revert: 1', `aaaaaaa carries a 'No-Auto-Revert: true' trailer`],
    [
      'our own revert',
      'Revert "x" (auto-revert)\n\nAuto-Revert: fivestep\nReverts: 0123456',
      'aaaaaaa is itself an automatic revert (Auto-Revert trailer): never revert a revert',
    ],
    ['a git revert subject', 'Revert "fix"', 'aaaaaaa is a revert ("Revert "fix""): never revert a revert'],
    [
      'a "This reverts commit" line',
      'undo\n\nThis reverts commit 0123456789abcdef.',
      'aaaaaaa is a revert ("undo"): never revert a revert',
    ],
  ])('%s', (_name, message, why) => {
    expect(refusal(commit(A, message))).toBe(why);
  });

  test.each([
    ['an ordinary commit', 'feature'],
    ['No-Auto-Revert: false', 'fix\n\nNo-Auto-Revert: false'],
    ['the trailer outside the last paragraph', 'fix\n\nNo-Auto-Revert: true\n\nmore text'],
    ['"Revert" not at the subject start', 'Do not Revert "x"'],
  ])('passes %s', (_name, message) => {
    expect(refusal(commit(A, message))).toBeNull();
  });

  test('No-Auto-Revert is named before the commit being a revert', () => {
    expect(refusal(commit(A, 'Revert "x"\n\nNo-Auto-Revert: true'))).toMatch(/No-Auto-Revert/);
  });

  test('every refused commit, in commit order', () => {
    expect(refusals([commit(B, 'Revert "y"'), commit('c'.repeat(40)), commit(A, NO_AUTO)])).toEqual([
      'bbbbbbb is a revert ("Revert "y""): never revert a revert',
      `aaaaaaa carries a 'No-Auto-Revert: true' trailer`,
    ]);
  });
});

describe('each guard rail alone', () => {
  test('go when nothing applies', () => {
    expect(decideGuardRails(facts([commit(A), commit(B)]))).toEqual({ status: 'go' });
  });

  test('refused: every reason in the message; nothing else needs reading', () => {
    const decision = decideGuardRails({ commits: [commit(A, NO_AUTO), commit(B, 'Revert "y"')] });
    expect(decision).toEqual({
      status: 'refused',
      message:
        `not reverting in git: aaaaaaa carries a 'No-Auto-Revert: true' trailer; ` +
        'bbbbbbb is a revert ("Revert "y""): never revert a revert',
    });
  });

  test('already reverted: an open pull request of an earlier run', () => {
    expect(decideGuardRails(facts([commit(A)], { openPullRequest: openPr }))).toEqual({
      status: 'already-reverted',
      revertSha: openPr.headSha,
      branch: 'b',
      pullRequest: { number: 12, url: openPr.url },
      message: 'a revert pull request is already open: #12',
    });
  });

  test('already reverted: an automatic revert in history covering every commit', () => {
    const covering = autoRevert('e'.repeat(40), 40, ['x', A, B]);
    expect(decideGuardRails(facts([commit(A), commit(B)], { autoReverts: [covering] }))).toEqual({
      status: 'already-reverted',
      revertSha: covering.sha,
      message: 'already reverted by eeeeeee',
    });
  });

  test('an earlier revert of only some of the commits does not count as done', () => {
    const partial = autoRevert('e'.repeat(40), 40, [A]);
    expect(decideGuardRails(facts([commit(A), commit(B)], { autoReverts: [partial] }))).toEqual({ status: 'go' });
  });

  test('rate-limited: as many automatic reverts in the last 24 h as the limit allows', () => {
    const autoReverts = [autoRevert('1', 1, ['x']), autoRevert('2', 23, ['y'])];
    expect(decideGuardRails(facts([commit(A)], { autoReverts, maxRevertsPerDay: 2 }))).toEqual({
      status: 'rate-limited',
      message: 'not reverting in git: 2 automatic revert(s) in the last 24 h, max-reverts-per-day is 2',
    });
    expect(decideGuardRails(facts([commit(A)], { autoReverts, maxRevertsPerDay: 3 }))).toEqual({ status: 'go' });
  });

  test('the day is counted back from now: older reverts, and ones over a minute ahead, do not count', () => {
    // 'skew' is 36 s ahead: a clock a little off still counts.
    const autoReverts = [
      autoRevert('old', 25, ['x']),
      autoRevert('ahead', -0.5, ['y']),
      autoRevert('skew', -0.01, ['z']),
    ];
    expect(decideGuardRails(facts([commit(A)], { autoReverts, maxRevertsPerDay: 2 }))).toEqual({ status: 'go' });
    expect(decideGuardRails(facts([commit(A)], { autoReverts, maxRevertsPerDay: 1 }))).toMatchObject({
      status: 'rate-limited',
      message: expect.stringContaining(': 1 automatic revert(s)'),
    });
  });

  test('max-reverts-per-day 0 disables automatic git reverts', () => {
    expect(decideGuardRails(facts([commit(A)], { maxRevertsPerDay: 0 }))).toEqual({
      status: 'rate-limited',
      message: 'not reverting in git: 0 automatic revert(s) in the last 24 h, max-reverts-per-day is 0',
    });
  });

  test('commits not refused with the earlier reverts unread is a programming error', () => {
    expect(() => decideGuardRails({ commits: [commit(A)] })).toThrow(/earlier reverts must be read/);
  });
});

describe('the order when several apply', () => {
  test('refused beats an open PR, an earlier revert and the limit', () => {
    const decision = decideGuardRails(facts([commit(A), commit(B, NO_AUTO)], everyLaterRail));
    expect(decision).toEqual({
      status: 'refused',
      message: `not reverting in git: bbbbbbb carries a 'No-Auto-Revert: true' trailer`,
    });
  });

  test('an open PR beats an earlier revert in history (its commit is in history too) and the limit', () => {
    expect(decideGuardRails(facts([commit(A), commit(B)], everyLaterRail))).toMatchObject({
      status: 'already-reverted',
      pullRequest: { number: 12 },
      revertSha: openPr.headSha,
    });
  });

  test('an earlier revert beats the limit: a second run over the same commits is not rate-limited', () => {
    const decision = decideGuardRails(facts([commit(A), commit(B)], { ...everyLaterRail, openPullRequest: null }));
    expect(decision).toEqual({
      status: 'already-reverted',
      revertSha: 'e'.repeat(40),
      message: 'already reverted by eeeeeee',
    });
  });

  test('the limit applies only when nothing else does', () => {
    const decision = decideGuardRails(facts([commit('c'.repeat(40))], { ...everyLaterRail, openPullRequest: null }));
    expect(decision).toMatchObject({ status: 'rate-limited' });
  });
});

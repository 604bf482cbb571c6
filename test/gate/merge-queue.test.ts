// The merge queue (GitHub's `merge_group` event) end to end: the stand-in builds each entry's merge-group
// commit, sends the event, and merges or drops entries by the required checks test-gate posts on them,
// as GitHub does; test-gate runs real shell commands on each entry.
import type { GitHubApiStandIn } from '../servers/github-api.js';
import { GateHarness, REPO, prPayload } from './harness.js';

const h = new GateHarness();
let gh: GitHubApiStandIn;
beforeEach(async () => {
  await h.setUp();
  gh = h.gh;
});
afterEach(() => h.tearDown());

/** What branch protection on main requires, for pull requests and queue entries alike. */
const REQUIRED = ['test-gate', 'test-gate/tree'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the event payload is free-form JSON
const runEntry = (payload: Record<string, any>, command: string) =>
  h.gate(
    'merge_group',
    { command },
    {
      payload: { ...payload, repository: { default_branch: 'main', full_name: REPO } },
      sha: payload.merge_group.head_sha,
      ref: payload.merge_group.head_ref,
    },
  );

test('main is red: the fix goes through the queue (its tree status is green on top of red main), merges, and the push run opens the tree', async () => {
  const [green, red] = gh.seedCommits(REPO, 'main', [{ message: 'green' }, { message: 'broke checkout' }]);
  gh.seedStatus(REPO, green, { state: 'success', context: 'test-gate' });
  gh.seedStatus(REPO, red, { state: 'failure', context: 'test-gate' });
  const waiting = gh.seedPull(REPO, { head: 'feature', headSha: 'a'.repeat(40) });
  gh.seedStatus(REPO, waiting.head.sha, { state: 'failure', context: 'test-gate/tree' });
  const fix = gh.seedPull(REPO, { head: 'fix-checkout', headSha: 'b'.repeat(40), labels: ['fixes-tree'] });

  const { entry, payload } = gh.enqueue(REPO, fix.number);
  expect(entry.baseSha).toBe(red);
  const r = await runEntry(payload, 'echo tests pass on the merge commit');
  expect(r.failure).toBeUndefined();
  expect(r.outputs).toMatchObject({ result: 'passed', tree: 'closed' });
  const repo = gh.repo(REPO);
  // Gated like a push: check run and commit status on the queue's merge commit, not on the PR's head.
  expect(repo.checkRuns.map((c) => [c.head_sha, c.conclusion])).toEqual([[entry.sha, 'success']]);
  expect(repo.latestStatus(entry.sha, 'test-gate')?.state).toBe('success');
  expect(repo.latestStatus(entry.sha, 'test-gate/tree')).toMatchObject({
    state: 'success',
    description: 'merge queue: green on top of main, which is red: this entry is the fix',
  });
  expect(r.summary).toContain('This merge-queue entry passes on top of it: merging it turns the branch green.');
  // A queue run is not a run on main: no red-main issue, no tree statuses re-posted on open pull requests.
  expect(repo.issues.filter((i) => !i.pull_request)).toHaveLength(0);
  expect(repo.statusesFor(waiting.head.sha)).toHaveLength(1);

  expect(gh.settleQueue(REPO, REQUIRED)).toMatchObject({ merged: [fix.number], dropped: [] });
  expect(repo.tip('main')).toBe(entry.sha);

  // The push of the merged commit: the tree opens and the waiting pull request is let through.
  const push = await h.gate('push', { command: 'true' }, { sha: entry.sha });
  expect(push.outputs).toMatchObject({ result: 'passed', tree: 'open' });
  expect(repo.latestStatus(waiting.head.sha, 'test-gate/tree')?.state).toBe('success');
});

test('an entry whose tests fail on top of main drops out of the queue; the entry behind it is rebuilt without it and merges', async () => {
  const [tip] = gh.seedCommits(REPO, 'main', [{ message: 'green' }]);
  gh.seedStatus(REPO, tip, { state: 'success', context: 'test-gate' });
  const breaking = gh.seedPull(REPO, { head: 'rename-api', headSha: 'c'.repeat(40) });
  const good = gh.seedPull(REPO, { head: 'copy-fix', headSha: 'd'.repeat(40) });
  const first = gh.enqueue(REPO, breaking.number);
  const second = gh.enqueue(REPO, good.number);
  // GitHub tests each entry on top of the ones ahead of it.
  expect(second.entry.baseSha).toBe(first.entry.sha);

  const red = await runEntry(first.payload, 'echo "cart.test.js: 1 failing"; exit 1');
  expect(red.failure).toBe('the test command failed with exit code 1');
  expect(gh.repo(REPO).latestStatus(first.entry.sha, 'test-gate/tree')).toMatchObject({
    state: 'failure',
    description: 'merge queue: red on top of main, so it leaves the queue',
  });
  const builtOnRed = await runEntry(second.payload, 'exit 1'); // it contains the breaking change too
  expect(builtOnRed.outputs).toMatchObject({ result: 'failed' });

  const settled = gh.settleQueue(REPO, REQUIRED);
  expect(settled).toMatchObject({ merged: [], dropped: [breaking.number] });
  expect(gh.repo(REPO).tip('main')).toBe(tip);
  expect(settled.rebuilt.map((x) => x.entry.pull)).toEqual([good.number]);

  const rebuilt = settled.rebuilt[0];
  expect(rebuilt.entry.baseSha).toBe(tip);
  const green = await runEntry(rebuilt.payload, 'true');
  expect(green.outputs).toMatchObject({ result: 'passed', tree: 'open' });
  expect(gh.repo(REPO).latestStatus(rebuilt.entry.sha, 'test-gate/tree')).toMatchObject({
    state: 'success',
    description: 'merge queue: green on top of main',
  });
  expect(gh.settleQueue(REPO, REQUIRED)).toMatchObject({ merged: [good.number], dropped: [] });
  expect(gh.repo(REPO).tip('main')).toBe(rebuilt.entry.sha);
  expect(gh.repo(REPO).pull(breaking.number)).toMatchObject({ state: 'open', merged: false });
  // main never went red: no red-main issue was opened by the failing entry.
  expect(gh.repo(REPO).issues.filter((i) => !i.pull_request)).toHaveLength(0);
});

test('with tree: false no tree status is posted on queue entries either, while the pull request head is still gated by the tree', async () => {
  const [red] = gh.seedCommits(REPO, 'main', [{ message: 'broke it' }]);
  gh.seedStatus(REPO, red, { state: 'failure', context: 'test-gate' });
  const pr = gh.seedPull(REPO, { head: 'feature', headSha: 'e'.repeat(40) });
  await h.gate(
    'pull_request',
    { command: 'true' },
    { payload: prPayload(pr.number, pr.head.sha), ref: `refs/pull/${pr.number}/merge` },
  );
  expect(gh.repo(REPO).latestStatus(pr.head.sha, 'test-gate/tree')?.state).toBe('failure');
  // tree: false turns the tree status off on pull requests, and on queue entries too (nothing to require).
  const { entry, payload } = gh.enqueue(REPO, pr.number);
  await h.gate(
    'merge_group',
    { command: 'true', tree: 'false' },
    { payload, sha: entry.sha, ref: payload.merge_group.head_ref },
  );
  expect(gh.repo(REPO).latestStatus(entry.sha, 'test-gate/tree')).toBeUndefined();
  expect(gh.repo(REPO).latestStatus(entry.sha, 'test-gate')?.state).toBe('success');
});

// Once the gate has created its check run in_progress, it completes it whatever happens next: a check run
// left in_progress holds the pull request (or the merge) with no reason given, and no later step finishes
// it. Faults are injected after the creation: the stand-in refuses the completing request, or an API read
// the gate needs fails and the error propagates.
import type { GitHubApiStandIn } from '../servers/github-api.js';
import { GateHarness, REPO, copyFixture } from './harness.js';

const h = new GateHarness();
let gh: GitHubApiStandIn;
beforeEach(async () => {
  await h.setUp();
  gh = h.gh;
});
afterEach(() => h.tearDown());

test('the request completing the check run (with its annotations) is refused: completed as failed anyway, saying why', async () => {
  const [sha] = gh.seedCommits(REPO, 'main', [{ message: 'feat: cart' }]);
  gh.failNext({
    method: 'PATCH',
    path: /\/check-runs\/\d+$/,
    status: 422,
    message: "Invalid request.\n\nFor 'properties/annotations', nil is not an array.",
  });
  const r = await h.gate(
    'push',
    { command: `${copyFixture('jest-junit-file-attribute.xml')} && exit 1`, junit: 'reports/*.xml' },
    { sha },
  );
  expect(r.outputs).toMatchObject({ result: 'failed', failures: 2 });
  const run = gh.repo(REPO).checkRuns[0];
  expect(run).toMatchObject({ status: 'completed', conclusion: 'failure', output: { title: 'the gate failed' } });
  expect(run.output.summary).toContain('## ❌ test-gate: the gate failed');
  expect(run.output.summary).toContain(
    "could not complete the check run: 422 Invalid request. |  | For 'properties/annotations', nil is not an array.",
  );
});

test('an API error after the check run was created propagates, after the check run is completed as failed with it', async () => {
  const [sha] = gh.seedCommits(REPO, 'main', [{ message: 'feat: cart' }]);
  // The branch history the tree needs: a server error, its message written to break out of the summary.
  gh.failNext({
    method: 'GET',
    path: /\/repos\/acme\/shop\/commits$/,
    status: 500,
    message: 'upstream timeout\n::error::@ann `see` [here](https://evil.example)',
  });
  await expect(h.gate('push', { command: 'true' }, { sha })).rejects.toThrow(/upstream timeout/);
  const repo = gh.repo(REPO);
  expect(repo.checkRuns).toHaveLength(1);
  const run = repo.checkRuns[0];
  expect(run).toMatchObject({
    head_sha: sha,
    status: 'completed',
    conclusion: 'failure',
    output: { title: 'the gate failed' },
  });
  // One line, in a code block: no workflow command, mention or link comes alive.
  expect(run.output.summary).toMatch(
    /\n```\nupstream timeout \| ::error::@ann `see` \[here\]\(https:\/\/evil\.example\)[^\n]*\n```\n/,
  );
  expect(run.output.summary).not.toMatch(/^::error/m);
  // The push's pending commit status is not left pending either.
  expect(repo.latestStatus(sha, 'test-gate')).toMatchObject({
    state: 'failure',
    description: expect.stringMatching(/^the gate failed: upstream timeout \| ::error::/),
  });
});

test('mode publish: an API error before anything was posted still leaves a failing check run on the head, not a missing one', async () => {
  const head = '9'.repeat(40);
  gh.seedCommits(REPO, 'main', [{ message: 'tip' }]);
  gh.seedWorkflowRun(REPO, {
    id: 501,
    name: 'test',
    event: 'pull_request',
    head_sha: head,
    head_branch: 'patch-1',
    head_repository: REPO,
    conclusion: 'failure',
  });
  gh.failNext({ method: 'GET', path: /\/actions\/runs\/501\/artifacts$/, status: 502, message: 'Bad Gateway' });
  await expect(
    h.gate('workflow_run', { mode: 'publish' }, { payload: gh.workflowRunEvent(REPO, 501), runId: 900 }),
  ).rejects.toThrow(/Bad Gateway/);
  const runs = gh.repo(REPO).checkRuns;
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatchObject({
    head_sha: head,
    status: 'completed',
    conclusion: 'failure',
    output: { title: 'the gate failed' },
  });
  expect(runs[0].output.summary).toContain('Bad Gateway');
});

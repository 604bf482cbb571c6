// Pull requests from forks, the two-workflow mode end to end. The pull request's workflow (read-only
// token) runs test-gate in mode save; its results directory is zipped as actions/upload-artifact does
// (streamed, with data descriptors) and stored as the run's artifact in the stand-in; the workflow_run
// workflow (write token, no pull-request code) runs mode publish on the stand-in's workflow_run event.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '../../src/github/client.js';
import type { GitHubApiStandIn } from '../servers/github-api.js';
import { GateHarness, REPO, copyFixture, prPayload, zipDirectory } from './harness.js';

const h = new GateHarness({ readOnlyTokens: ['fork-token'] });
let gh: GitHubApiStandIn;
beforeEach(async () => {
  await h.setUp();
  gh = h.gh;
});
afterEach(() => h.tearDown());

const FORK = 'mallory/shop';
const RUN_ID = 501;
const publishInputs = { mode: 'publish' };

/** A fork's pull request, main red or green, and the PR workflow's half run with the fork's read-only token. */
async function savedForkRun(o: {
  command: string;
  junit?: string;
  retries?: string;
  mainRed?: boolean;
  labels?: string[];
  files?: string[];
}) {
  const [tip] = gh.seedCommits(REPO, 'main', [{ message: 'tip' }]);
  gh.seedStatus(REPO, tip, { state: o.mainRed ? 'failure' : 'success', context: 'test-gate' });
  const pr = gh.seedPull(REPO, {
    head: 'patch-1',
    headSha: '9'.repeat(40),
    fork: FORK,
    labels: o.labels,
    files: o.files ?? ['src/cart.js', 'src/cart.test.js'],
  });
  mkdirSync(join(h.dir, 'src'), { recursive: true });
  writeFileSync(join(h.dir, 'src/cart.test.js'), '');
  const saved = await h.gate(
    'pull_request',
    { mode: 'save', command: o.command, junit: o.junit ?? '', retries: o.retries ?? '0', 'github-token': 'fork-token' },
    {
      payload: prPayload(pr.number, pr.head.sha, { fork: FORK }),
      ref: `refs/pull/${pr.number}/merge`,
      runId: RUN_ID,
      client: createClient('fork-token', gh.url),
    },
  );
  gh.seedWorkflowRun(REPO, {
    id: RUN_ID,
    name: 'test',
    event: 'pull_request',
    head_sha: pr.head.sha,
    head_branch: 'patch-1',
    head_repository: FORK,
    conclusion: saved.failure ? 'failure' : 'success',
  });
  return { pr, saved };
}

async function publish(inputs: Record<string, string> = publishInputs) {
  return h.gate('workflow_run', inputs, {
    payload: gh.workflowRunEvent(REPO, RUN_ID),
    runId: 900,
    ref: 'refs/heads/main',
  });
}

test('mode run on a fork pull request: the read-only token cannot post, and the log says what to do instead', async () => {
  gh.seedCommits(REPO, 'main', [{}]);
  const pr = gh.seedPull(REPO, { head: 'patch-1', headSha: '8'.repeat(40), fork: FORK });
  const r = await h.gate(
    'pull_request',
    { command: 'true', 'github-token': 'fork-token' },
    { payload: prPayload(pr.number, pr.head.sha, { fork: FORK }), client: createClient('fork-token', gh.url) },
  );
  expect(r.failure).toBeUndefined();
  expect(r.log).toContain(`#${pr.number} comes from a fork: its token is read-only`);
  expect(r.log).toMatch(
    /could not create the check run: 403 Resource not accessible by integration.*use mode save and publish/,
  );
  expect(gh.repo(REPO).checkRuns).toHaveLength(0);
  expect(gh.repo(REPO).statuses.filter((s) => s.sha === pr.head.sha)).toHaveLength(0);
});

test('save, then publish: the check run with annotations and the tree status land on the fork PR head; the save half needs no token', async () => {
  const { pr, saved } = await savedForkRun({
    command: `${copyFixture('jest-junit-file-attribute.xml')} && exit 1`,
    junit: 'reports/*.xml',
    mainRed: true,
  });
  // The pull request's half: the tests ran and failed, nothing was posted, the result is on disk.
  expect(saved.failure).toMatch(/^2 of 4 tests failed/);
  expect(saved.outputs).toMatchObject({ result: 'failed', tests: 4, failures: 2 });
  const resultsPath = String(saved.outputs['results-path']);
  expect(existsSync(join(resultsPath, 'result.json'))).toBe(true);
  expect(existsSync(join(resultsPath, 'reports/attempt-1/reports/jest-junit-file-attribute.xml'))).toBe(true);
  expect(gh.requests.filter((q) => q.method !== 'GET')).toHaveLength(0);
  expect(gh.requests).toHaveLength(0);

  gh.seedArtifact(REPO, { runId: RUN_ID, name: 'test-gate-results', zip: await zipDirectory(resultsPath) });
  const r = await publish();
  // The check run carries the red verdict; the publishing step itself succeeded.
  expect(r.failure).toBeUndefined();
  expect(r.outputs).toMatchObject({ result: 'failed', tests: 4, failures: 2, tree: 'closed' });
  const repo = gh.repo(REPO);
  expect(repo.checkRuns).toHaveLength(1);
  const run = repo.checkRuns[0];
  expect(run).toMatchObject({
    head_sha: pr.head.sha,
    name: 'test-gate',
    conclusion: 'failure',
    details_url: `https://github.com/${REPO}/actions/runs/${RUN_ID}`,
    output: { title: '2 of 4 tests failed, 1 skipped' },
  });
  expect(run.annotations.map((a) => `${a.path}:${a.start_line}`)).toEqual([
    'src/cart.test.js:9',
    'src/cart.test.js:17',
  ]);
  expect(repo.latestStatus(pr.head.sha, 'test-gate/tree')).toMatchObject({
    state: 'failure',
    description: expect.stringMatching(/^tree closed: main is red since/),
  });
  // The artifact is fetched through the API and its signed storage URL, which gets no token.
  expect(gh.requestsMatching(/GET \/repos\/acme\/shop\/actions\/runs\/501\/artifacts/)).toHaveLength(1);
  expect(gh.requestsMatching(/GET \/_blobs\//)).toHaveLength(1);
});

test("publish reads the pull request's labels with the write token: the override label and the bug rule apply", async () => {
  await savedForkRun({ command: 'true', mainRed: true, labels: ['fixes-tree', 'bug'], files: ['src/cart.js'] });
  gh.seedArtifact(REPO, { runId: RUN_ID, name: 'test-gate-results', zip: await zipDirectory(h.resultsDir) });
  const r = await publish();
  const repo = gh.repo(REPO);
  const head = '9'.repeat(40);
  expect(repo.latestStatus(head, 'test-gate/tree')).toMatchObject({
    state: 'success',
    description: expect.stringContaining("overridden by label 'fixes-tree'"),
  });
  expect(repo.checkRuns[0]).toMatchObject({
    conclusion: 'failure',
    output: { title: 'command passed, bug fix without a test' },
  });
  expect(r.failure).toBeUndefined();
});

test('publish with a token that may not write checks: the step fails, naming the write and the permission', async () => {
  await savedForkRun({ command: 'true' });
  gh.seedArtifact(REPO, { runId: RUN_ID, name: 'test-gate-results', zip: await zipDirectory(h.resultsDir) });
  gh.failNext({
    method: 'POST',
    path: /\/check-runs$/,
    status: 403,
    message: 'Resource not accessible by integration',
  });
  const r = await publish();
  expect(r.failure).toMatch(
    /^could not publish everything: could not complete the check run: 403 Resource not accessible by integration.* \(the workflow_run job's token needs 'checks: write', 'statuses: write', 'pull-requests: read' and 'actions: read'\)$/,
  );
  // What could be written was: the tree status is on the head.
  expect(gh.repo(REPO).latestStatus('9'.repeat(40), 'test-gate/tree')?.state).toBe('success');
});

test("retries in the save half: each attempt's reports are kept, and publish names the flaky test", async () => {
  const report = (failing: boolean) =>
    `<testsuite name="cart" tests="1"><testcase classname="cart" name="totals" file="src/cart.test.js" time="0.1">${failing ? '<failure message="timeout">at Object.x (src/cart.test.js:4:1)</failure>' : ''}</testcase></testsuite>`;
  writeFileSync(join(h.dir, 'fail.xml'), report(true));
  writeFileSync(join(h.dir, 'pass.xml'), report(false));
  const { saved } = await savedForkRun({
    command:
      'if [ "$TEST_GATE_ATTEMPT" = 1 ]; then cp fail.xml reports/r.xml; exit 1; else cp pass.xml reports/r.xml; fi',
    junit: 'reports/r.xml',
    retries: '1',
  });
  expect(saved.outputs).toMatchObject({ result: 'passed', flaky: 1 });
  const dir = String(saved.outputs['results-path']);
  expect(readFileSync(join(dir, 'reports/attempt-1/reports/r.xml'), 'utf8')).toContain('<failure');
  expect(readFileSync(join(dir, 'reports/attempt-2/reports/r.xml'), 'utf8')).not.toContain('<failure');
  gh.seedArtifact(REPO, { runId: RUN_ID, name: 'test-gate-results', zip: await zipDirectory(dir) });
  const r = await publish();
  expect(r.outputs).toMatchObject({ result: 'passed', flaky: 1 });
  const run = gh.repo(REPO).checkRuns[0];
  expect(run).toMatchObject({ conclusion: 'success', output: { title: '1 tests passed, flaky: passed on attempt 2' } });
  expect(run.annotations).toEqual([
    expect.objectContaining({
      annotation_level: 'warning',
      title: 'flaky: cart › totals',
      path: 'src/cart.test.js',
      start_line: 4,
    }),
  ]);
});

test('no artifact, an expired one, or one for another commit: a failing check run saying why, and the publish step fails', async () => {
  const { pr } = await savedForkRun({ command: 'true' });
  const missing = await publish();
  expect(missing.failure).toMatch(
    /run 501 has no artifact named 'test-gate-results': the tests workflow must run test-gate with mode: save/,
  );
  const repo = gh.repo(REPO);
  expect(repo.checkRuns[0]).toMatchObject({
    head_sha: pr.head.sha,
    conclusion: 'failure',
    output: { title: 'no test result' },
  });

  const dir = h.resultsDir;
  const expired = gh.seedArtifact(REPO, {
    runId: RUN_ID,
    name: 'test-gate-results',
    zip: await zipDirectory(dir),
    expired: true,
  });
  expect((await publish()).failure).toMatch(/the artifact 'test-gate-results' of run 501 has expired/);
  expired.name = 'old';

  // A result claiming another commit (stale, or forged by the pull request's code) is refused.
  const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
  writeFileSync(join(dir, 'result.json'), JSON.stringify({ ...result, headSha: '7'.repeat(40) }));
  gh.seedArtifact(REPO, { runId: RUN_ID, name: 'test-gate-results', zip: await zipDirectory(dir) });
  const forged = await publish();
  expect(forged.failure).toBe('the saved result is for 7777777, but run 501 tested 9999999');
  expect(repo.checkRuns.map((c) => c.conclusion)).toEqual(['failure', 'failure', 'failure']);
  expect(repo.checkRuns.every((c) => c.head_sha === pr.head.sha)).toBe(true);
});

test("publish skips runs that are not a pull request's or were cancelled, refuses other events, and runs no command", async () => {
  gh.seedWorkflowRun(REPO, { id: RUN_ID, event: 'push', head_sha: '6'.repeat(40), conclusion: 'success' });
  const push = await publish();
  expect(push.outputs).toMatchObject({ result: 'skipped' });
  expect(push.log).toContain("test-gate publish skipped: run 501 ran on 'push', not pull_request");
  gh.seedWorkflowRun(REPO, { id: RUN_ID, event: 'pull_request', conclusion: 'cancelled' });
  expect((await publish()).log).toContain('run 501 was cancelled');
  expect(gh.repo(REPO).checkRuns).toHaveLength(0);

  const forgot = await h.gate('workflow_run', { command: 'npm test' }, { payload: gh.workflowRunEvent(REPO, RUN_ID) });
  expect(forgot.log).toContain("this run is 'workflow_run'. Not run: the test command");
  expect(forgot.log).toContain('set mode: publish');
  await expect(h.gate('pull_request', publishInputs, { payload: prPayload(1, '5'.repeat(40)) })).rejects.toThrow(
    "mode publish runs on the workflow_run event, and this run is 'pull_request'",
  );
  await expect(publish({ mode: 'publish', command: 'npm test' })).rejects.toThrow(
    "input 'command': is not run in mode publish",
  );
  await expect(publish({ mode: 'dry' })).rejects.toThrow("input 'mode': expected run, save or publish, got 'dry'");
});

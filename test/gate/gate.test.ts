// test-gate end to end: real shell commands, real JUnit files, the real Octokit client against the GitHub
// API stand-in, which the tests read back.
import { renderGitHub } from '../github/render.js';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GitHubClient } from '../../src/github/client.js';
import type { GitHubApiStandIn } from '../servers/github-api.js';
import { FIXTURES, GateHarness, REPO, copyFixture, prPayload, type EventOptions } from './harness.js';

const h = new GateHarness();
let gh: GitHubApiStandIn;
let client: GitHubClient;
let dir: string;

beforeEach(async () => {
  await h.setUp();
  ({ gh, client, dir } = h);
});
afterEach(() => h.tearDown());

const gate = (eventName: string, inputs: Record<string, string>, o: EventOptions = {}) => h.gate(eventName, inputs, o);

test('a passing command on a push to main: check run, commit status, tree open, output streamed', async () => {
  const [sha] = gh.seedCommits(REPO, 'main', [{ message: 'feat: cart' }]);
  const r = await gate('push', { command: 'echo running the suite; echo to-stderr >&2' }, { sha });
  expect(r.failure).toBeUndefined();
  expect(r.outputs).toMatchObject({ result: 'passed', tests: 0, failures: 0, flaky: 0, tree: 'open' });
  expect(r.output).toContain('running the suite');
  expect(r.output).toContain('to-stderr');
  const repo = gh.repo(REPO);
  expect(repo.checkRuns).toHaveLength(1);
  expect(repo.checkRuns[0]).toMatchObject({
    name: 'test-gate',
    head_sha: sha,
    status: 'completed',
    conclusion: 'success',
  });
  expect(repo.statusesFor(sha).map((s) => `${s.context}:${s.state}`)).toEqual([
    'test-gate:success',
    'test-gate:pending',
  ]);
  expect(r.summary).toContain('test-gate');
});

test('a failing jest-junit run on main closes the tree: annotations, red-main issue, every open PR blocked except the fix', async () => {
  const [green, middle, sha] = gh.seedCommits(REPO, 'main', [
    { message: 'green one', author: { name: 'Ann', login: 'ann' } },
    { message: 'refactor discount', author: { name: 'Bob', login: 'bob' } },
    { message: 'tweak', author: { name: 'Cy', login: 'cy' } },
  ]);
  gh.seedStatus(REPO, green, { state: 'success', context: 'test-gate' });
  const plain = gh.seedPull(REPO, { head: 'feature', headSha: 'a'.repeat(40) });
  const fix = gh.seedPull(REPO, { head: 'the-fix', headSha: 'b'.repeat(40), labels: ['fixes-tree'] });

  // The fixture was written in /tmp/fx/shop: its stack paths are matched to this checkout's files.
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src/cart.test.js'), '');
  const r = await gate(
    'push',
    { command: `${copyFixture('jest-junit-file-attribute.xml')} && exit 1`, junit: 'reports/*.xml' },
    { sha },
  );
  expect(r.outputs).toMatchObject({ result: 'failed', tests: 4, failures: 2, tree: 'closed' });
  expect(r.failure).toMatch(/2 of 4 tests failed: cart applies the discount above 100, checkout rejects an empty cart/);

  const repo = gh.repo(REPO);
  const run = repo.checkRuns[0];
  expect(run).toMatchObject({ conclusion: 'failure', output: { title: '2 of 4 tests failed, 1 skipped' } });
  expect(run.annotations.map((a) => `${a.path}:${a.start_line}:${a.annotation_level}`)).toEqual([
    'src/cart.test.js:9:failure',
    'src/cart.test.js:17:failure',
  ]);
  expect(repo.latestStatus(sha, 'test-gate')?.state).toBe('failure');

  expect(repo.latestStatus(plain.head.sha, 'test-gate/tree')).toMatchObject({
    state: 'failure',
    description: `tree closed: main is red since ${sha.slice(0, 7)}, https://github.com/acme/shop/actions/runs/77`,
  });
  expect(repo.latestStatus(fix.head.sha, 'test-gate/tree')).toMatchObject({
    state: 'success',
    description: expect.stringContaining("overridden by label 'fixes-tree'"),
  });

  expect(repo.issues).toHaveLength(3); // two PRs and the red-main issue
  const issue = repo.issues[2];
  expect(issue.title).toBe(`main is red: test-gate failing since ${sha.slice(0, 7)}`);
  expect(issue.body).toContain(`compare/${green}...${sha}`);
  expect(issue.body).toContain(middle.slice(0, 7));
  expect(issue.body).toContain('@bob, @cy');
  expect(issue.body).not.toContain('@ann');
  expect(issue.body).toContain('`cart applies the discount above 100` — `src/cart.test.js:9`');
  expect(issue.body).toContain('## Five whys');
});

test('a pull request while main is red gets a failing tree status; the override label turns it green; passing tests do not fail the step', async () => {
  const [red] = gh.seedCommits(REPO, 'main', [{ message: 'broke it' }]);
  gh.seedStatus(REPO, red, { state: 'failure', context: 'test-gate', target_url: 'https://ci/run/1' });
  const pr = gh.seedPull(REPO, { head: 'feature', headSha: 'c'.repeat(40) });
  const r = await gate(
    'pull_request',
    { command: 'true' },
    { payload: prPayload(pr.number, pr.head.sha), ref: `refs/pull/${pr.number}/merge`, sha: 'd'.repeat(40) },
  );
  expect(r.failure).toBeUndefined();
  expect(r.outputs).toMatchObject({ result: 'passed', tree: 'closed' });
  const repo = gh.repo(REPO);
  // The check run and tree status go on the PR head, not on the merge commit GITHUB_SHA names.
  expect(repo.checkRuns[0].head_sha).toBe(pr.head.sha);
  expect(repo.latestStatus(pr.head.sha, 'test-gate/tree')).toMatchObject({
    state: 'failure',
    description: `tree closed: main is red since ${red.slice(0, 7)}, https://ci/run/1`,
    target_url: 'https://ci/run/1',
  });
  expect(repo.statusesFor(pr.head.sha).some((s) => s.context === 'test-gate')).toBe(false);

  await client.rest.issues.addLabels({ owner: 'acme', repo: 'shop', issue_number: pr.number, labels: ['fixes-tree'] });
  const again = await gate('pull_request', { command: 'true' }, { payload: prPayload(pr.number, pr.head.sha) });
  expect(again.outputs.tree).toBe('closed');
  expect(repo.latestStatus(pr.head.sha, 'test-gate/tree')?.state).toBe('success');
});

test('main turning green closes the red-main issue and re-posts success on every open pull request', async () => {
  const [red, sha] = gh.seedCommits(REPO, 'main', [{ message: 'broke it' }, { message: 'fix it' }]);
  gh.seedStatus(REPO, red, { state: 'failure', context: 'test-gate' });
  const issue = gh.seedIssue(REPO, {
    title: 'main is red',
    body: '<!-- fivestep:test-gate:red-main:test-gate -->\nold',
  });
  const other = gh.seedIssue(REPO, { title: 'unrelated' });
  const prs = [1, 2, 3].map((i) => gh.seedPull(REPO, { head: `f${i}`, headSha: String(i).repeat(40) }));
  for (const p of prs) gh.seedStatus(REPO, p.head.sha, { state: 'failure', context: 'test-gate/tree' });
  const closedPr = gh.seedPull(REPO, { head: 'old', headSha: '9'.repeat(40), state: 'closed' });

  const r = await gate('push', { command: 'exit 0' }, { sha });
  expect(r.outputs.tree).toBe('open');
  const repo = gh.repo(REPO);
  for (const p of prs)
    expect(repo.latestStatus(p.head.sha, 'test-gate/tree')).toMatchObject({
      state: 'success',
      description: `tree open: main is green at ${sha.slice(0, 7)}`,
    });
  expect(repo.latestStatus(closedPr.head.sha, 'test-gate/tree')).toBeUndefined();
  expect(repo.issue(issue.number)).toMatchObject({ state: 'closed', state_reason: 'completed' });
  expect(repo.commentsOn(issue.number)[0].body).toContain('green again');
  expect(repo.commentsOn(issue.number)[0].body).toContain('3 open pull request(s)');
  expect(repo.issue(other.number)?.state).toBe('open');
  expect(r.log).toContain('tree: open (was closed)');
});

test('the red-main issue is opened once, updated while main stays red, closed when green', async () => {
  const [a, b, c] = gh.seedCommits(REPO, 'main', [{ message: 'a' }, { message: 'b' }, { message: 'c' }]);
  gh.seedStatus(REPO, a, { state: 'success', context: 'test-gate' });
  await gate('push', { command: 'exit 3' }, { sha: b });
  const repo = gh.repo(REPO);
  expect(repo.issues.filter((i) => i.state === 'open')).toHaveLength(1);
  expect(repo.issues[0].body).toContain('without a JUnit report naming tests');
  await gate('push', { command: 'exit 3' }, { sha: c });
  expect(repo.issues).toHaveLength(1);
  expect(repo.issues[0].title).toContain(`since ${b.slice(0, 7)}`);
  expect(repo.commentsOn(repo.issues[0].number).map((x) => x.body)).toEqual([
    expect.stringContaining(`Still red at [\`${c.slice(0, 7)}\`]`),
  ]);
  const [d] = gh.seedCommits(REPO, 'main', [{ message: 'd' }]);
  await gate('push', { command: 'true' }, { sha: d });
  expect(repo.issues[0].state).toBe('closed');
  expect(repo.commentsOn(repo.issues[0].number)).toHaveLength(2);
});

test('an issue a stranger opened with the red-main marker is never taken over: the gate opens and closes its own', async () => {
  const stranger = gh.seedIssue(REPO, {
    title: 'please read',
    body: '<!-- fivestep:test-gate:red-main:test-gate -->\n[click](https://evil.example)',
    user: 'mallory',
  });
  const [a, b] = gh.seedCommits(REPO, 'main', [{ message: 'a' }, { message: 'b' }]);
  gh.seedStatus(REPO, a, { state: 'success', context: 'test-gate' });
  await gate('push', { command: 'exit 3' }, { sha: b });
  const repo = gh.repo(REPO);
  const own = repo.issues.filter((i) => i.number !== stranger.number);
  expect(own).toHaveLength(1);
  expect(own[0].user.login).toBe('github-actions[bot]');
  expect(own[0].title).toContain('main is red');
  const [c] = gh.seedCommits(REPO, 'main', [{ message: 'c' }]);
  await gate('push', { command: 'true' }, { sha: c });
  expect(own[0].state).toBe('closed');
  // The stranger's issue: as it was written, never commented on or closed.
  expect(stranger).toMatchObject({
    title: 'please read',
    body: '<!-- fivestep:test-gate:red-main:test-gate -->\n[click](https://evil.example)',
    state: 'open',
  });
  expect(repo.commentsOn(stranger.number)).toHaveLength(0);
});

test('the red-main issue quotes commit messages and test names as text: no mention, link or markup from them', async () => {
  const hostile = '@octocat [click](https://evil.example) <img src=x> fixes #1 `x` | y';
  const [a, b] = gh.seedCommits(REPO, 'main', [{ message: 'a' }, { message: `${hostile}\n\nbody @someone` }]);
  gh.seedStatus(REPO, a, { state: 'success', context: 'test-gate' });
  const xml = `<testsuite name="s"><testcase classname="s" name="${hostile.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')}" file="src/x.test.ts"><failure message="${hostile.replace(/</g, '&lt;').replace(/"/g, '&quot;')}">at x (src/x.test.ts:2:1)</failure></testcase></testsuite>`;
  writeFileSync(join(dir, 'r.xml'), xml);
  await gate('push', { command: 'cp r.xml reports/r.xml; exit 1' }, { sha: b });
  const issue = gh.repo(REPO).issues[0];
  const page = renderGitHub(issue.body ?? '');
  // fivestep's own links (commits, compare, the run) and nothing else.
  // The one mention is the suspect commit's author, by GitHub login (asked to look, as intended).
  expect(page.live.filter((l) => !/^<a href="https:\/\/github\.com\/acme\/shop\//.test(l))).toEqual([
    '@developer',
    '@developer',
  ]);
  expect(page.tags).not.toContain('img');
  expect(page.text).toContain(hostile);
  const check = gh.repo(REPO).checkRuns[0];
  expect(renderGitHub(check.output.summary ?? '').live).toEqual([]);
});

test('pytest report on a failing workflow_dispatch run: annotations at the test lines', async () => {
  mkdirSync(join(dir, 'tests'));
  writeFileSync(join(dir, 'tests/test_pricing.py'), '');
  const [sha] = gh.seedCommits(REPO, 'main', [{}]);
  const r = await gate(
    'workflow_dispatch',
    { command: `${copyFixture('pytest-xunit1.xml')}; exit 1`, junit: 'reports/pytest-*.xml' },
    { sha },
  );
  expect(r.outputs).toMatchObject({ result: 'failed', tests: 5, failures: 2 });
  expect(gh.repo(REPO).checkRuns[0].annotations.map((a) => `${a.path}:${a.start_line}`)).toEqual([
    'tests/test_pricing.py:11',
    'tests/test_pricing.py:19',
  ]);
  expect(r.summary).toContain('Slowest tests');
});

test('over 50 failing tests: annotations sent in batches of 50', async () => {
  const script = `{ echo '<testsuite name="big">'; for i in $(seq 1 60); do echo "<testcase classname=\\"big\\" name=\\"t$i\\" file=\\"src/big.test.ts\\" time=\\"0.0$((i % 10))\\"><failure message=\\"no $i\\">at x (src/big.test.ts:$i:1)</failure></testcase>"; done; echo '</testsuite>'; } > reports/big.xml; exit 1`;
  const [sha] = gh.seedCommits(REPO, 'main', [{}]);
  const r = await gate('push', { command: script, junit: 'reports/big.xml' }, { sha });
  expect(r.outputs).toMatchObject({ tests: 60, failures: 60 });
  const run = gh.repo(REPO).checkRuns[0];
  expect(run.annotationBatches).toEqual([50, 10]);
  expect(run.annotations).toHaveLength(60);
  expect(run.annotations[59]).toMatchObject({
    path: 'src/big.test.ts',
    start_line: 60,
    title: 'big › t60',
    message: 'no 60',
  });
});

test('retries: a pass on retry is flaky, naming the tests that flipped', async () => {
  const xml = (bStatus: string) =>
    `<testsuite name="s"><testcase classname="s" name="a" time="0.1"/><testcase classname="s" name="b" file="src/b.test.ts" time="0.2">${bStatus}</testcase></testsuite>`;
  writeFileSync(join(dir, 'fail.xml'), xml('<failure message="timeout">at x (src/b.test.ts:5:1)</failure>'));
  writeFileSync(join(dir, 'pass.xml'), xml(''));
  const command =
    'if [ "$TEST_GATE_ATTEMPT" = 1 ]; then cp fail.xml reports/r.xml; exit 1; else cp pass.xml reports/r.xml; fi';
  const [sha] = gh.seedCommits(REPO, 'main', [{}]);
  const r = await gate('push', { command, junit: 'reports/r.xml', retries: '2' }, { sha });
  expect(r.failure).toBeUndefined();
  expect(r.outputs).toMatchObject({ result: 'passed', tests: 2, failures: 0, flaky: 1 });
  expect(r.log).toContain('warning: flaky: 1 test(s) failed, then passed on a retry: s › b');
  expect(r.log).toContain('retry 1 of 2');
  const run = gh.repo(REPO).checkRuns[0];
  expect(run.conclusion).toBe('success');
  expect(run.output.title).toContain('flaky: passed on attempt 2');
  expect(run.annotations).toEqual([
    expect.objectContaining({
      path: 'src/b.test.ts',
      start_line: 5,
      annotation_level: 'warning',
      title: 'flaky: s › b',
    }),
  ]);
});

test('retries exhausted: still failed, and stale reports from before the run are ignored', async () => {
  copyFileSync(join(FIXTURES, 'go-junit-report.xml'), join(dir, 'reports/old.xml'));
  const past = new Date(Date.now() - 60_000);
  const { utimesSync } = await import('node:fs');
  utimesSync(join(dir, 'reports/old.xml'), past, past);
  const [sha] = gh.seedCommits(REPO, 'main', [{}]);
  const r = await gate('push', { command: 'exit 1', junit: 'reports/*.xml', retries: '1' }, { sha });
  expect(r.outputs).toMatchObject({ result: 'failed', tests: 0, failures: 1, flaky: 0 });
  expect(r.failure).toBe('the test command failed with exit code 1 (after 2 attempts)');
  expect(r.log).toContain('ignored 1 JUnit file(s) older than this run: reports/old.xml');
});

test('bug-needs-test: a bug-labelled PR without a test fails; with one it passes', async () => {
  const noTest = gh.seedPull(REPO, {
    head: 'fix-a',
    headSha: '1'.repeat(40),
    labels: ['bug'],
    files: ['src/cart.ts', 'README.md'],
  });
  const r = await gate('pull_request', { command: 'true' }, { payload: prPayload(noTest.number, noTest.head.sha) });
  expect(r.outputs.result).toBe('passed');
  expect(r.failure).toMatch(/labelled 'bug' but changes no test/);
  expect(gh.repo(REPO).checkRuns[0]).toMatchObject({
    conclusion: 'failure',
    output: { title: 'command passed, bug fix without a test' },
  });

  const withTest = gh.seedPull(REPO, {
    head: 'fix-b',
    headSha: '2'.repeat(40),
    labels: ['Bug'],
    files: ['src/cart.ts', 'src/__tests__/cart.ts'],
  });
  const ok = await gate(
    'pull_request',
    { command: 'true' },
    { payload: prPayload(withTest.number, withTest.head.sha) },
  );
  expect(ok.failure).toBeUndefined();
  expect(ok.summary).toContain('bug fix with a test: src/\\_\\_tests\\_\\_/cart.ts');

  const custom = gh.seedPull(REPO, {
    head: 'fix-c',
    headSha: '3'.repeat(40),
    labels: ['regression'],
    files: ['lib/cart.rb', 'checks/cart_check.rb'],
  });
  const c = await gate(
    'pull_request',
    { command: 'true', 'bug-labels': 'bug\nregression', 'test-paths': 'checks/**, **/*.{spec,check}.rb' },
    { payload: prPayload(custom.number, custom.head.sha) },
  );
  expect(c.failure).toBeUndefined();
});

test('events other than push, pull_request, merge_group and workflow_dispatch are skipped with a clear message', async () => {
  const r = await gate('schedule', { command: 'touch ran' });
  expect(r.outputs).toMatchObject({ result: 'skipped', tree: '' });
  expect(r.log).toContain(
    "test-gate skipped: it runs on push, pull_request, merge_group and workflow_dispatch, and this run is 'schedule'",
  );
  expect(gh.requests).toHaveLength(0);
  const { existsSync } = await import('node:fs');
  expect(existsSync(join(dir, 'ran'))).toBe(false);
});

test('a refused write is a warning; the tests still decide the step', async () => {
  const [sha] = gh.seedCommits(REPO, 'main', [{}]);
  gh.failNext({
    method: 'POST',
    path: /\/check-runs$/,
    status: 403,
    message: 'Resource not accessible by integration',
    times: 2,
  });
  const r = await gate('push', { command: 'false' }, { sha });
  expect(r.failure).toBe('the test command failed with exit code 1');
  expect(r.log).toMatch(
    /warning: could not create the check run: 403 Resource not accessible by integration.*\(the token needs/,
  );
  expect(gh.repo(REPO).latestStatus(sha, 'test-gate')?.state).toBe('failure');
});

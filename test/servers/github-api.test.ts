// The GitHub API stand-in, driven by the real Octokit client the actions use.
import { createClient, type GitHubClient } from '../../src/github/client.js';
import { startGitHubApi, type GitHubApiStandIn } from './github-api.js';

const R = { owner: 'acme', repo: 'shop' };
let gh: GitHubApiStandIn;
let client: GitHubClient;

beforeEach(async () => {
  gh = await startGitHubApi();
  client = createClient('test-token', gh.url);
});
afterEach(() => gh.close());

test('requires an authorization header, and only known tokens when given', async () => {
  const res = await fetch(`${gh.url}/repos/acme/shop`);
  expect(res.status).toBe(401);
  const strict = await startGitHubApi({ tokens: ['good'] });
  try {
    await expect(createClient('bad', strict.url).rest.repos.get(R)).rejects.toMatchObject({ status: 401 });
    await expect(createClient('good', strict.url).rest.repos.get(R)).resolves.toMatchObject({ status: 200 });
  } finally {
    await strict.close();
  }
});

test('repository default branch, commits of a branch, refs, compare', async () => {
  gh.setDefaultBranch('acme/shop', 'trunk');
  const shas = gh.seedCommits('acme/shop', 'trunk', [
    { message: 'one' },
    { message: 'two', author: { name: 'Ann', login: 'ann' } },
    { message: 'three' },
  ]);
  expect((await client.rest.repos.get(R)).data.default_branch).toBe('trunk');
  const commits = (await client.rest.repos.listCommits({ ...R, sha: 'trunk', per_page: 2 })).data;
  expect(commits.map((c) => c.sha)).toEqual([shas[2], shas[1]]);
  const all = await client.paginate(client.rest.repos.listCommits, { ...R, sha: 'trunk', per_page: 1 });
  expect(all.map((c) => c.commit.message)).toEqual(['three', 'two', 'one']);
  const fromMiddle = (await client.rest.repos.listCommits({ ...R, sha: shas[1] })).data;
  expect(fromMiddle.map((c) => c.sha)).toEqual([shas[1], shas[0]]);
  expect(fromMiddle[0].author?.login).toBe('ann');
  const ref = (await client.rest.git.getRef({ ...R, ref: 'heads/trunk' })).data;
  expect(ref).toMatchObject({ ref: 'refs/heads/trunk', object: { sha: shas[2] } });
  await expect(client.rest.git.getRef({ ...R, ref: 'heads/nope' })).rejects.toMatchObject({ status: 404 });
  await client.rest.git.createRef({ ...R, ref: 'refs/heads/revert-1', sha: shas[1] });
  expect(gh.repo('acme/shop').tip('revert-1')).toBe(shas[1]);
  await client.rest.git.updateRef({ ...R, ref: 'heads/revert-1', sha: 'a'.repeat(40) });
  expect(gh.repo('acme/shop').branches.get('revert-1')).toEqual([shas[0], shas[1], 'a'.repeat(40)]);
  const cmp = (await client.rest.repos.compareCommits({ ...R, base: shas[0], head: 'trunk' })).data;
  expect(cmp.commits.map((c) => c.sha)).toEqual([shas[1], shas[2]]);
});

test('issues: create, get, update, close, list with filters, comments, labels', async () => {
  const a = (await client.rest.issues.create({ ...R, title: 'main is red', body: 'x', labels: ['tree-red'] })).data;
  await client.rest.issues.create({ ...R, title: 'other' });
  expect(a.number).toBe(1);
  expect(a.labels).toMatchObject([{ name: 'tree-red' }]);
  await client.rest.issues.update({ ...R, issue_number: 1, body: 'updated' });
  expect((await client.rest.issues.get({ ...R, issue_number: 1 })).data.body).toBe('updated');
  const labelled = (await client.rest.issues.listForRepo({ ...R, labels: 'tree-red', state: 'open' })).data;
  expect(labelled.map((i) => i.number)).toEqual([1]);
  await client.rest.issues.createComment({ ...R, issue_number: 1, body: 'green again' });
  await client.rest.issues.update({ ...R, issue_number: 1, state: 'closed' });
  expect((await client.rest.issues.listForRepo({ ...R })).data.map((i) => i.number)).toEqual([2]);
  expect((await client.rest.issues.listForRepo({ ...R, state: 'closed' })).data[0]).toMatchObject({
    number: 1,
    state_reason: 'completed',
    comments: 1,
  });
  expect((await client.rest.issues.listComments({ ...R, issue_number: 1 })).data.map((c) => c.body)).toEqual([
    'green again',
  ]);
  await client.rest.issues.addLabels({ ...R, issue_number: 2, labels: ['incident', 'p1'] });
  await client.rest.issues.removeLabel({ ...R, issue_number: 2, name: 'p1' });
  expect((await client.rest.issues.listLabelsOnIssue({ ...R, issue_number: 2 })).data.map((l) => l.name)).toEqual([
    'incident',
  ]);
  await expect(client.rest.issues.get({ ...R, issue_number: 99 })).rejects.toMatchObject({ status: 404 });
  expect(gh.repo('acme/shop').commentsOn(1)).toHaveLength(1);
});

test('pulls: seeded with labels and files, created, listed, duplicates refused', async () => {
  const seeded = gh.seedPull('acme/shop', {
    head: 'fix',
    headSha: 'b'.repeat(40),
    labels: ['bug'],
    files: ['src/a.ts', 'test/a.test.ts'],
  });
  const pr = (await client.rest.pulls.get({ ...R, pull_number: seeded.number })).data;
  expect(pr).toMatchObject({
    head: { ref: 'fix', sha: 'b'.repeat(40) },
    base: { ref: 'main' },
    labels: [{ name: 'bug' }],
  });
  const files = await client.paginate(client.rest.pulls.listFiles, { ...R, pull_number: pr.number });
  expect(files.map((f) => f.filename)).toEqual(['src/a.ts', 'test/a.test.ts']);
  const created = (await client.rest.pulls.create({ ...R, head: 'revert-x', base: 'main', title: 'Revert' })).data;
  expect(created.number).toBe(2);
  await expect(
    client.rest.pulls.create({ ...R, head: 'revert-x', base: 'main', title: 'again' }),
  ).rejects.toMatchObject({ status: 422 });
  expect((await client.rest.pulls.list({ ...R, state: 'open' })).data.map((p) => p.number)).toEqual([2, 1]);
  expect((await client.rest.issues.listForRepo(R)).data[0].pull_request).toBeDefined();
});

test('commit statuses: create, list, combined; long descriptions rejected', async () => {
  const [sha] = gh.seedCommits('acme/shop', 'main', [{}]);
  await client.rest.repos.createCommitStatus({ ...R, sha, state: 'pending', context: 'gate' });
  await client.rest.repos.createCommitStatus({ ...R, sha, state: 'failure', context: 'gate', description: 'red' });
  await client.rest.repos.createCommitStatus({ ...R, sha, state: 'success', context: 'lint' });
  const list = (await client.rest.repos.listCommitStatusesForRef({ ...R, ref: 'main' })).data;
  expect(list.map((s) => s.state)).toEqual(['success', 'failure', 'pending']);
  const combined = (await client.rest.repos.getCombinedStatusForRef({ ...R, ref: sha })).data;
  expect(combined.state).toBe('failure');
  expect(combined.statuses.map((s) => s.context).sort()).toEqual(['gate', 'lint']);
  await expect(
    client.rest.repos.createCommitStatus({ ...R, sha, state: 'success', description: 'x'.repeat(141) }),
  ).rejects.toMatchObject({ status: 422 });
  expect(gh.repo('acme/shop').latestStatus(sha, 'gate')?.state).toBe('failure');
});

test('check runs: 50 annotations per request, appended on update, listed for a ref', async () => {
  const [sha] = gh.seedCommits('acme/shop', 'main', [{}]);
  const ann = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      path: 'a.ts',
      start_line: i + 1,
      end_line: i + 1,
      annotation_level: 'failure' as const,
      message: `m${i}`,
    }));
  await expect(
    client.rest.checks.create({
      ...R,
      name: 'gate',
      head_sha: sha,
      status: 'completed',
      conclusion: 'failure',
      output: { title: 't', summary: 's', annotations: ann(51) },
    }),
  ).rejects.toMatchObject({
    status: 422,
    message: expect.stringContaining('No more than 50 items are allowed; 51 were supplied.'),
  });
  const run = (
    await client.rest.checks.create({
      ...R,
      name: 'gate',
      head_sha: sha,
      status: 'in_progress',
      output: { title: 't', summary: 's', annotations: ann(50) },
    })
  ).data;
  await client.rest.checks.update({
    ...R,
    check_run_id: run.id,
    conclusion: 'failure',
    output: { title: 't', summary: 's2', annotations: ann(10) },
  });
  const stored = gh.repo('acme/shop').checkRuns[0];
  expect(stored.annotationBatches).toEqual([50, 10]);
  expect(stored).toMatchObject({ status: 'completed', conclusion: 'failure', output: { summary: 's2' } });
  const listed = (await client.rest.checks.listForRef({ ...R, ref: 'main', check_name: 'gate' })).data;
  expect(listed.total_count).toBe(1);
  expect(listed.check_runs[0].output.annotations_count).toBe(60);
  const anns = await client.paginate(client.rest.checks.listAnnotations, { ...R, check_run_id: run.id, per_page: 100 });
  expect(anns).toHaveLength(60);
});

test('deployments: create, statuses, auto-inactive of the previous success', async () => {
  gh.seedCommits('acme/shop', 'main', [{}]);
  const d1 = (
    await client.rest.repos.createDeployment({
      ...R,
      ref: 'main',
      environment: 'production',
      auto_merge: false,
      required_contexts: [],
    })
  ).data;
  if (!('id' in d1)) throw new Error('expected a deployment');
  await client.rest.repos.createDeploymentStatus({ ...R, deployment_id: d1.id, state: 'success' });
  const d2 = (
    await client.rest.repos.createDeployment({ ...R, ref: 'main', environment: 'production', required_contexts: [] })
  ).data;
  if (!('id' in d2)) throw new Error('expected a deployment');
  await client.rest.repos.createDeploymentStatus({ ...R, deployment_id: d2.id, state: 'in_progress' });
  await client.rest.repos.createDeploymentStatus({
    ...R,
    deployment_id: d2.id,
    state: 'success',
    log_url: 'http://log',
  });
  const s1 = (await client.rest.repos.listDeploymentStatuses({ ...R, deployment_id: d1.id })).data;
  expect(s1.map((s) => s.state)).toEqual(['inactive', 'success']);
  expect((await client.rest.repos.listDeployments({ ...R, environment: 'production' })).data.map((d) => d.id)).toEqual([
    d2.id,
    d1.id,
  ]);
  expect(gh.repo('acme/shop').deployments[1].statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
});

test('failNext injects an error for matching requests', async () => {
  gh.failNext({ method: 'POST', path: /\/issues$/, status: 502, message: 'boom' });
  await expect(client.rest.issues.create({ ...R, title: 'x' })).rejects.toMatchObject({ status: 502 });
  await expect(client.rest.issues.create({ ...R, title: 'x' })).resolves.toMatchObject({ status: 201 });
  expect(gh.requestsMatching(/^POST .*\/issues$/).map((q) => q.status)).toEqual([502, 201]);
});

test("workflow runs: seeded, updated, read back in GitHub's shape; unknown ids are 404", async () => {
  const seeded = gh.seedWorkflowRun('acme/shop', { id: 77, status: 'queued' });
  expect(seeded).toMatchObject({ id: 77, status: 'queued', conclusion: null, run_attempt: 1 });
  const run = (await client.rest.actions.getWorkflowRun({ ...R, run_id: 77 })).data;
  expect(run).toMatchObject({
    id: 77,
    status: 'queued',
    conclusion: null,
    run_attempt: 1,
    html_url: 'https://github.com/acme/shop/actions/runs/77',
  });
  expect(run.repository.full_name).toBe('acme/shop');
  gh.seedWorkflowRun('acme/shop', { id: 77, status: 'in_progress' });
  gh.seedWorkflowRun('acme/shop', { id: 77, conclusion: 'cancelled', run_attempt: 2 });
  expect((await client.rest.actions.getWorkflowRun({ ...R, run_id: 77 })).data).toMatchObject({
    status: 'completed',
    conclusion: 'cancelled',
    run_attempt: 2,
  });
  expect(gh.repo('acme/shop').workflowRuns).toHaveLength(1);
  expect(gh.seedWorkflowRun('acme/shop', { status: 'completed' })).toMatchObject({
    status: 'completed',
    conclusion: 'success',
  });
  await expect(client.rest.actions.getWorkflowRun({ ...R, run_id: 78 })).rejects.toMatchObject({
    status: 404,
    response: { data: { message: 'Not Found' } },
  });
  await expect(client.rest.actions.getWorkflowRun({ owner: 'acme', repo: 'other', run_id: 77 })).rejects.toMatchObject({
    status: 404,
  });
});

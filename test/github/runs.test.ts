// The lock holder's run status, looked up with the real Octokit client against the GitHub API stand-in.
import { createClient, type GitHubClient } from '../../src/github/client.js';
import { readContext } from '../../src/github/context.js';
import { createRunStatusLookup, parseRunUrl } from '../../src/github/runs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';

const SERVER = 'https://github.com';
const runUrl = (id: number, repo = 'acme/shop') => `${SERVER}/${repo}/actions/runs/${id}`;

describe('parseRunUrl', () => {
  test('a run URL as the run context builds it', () => {
    const ctx = readContext({ GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '9876543210', GITHUB_SERVER_URL: SERVER });
    expect(parseRunUrl(ctx.runUrl, ctx.serverUrl)).toEqual({ owner: 'acme', repo: 'shop', runId: 9876543210 });
  });

  test.each([
    ['https://github.com/acme/shop/actions/runs/42', { owner: 'acme', repo: 'shop', runId: 42 }],
    ['https://github.com/acme/shop/actions/runs/42/', { owner: 'acme', repo: 'shop', runId: 42 }],
    ['https://github.com/acme/shop/actions/runs/42/attempts/3', { owner: 'acme', repo: 'shop', runId: 42 }],
    ['https://github.com/acme/shop/actions/runs/42/job/123456', { owner: 'acme', repo: 'shop', runId: 42 }],
    ['https://github.com/my-org/my.repo_2/actions/runs/7', { owner: 'my-org', repo: 'my.repo_2', runId: 7 }],
    ['https://GitHub.com:443/acme/shop/actions/runs/42', { owner: 'acme', repo: 'shop', runId: 42 }],
  ])('%s', (url, want) => {
    expect(parseRunUrl(url, SERVER)).toEqual(want);
  });

  test('a GitHub Enterprise server, with and without a path prefix', () => {
    expect(parseRunUrl('https://ghe.example.com/ops/web/actions/runs/5', 'https://ghe.example.com/')).toEqual({
      owner: 'ops',
      repo: 'web',
      runId: 5,
    });
    expect(parseRunUrl('https://ghe.example.com/git/ops/web/actions/runs/5', 'https://ghe.example.com/git')).toEqual({
      owner: 'ops',
      repo: 'web',
      runId: 5,
    });
    expect(parseRunUrl('https://ghe.example.com/ops/web/actions/runs/5', 'https://ghe.example.com/git')).toBeNull();
    expect(parseRunUrl('https://github.com/ops/web/actions/runs/5', 'https://ghe.example.com')).toBeNull();
  });

  test.each([
    'https://evil.example.com/acme/shop/actions/runs/42', // another server
    'http://github.com/acme/shop/actions/runs/42', // another scheme
    'https://github.com.evil.example/acme/shop/actions/runs/42',
    'https://user:pw@github.com/acme/shop/actions/runs/42',
    'https://github.com/acme/shop', // the run URL outside Actions (no run id)
    'https://github.com/acme/shop/actions',
    'https://github.com/acme/shop/actions/runs/',
    'https://github.com/acme/shop/actions/runs/abc',
    'https://github.com/acme/shop/actions/runs/0',
    'https://github.com/acme/shop/actions/runs/-1',
    'https://github.com/acme/shop/actions/runs/99999999999999999999',
    'https://github.com/acme/shop/actions/runs/42/attempts/',
    'https://github.com/acme/shop/actions/runs/42/attempts/x',
    'https://github.com/acme/shop/actions/runs/42/logs',
    'https://github.com/acme/shop/actions/runs/42?pr=1',
    'https://github.com/acme/shop/actions/runs/42#summary',
    'https://github.com/acme/shop/pull/42',
    'https://github.com/acme/shop/extra/actions/runs/42',
    'https://github.com/acme/../actions/runs/42',
    'https://github.com/acme/%2e%2e/actions/runs/42',
    'https://github.com/-acme/shop/actions/runs/42',
    'host-1:4242', // a holder that is no URL at all
    '',
  ])('%s → null', (url) => {
    expect(parseRunUrl(url, SERVER)).toBeNull();
  });

  test('an invalid server URL → null', () => {
    expect(parseRunUrl(runUrl(42), '')).toBeNull();
  });
});

describe('createRunStatusLookup', () => {
  let gh: GitHubApiStandIn;
  let client: GitHubClient;
  let logger: MemoryLogger;
  const runRequests = () => gh.requestsMatching(/^GET \/repos\/.*\/actions\/runs\//);

  beforeEach(async () => {
    gh = await startGitHubApi();
    client = createClient('test-token', gh.url);
    logger = new MemoryLogger();
  });
  afterEach(() => gh.close());

  test('completed → completed, and cached; the request is GET /repos/{owner}/{repo}/actions/runs/{run_id}', async () => {
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'completed', conclusion: 'failure' });
    const lookup = createRunStatusLookup(client, SERVER, logger);
    await expect(lookup(runUrl(42))).resolves.toBe('completed');
    await expect(lookup(runUrl(42))).resolves.toBe('completed');
    expect(runRequests().map((q) => `${q.method} ${q.path} ${q.status}`)).toEqual([
      'GET /repos/acme/shop/actions/runs/42 200',
    ]);
    // The cache belongs to one lookup.
    await expect(createRunStatusLookup(client, SERVER)(runUrl(42))).resolves.toBe('completed');
    expect(runRequests()).toHaveLength(2);
  });

  test('in_progress and queued → running, asked again every time, until the run completes', async () => {
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'in_progress' });
    gh.seedWorkflowRun('acme/shop', { id: 43, status: 'queued' });
    const lookup = createRunStatusLookup(client, SERVER, logger);
    await expect(lookup(runUrl(42))).resolves.toBe('running');
    await expect(lookup(runUrl(43))).resolves.toBe('running');
    await expect(lookup(runUrl(42))).resolves.toBe('running');
    gh.seedWorkflowRun('acme/shop', { id: 42, conclusion: 'cancelled' });
    await expect(lookup(runUrl(42))).resolves.toBe('completed');
    expect(runRequests()).toHaveLength(4);
    expect(logger.lines).toEqual([]);
  });

  test('an attempt or job URL asks about the run', async () => {
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'completed', run_attempt: 2 });
    const lookup = createRunStatusLookup(client, SERVER);
    await expect(lookup(`${runUrl(42)}/attempts/1`)).resolves.toBe('completed');
    await expect(lookup(`${runUrl(42)}/job/777`)).resolves.toBe('completed');
    expect(runRequests().map((q) => q.path)).toEqual([
      '/repos/acme/shop/actions/runs/42',
      '/repos/acme/shop/actions/runs/42',
    ]);
  });

  test('a run the API does not know (404) → unknown, one debug line with the status, not cached', async () => {
    const lookup = createRunStatusLookup(client, SERVER, logger);
    await expect(lookup(runUrl(404))).resolves.toBe('unknown');
    expect(logger.lines).toEqual([
      expect.stringMatching(
        /^debug: could not look up run https:\/\/github\.com\/acme\/shop\/actions\/runs\/404: HTTP 404 /,
      ),
    ]);
    gh.seedWorkflowRun('acme/shop', { id: 404, status: 'completed' });
    await expect(lookup(runUrl(404))).resolves.toBe('completed');
  });

  test('a token without `actions: read` (403) → unknown, one debug line with the status', async () => {
    gh.failNext({
      method: 'GET',
      path: /^\/repos\/acme\/shop\/actions\/runs\//,
      status: 403,
      message: 'Resource not accessible by integration',
      times: Infinity,
    });
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'completed' });
    gh.seedWorkflowRun('acme/other', { id: 43, status: 'completed' });
    const lookup = createRunStatusLookup(client, SERVER, logger);
    await expect(lookup(runUrl(42))).resolves.toBe('unknown');
    await expect(lookup(runUrl(42))).resolves.toBe('unknown');
    await expect(lookup(runUrl(43, 'acme/other'))).resolves.toBe('completed');
    expect(logger.lines).toEqual([
      expect.stringContaining('HTTP 403 (Resource not accessible by integration'),
      expect.stringContaining('HTTP 403 (Resource not accessible by integration'),
    ]);
    expect(logger.lines.every((l) => l.startsWith('debug: '))).toBe(true);
  });

  test('an unreachable API → unknown, never a throw', async () => {
    await gh.close();
    const lookup = createRunStatusLookup(createClient('t', gh.url), SERVER, logger);
    await expect(lookup(runUrl(42))).resolves.toBe('unknown');
    expect(logger.lines).toEqual([expect.stringMatching(/^debug: could not look up run .*: no response \(/)]);
    gh = await startGitHubApi(); // for afterEach
  });

  test('a holder on another server, or no run URL at all → unknown without a request', async () => {
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'completed' });
    const lookup = createRunStatusLookup(client, SERVER, logger);
    await expect(lookup('https://ghe.example.com/acme/shop/actions/runs/42')).resolves.toBe('unknown');
    await expect(lookup('https://github.com/acme/shop')).resolves.toBe('unknown');
    await expect(lookup('')).resolves.toBe('unknown');
    expect(gh.requests).toEqual([]);
    expect(logger.lines).toHaveLength(3);
    expect(logger.lines.every((l) => l.startsWith('debug: '))).toBe(true);
  });

  test("the stand-in's html_url is a run URL the lookup understands", async () => {
    gh.seedWorkflowRun('acme/shop', { id: 42, status: 'completed' });
    const { data } = await client.rest.actions.getWorkflowRun({ owner: 'acme', repo: 'shop', run_id: 42 });
    await expect(createRunStatusLookup(client, SERVER)(data.html_url)).resolves.toBe('completed');
  });
});

// The committed bundles run as the runner runs them: `node dist/<name>/index.js`, inputs as INPUT_*,
// outputs through GITHUB_OUTPUT. On Node 24 (what action.yml declares) when FIVESTEP_NODE points at it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { startGitHubApi } from '../servers/github-api.js';
import { zipDirectory } from '../gate/harness.js';
import { renderGitHub } from '../github/render.js';

const node = process.env.FIVESTEP_NODE || process.execPath;
const work = mkdtempSync(join(tmpdir(), 'fivestep-dist-'));

function runBundle(name: string, inputs: Record<string, string>) {
  const output = join(work, `${name}-${Math.random().toString(36).slice(2)}.out`);
  writeFileSync(output, '');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_OUTPUT: output, RUNNER_TEMP: work };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const r = spawnSync(node, [`dist/${name}/index.js`], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs: readFileSync(output, 'utf8') };
}

/** The bundle run without blocking this process, for bundles that call a server this process serves. */
function runBundleAsync(name: string, o: { cwd?: string; inputs: Record<string, string>; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; outputs: string }> {
  const outputFile = join(work, `${name}-${Math.random().toString(36).slice(2)}.out`);
  writeFileSync(outputFile, '');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: work, ...o.env };
  for (const [k, v] of Object.entries(o.inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(node, [join(process.cwd(), `dist/${name}/index.js`)], { cwd: o.cwd ?? process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, outputs: readFileSync(outputFile, 'utf8') })));
}

/** Reads one value from the GITHUB_OUTPUT file format (`name<<DELIM\nvalue\nDELIM`). */
function output(file: string, name: string): string | undefined {
  const m = new RegExp(`^${name}<<(\\S+)\\n([\\s\\S]*?)\\n\\1$`, 'm').exec(file);
  return m?.[2];
}

test.each([
  ['ssh-rollout', { 'deploy-path': '/srv/app', artifact: '.', 'private-key': 'x' }, "input 'hosts': is required"],
  ['metric-watch', { url: 'http://127.0.0.1:9/' }, "input 'rules'"],
  ['test-gate', {}, "input 'command'"],
  ['auto-revert', { hosts: 'a b c', 'deploy-path': '/srv/app' }, "input 'hosts'"],
])('the %s bundle loads and fails a bad input with a message naming it', (name, inputs, message) => {
  const r = runBundle(name, inputs as Record<string, string>);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(`::error::${message}`);
});

test('the ssh-rollout bundle deploys to real hosts and writes its outputs', async () => {
  const fleet = await Fleet.start(2);
  try {
    const artifact = join(work, 'artifact');
    mkdirSync(artifact, { recursive: true });
    writeFileSync(join(artifact, 'VERSION'), 'bundle\n');
    const r = runBundle('ssh-rollout', {
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      artifact,
      'deploy-path': '/srv/app',
      'release-id': 'from-bundle',
      'health-command': 'grep -q bundle VERSION',
    });
    expect(r.stdout).not.toContain('::error::');
    expect(r.code).toBe(0);
    expect(output(r.outputs, 'result')).toBe('success');
    expect(JSON.parse(output(r.outputs, 'updated-hosts') ?? '[]')).toEqual(fleet.hosts.map((h) => h.id));
    for (let i = 0; i < 2; i++) expect(readlinkSync(fleet.path(i, '/srv/app/current'))).toBe('releases/from-bundle');
  } finally {
    await fleet.stop();
  }
});

test('the test-gate bundle saves a pull request\'s result, and publishes it from a workflow_run event through the API', async () => {
  const gh = await startGitHubApi({ readOnlyTokens: ['fork-token'] });
  try {
    const checkout = mkdtempSync(join(work, 'checkout-'));
    const head = '4'.repeat(40);
    const pr = gh.seedPull('acme/shop', { head: 'patch-1', headSha: head, fork: 'mallory/shop' });
    const event = (payload: object) => {
      const file = join(work, `event-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, JSON.stringify(payload));
      return file;
    };
    const github = { GITHUB_REPOSITORY: 'acme/shop', GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com' };
    const report = '<testsuite name="cart" tests="2"><testcase classname="cart" name="ok"/><testcase classname="cart" name="totals" file="cart.test.js"><failure message="expected 3">at t (cart.test.js:7:3)</failure></testcase></testsuite>';
    const saved = await runBundleAsync('test-gate', {
      cwd: checkout,
      inputs: { mode: 'save', command: `echo '${report}' > r.xml; exit 1`, junit: 'r.xml', 'github-token': 'fork-token' },
      env: { ...github, RUNNER_TEMP: mkdtempSync(join(work, 'temp-')), GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event({ pull_request: { number: pr.number, head: { sha: head, repo: { full_name: 'mallory/shop' } }, base: { ref: 'main' } } }) },
    });
    expect(saved.code).toBe(1);
    expect(saved.stdout).toContain('::error::1 of 2 tests failed: cart › totals');
    const resultsPath = output(saved.outputs, 'results-path')!;
    expect(gh.requests).toHaveLength(0);

    gh.seedWorkflowRun('acme/shop', { id: 31, event: 'pull_request', head_sha: head, head_branch: 'patch-1', head_repository: 'mallory/shop', conclusion: 'failure' });
    gh.seedArtifact('acme/shop', { runId: 31, name: 'test-gate-results', zip: await zipDirectory(resultsPath) });
    const r = await runBundleAsync('test-gate', { inputs: { mode: 'publish', 'github-token': 'write-token' }, env: { ...github, GITHUB_EVENT_NAME: 'workflow_run', GITHUB_EVENT_PATH: event(gh.workflowRunEvent('acme/shop', 31)) } });
    expect(r.stdout).not.toContain('::error::');
    expect(r.code).toBe(0);
    expect(output(r.outputs, 'result')).toBe('failed');
    const run = gh.repo('acme/shop').checkRuns[0];
    expect(run).toMatchObject({ head_sha: head, conclusion: 'failure' });
    expect(run.annotations.map((a) => `${a.path}:${a.start_line}`)).toEqual(['cart.test.js:7']);
    expect(gh.repo('acme/shop').latestStatus(head, 'test-gate/tree')?.state).toBe('success');
  } finally {
    await gh.close();
  }
});

/** Lines of a step's log the runner would read as a workflow command (`::name …::`), with their names. */
function workflowCommands(stdout: string): string[] {
  return stdout.split(/\r\n|\r|\n/).filter((l) => l.trimStart().startsWith('::') || l.includes('##['));
}

test('publish on a hostile fork\'s artifact: nothing it wrote acts on the runner or renders as markup', async () => {
  const gh = await startGitHubApi();
  try {
    const head = '5'.repeat(40);
    // The fork names its files and tests; the bug rule and the flaky warning quote them in the log.
    const files = ['test/a\r::error file=.github/workflows/ci.yml,line=1::pwned', 'test/b\n::add-mask::ghs_', 'test/c\r\n::stop-commands::tok', 'test/d\u001b]8;;https://evil.example\u0007x'];
    const pr = gh.seedPull('acme/shop', { head: 'patch-2', headSha: head, fork: 'mallory/shop', labels: ['bug'], files });
    const evil = '\u001b[2J\u001b]0;owned\u0007 @octocat `x` [a](https://evil.example) <img src=x>\n::error::injected';
    const tc = (status: string, extra: object = {}) => ({ classname: 'cart', name: evil, time: 0.1, status, file: 'cart.test.js', line: 3, ...extra });
    const result = {
      format: 'fivestep/test-gate-result@1',
      headSha: head,
      pullRequest: pr.number,
      command: 'npm test',
      durationMs: 10,
      attempts: [
        { attempt: 1, exitCode: 1, durationMs: 5, reportFiles: ['r.xml'], cases: [tc('failed', { message: `boom ${evil}` })] },
        { attempt: 2, exitCode: 0, durationMs: 5, reportFiles: ['r.xml'], cases: [tc('passed')] },
      ],
    };
    const dir = mkdtempSync(join(work, 'hostile-'));
    writeFileSync(join(dir, 'result.json'), JSON.stringify(result));
    gh.seedWorkflowRun('acme/shop', { id: 32, event: 'pull_request', head_sha: head, head_branch: 'patch-2', head_repository: 'mallory/shop', conclusion: 'success' });
    gh.seedArtifact('acme/shop', { runId: 32, name: 'test-gate-results', zip: await zipDirectory(dir) });
    const eventFile = join(work, 'event-hostile.json');
    writeFileSync(eventFile, JSON.stringify(gh.workflowRunEvent('acme/shop', 32)));
    const summaryFile = join(work, 'summary-hostile.md');
    writeFileSync(summaryFile, '');
    const r = await runBundleAsync('test-gate', {
      inputs: { mode: 'publish', 'github-token': 'write-token' },
      env: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_API_URL: gh.url, GITHUB_SERVER_URL: 'https://github.com', GITHUB_EVENT_NAME: 'workflow_run', GITHUB_EVENT_PATH: eventFile, GITHUB_STEP_SUMMARY: summaryFile },
    });
    // The run happened: the bug rule quotes the test files, the flaky test is reported.
    expect(output(r.outputs, 'flaky')).toBe('1');
    expect(r.stdout).toContain('bug fix with a test: test/a');
    // Only fivestep's own commands, each on one line; none from the fork.
    const commands = workflowCommands(r.stdout);
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) expect(c).toMatch(/^::(group|endgroup|error|warning|notice|debug)::/);
    expect(commands.join('\n')).not.toMatch(/::(add-mask|stop-commands)::|file=\.github/);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).not.toContain('\u0007');
    // The check run and the job summary render the names as text.
    const run = gh.repo('acme/shop').checkRuns[0];
    for (const md of [run.output.summary as string, readFileSync(summaryFile, 'utf8')]) {
      const page = renderGitHub(md);
      expect(page.live).toEqual([]);
      expect(page.tags).not.toContain('img');
    }
  } finally {
    await gh.close();
  }
});

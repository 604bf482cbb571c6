// End to end on real servers: ssh-rollout puts v1 then v2 on a loopback fleet (real reports),
// metric-watch sees revenue drop (real report), auto-revert puts the fleet back, opens the revert
// pull request and the RCA issue on the GitHub API stand-in; a second run changes nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { writeReport } from '../../src/metrics/report.js';
import { autoRevert } from '../../src/revert/main.js';
import { rcaMarker } from '../../src/revert/rca.js';
import { createClient } from '../../src/github/client.js';
import { createConnector } from '../../src/ssh/connector.js';
import { Fleet } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { scriptedSource } from '../metrics/helpers.js';
import { runEnv } from '../rollout/child-rollout.js';
import { runRollout } from '../rollout/helpers.js';

let fleet: Fleet;
let gh: GitHubApiStandIn;
let tmp: string;
const connector = createConnector();

beforeAll(async () => {
  [fleet, gh] = await Promise.all([Fleet.start(3), startGitHubApi()]);
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-e2e-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([fleet?.stop(), gh?.close()]);
  rmSync(tmp, { recursive: true, force: true });
});

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/**
 * ssh-rollout of `release` through its public entry, as workflow run `runId` (its URL is what each
 * host's deploy log records); returns the path of its report.
 */
async function deploy(release: string, runId: number): Promise<string> {
  const dir = join(tmp, `artifact-${release}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'version'), `${release}\n`);
  writeFileSync(join(dir, 'healthy'), '');
  const run = await runRollout(
    fleet,
    { artifact: dir, 'release-id': release, waves: '1, 100%', 'health-command': 'test -f healthy' },
    { env: { RUNNER_TEMP: tmp, ...runEnv(runId, { GITHUB_SHA: 'a'.repeat(40) }) } },
  );
  expect({ result: run.outputs.result, failure: run.failure }).toEqual({ result: 'success', failure: undefined });
  return run.outputs.report;
}

test('rollout v1, v2; metric-watch fails; auto-revert: hosts, pull request, RCA issue; second run is a no-op', async () => {
  await deploy('v1', 1);
  // Run 99 rolls v2 out; its auto-revert step (bad-release empty) takes off what run 99 put there.
  const rolloutReport = await deploy('v2', 99);

  // A watch that sees revenue fall below its bound from the third sample on (real clock, virtual sleep).
  let t = Date.now();
  const watch = await runWatch(
    parseWatchSettings(
      objectInputs({
        source: 'prometheus',
        url: 'http://prom.invalid',
        duration: '10s',
        interval: '1s',
        rules: '- name: revenue per minute\n  query: revenue\n  min: 100\n  for: 2',
      }),
      { env: {} },
    ),
    {
      logger: new MemoryLogger(),
      source: scriptedSource((_r, _h, tick) => (tick >= 3 ? 40 : 120)),
      now: () => t,
      sleep: async (ms) => void (t += ms),
    },
  );
  expect(watch.verdict).toBe('fail');
  const watchReport = writeReport(watch, { RUNNER_TEMP: tmp });

  // The repository the deploy came from: a bare remote and the job's checkout.
  const remote = join(tmp, 'remote.git');
  const work = join(tmp, 'work');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  execFileSync('git', ['clone', '--quiet', remote, work], { stdio: 'ignore' });
  writeFileSync(join(work, 'price.txt'), '10\n');
  git(work, 'add', '.');
  git(work, '-c', 'user.name=D', '-c', 'user.email=d@x', 'commit', '--quiet', '-m', 'initial');
  writeFileSync(join(work, 'price.txt'), '1000\n');
  git(work, '-c', 'user.name=D', '-c', 'user.email=d@x', 'commit', '--quiet', '-am', 'raise prices');
  const sha = git(work, 'rev-parse', 'HEAD');
  git(work, 'push', '--quiet', 'origin', 'main');

  const env = {
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_RUN_ID: '99',
    GITHUB_SHA: sha,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_API_URL: gh.url,
  };
  const inputs = objectInputs({
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    'health-command': 'test -f healthy',
    reason: JSON.stringify(watch.breaches),
    'revert-commit': 'true',
    'github-token': 'ghs_default',
    reports: `${rolloutReport}\n${watchReport}`,
  });
  const logger = new MemoryLogger();
  const first = await autoRevert(inputs, { connector, logger, mask: () => {}, env, cwd: work, createClient });
  expect(first.failure).toBeUndefined();
  const out = first.outputs as Record<string, unknown>;
  expect(out.result).toBe('reverted');
  expect(out['reverted-hosts']).toEqual(fleet.hosts.map((h) => h.id));
  expect(out['reverted-to']).toEqual(Object.fromEntries(fleet.hosts.map((h) => [h.id, 'v1'])));
  for (let i = 0; i < 3; i++) {
    expect(readlinkSync(fleet.path(i, '/srv/app/current'))).toBe('releases/v1');
    expect(existsSync(fleet.path(i, '/srv/app/.fivestep/bad/v2'))).toBe(true);
  }
  expect(logger.text()).toMatch(
    /warning: if github-token is the workflow's default GITHUB_TOKEN, the revert pull request starts no workflow run/,
  );

  const repo = gh.repo('acme/shop');
  expect(repo.pulls).toHaveLength(1);
  expect(out['pull-request']).toBe(repo.pulls[0].html_url);
  expect(out['revert-sha']).toBe(git(remote, 'rev-parse', `fivestep/revert-${sha.slice(0, 12)}`));
  expect(git(remote, 'log', '-1', '--format=%B', `fivestep/revert-${sha.slice(0, 12)}`)).toContain(
    'Reason: revenue per minute, value 40, bound 100',
  );

  const issues = repo.issues.filter((i) => !('pull_request' in i) || !i.pull_request);
  const rca = issues.find((i) => i.title.startsWith('Incident'))!;
  expect(rca.title).toMatch(/^Incident: release v2 reverted \(\d{4}-\d\d-\d\d\)$/);
  expect(out.issue).toBe(rca.html_url);
  expect(rca.labels.map((l) => l.name)).toEqual(['incident']);
  const body = rca.body!;
  expect(body).toContain(rcaMarker(['v2'], [sha]));
  for (const part of [
    '## Summary',
    '## Impact window',
    '## Timeline (UTC)',
    '## Metrics that breached',
    '## Links',
    '## Five whys',
    '## Action items',
  ])
    expect(body).toContain(part);
  expect(body).toContain('ssh-rollout of v2 started');
  expect(body).toMatch(/wave 1 started: 127\.0\.0\.1:\d+ \|/);
  expect(body).toMatch(/wave 2 started: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ \|/);
  expect(body).toContain('breach: revenue per minute, value 40, bound 100');
  expect(body).toContain('| revenue per minute | – | 40 | 100 |');
  expect(body).toContain('metric-watch verdict: fail');
  expect(body).toMatch(/last of 3 reverted host\(s\) healthy/);
  expect(body).toContain('https://github.com/acme/shop/actions/runs/99');
  expect(body).toContain(`https://github.com/acme/shop/commit/${sha}`);
  expect(body).toMatch(/From \d{4}-.*Z to \d{4}-.*Z \(/);
  // Timeline rows are in time order.
  const times = [...body.matchAll(/^\| (\d{4}-\d\d-\d\dT[^ ]+) \|/gm)].map((m) => Date.parse(m[1]));
  expect(times.length).toBeGreaterThan(6);
  expect([...times].sort((a, b) => a - b)).toEqual(times);

  // Second run: nothing changes anywhere.
  const requestsBefore = gh.requestsMatching(/^(POST|PATCH|PUT)/).length;
  const second = await autoRevert(inputs, {
    connector,
    logger: new MemoryLogger(),
    mask: () => {},
    env,
    cwd: work,
    createClient,
  });
  expect(second.outputs.result).toBe('nothing-to-do');
  expect(second.outputs['pull-request']).toBe(repo.pulls[0].html_url);
  expect(gh.requestsMatching(/^(POST|PATCH|PUT)/).length).toBe(requestsBefore);
  expect(repo.pulls).toHaveLength(1);
}, 90_000);

test('an open incident issue for the same release gets a comment instead of a second issue', async () => {
  const existing = gh.seedIssue('acme/ops', {
    title: 'Incident: release r9',
    body: `${rcaMarker(['r9'], [])}\nold`,
    labels: ['incident', 'sev2'],
  });
  // Hosts on r8 → r9, like a rollout leaves them.
  const s = await connector(fleet.hosts[0].spec, fleet.credentials());
  const ledger = [
    { time: 't', action: 'rollout', release: 'r8', previous: '', run: 'r', result: 'healthy' },
    { time: 't', action: 'rollout', release: 'r9', previous: 'r8', run: 'r', result: 'switched' },
  ]
    .map((e) => JSON.stringify(e))
    .join('\n');
  await s.exec(
    `rm -rf /srv/ops && mkdir -p /srv/ops/releases/r8 /srv/ops/releases/r9 /srv/ops/.fivestep && ln -s releases/r9 /srv/ops/current && printf '%s\\n' '${ledger}' > /srv/ops/.fivestep/deploy.log`,
  );
  await s.close();
  const inputs = objectInputs({
    hosts: `${fleet.user}@127.0.0.1:${fleet.hosts[0].port}`,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/ops',
    'bad-release': 'r9',
    reason: 'p99 latency 2.3 s',
    'github-token': 't',
    'rca-labels': 'incident',
  });
  const env = { GITHUB_REPOSITORY: 'acme/ops', GITHUB_RUN_ID: '5', GITHUB_SHA: 'b'.repeat(40), GITHUB_API_URL: gh.url };
  const r = await autoRevert(inputs, { connector, logger: new MemoryLogger(), mask: () => {}, env, createClient });
  expect(r.outputs.result).toBe('reverted');
  expect(r.outputs['reverted-to']).toEqual({ [fleet.hosts[0].id]: 'r8' });
  const repo = gh.repo('acme/ops');
  expect(repo.issues).toHaveLength(1);
  expect(r.outputs.issue).toBe(existing.html_url);
  const comments = repo.commentsOn(existing.number);
  expect(comments).toHaveLength(1);
  expect(comments[0].body).toContain('**Reason:** p99 latency 2.3 s');
  expect(comments[0].body).toContain(`r9 → r8: ${fleet.hosts[0].id}`);
}, 60_000);

// The sample workflow runs here as the runner would run it (./harness.ts: GitHub's own parser and
// expression engine, the committed bundles as INPUT_*/GITHUB_OUTPUT processes): the deploy job of
// .github/workflows/continuous-deployment.yml, against a real OpenSSH fleet (5 hosts), a real Prometheus
// and the GitHub API stand-in.
//
// What is not run, and why:
// - `actions/checkout` and `actions/setup-node`: the workspace is this repository (so `./actions/<name>`
//   resolves as it does after checkout) and the node is FIVESTEP_NODE (Node 24 in CI) or this one.
// - the `build` run step (npm ci, build, tar): it is replaced by what it would write to GITHUB_OUTPUT,
//   `artifact` (a prepared directory) and `release-id`; the test checks the script still writes both names.
// Short timings come through the workflow's own variables (`vars.CANARY_BAKE || '5m'` and the like), so
// the file is what users run, with production defaults, and the test sets CANARY_BAKE, WATCH_INTERVAL and
// FLEET_WATCH to seconds. REVERT_COMMIT=false keeps git out (auto-revert's git path has its own tests).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, freePort } from '../servers/fleet.js';
import { runRollout } from '../rollout/helpers.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';
import {
  undeclaredInputs,
  evaluate,
  parse,
  runJob,
  startShopEndpoints,
  stopShopWorld,
  truthy,
  type JobRun,
} from './harness.js';

const WORKFLOW = '.github/workflows/continuous-deployment.yml';
const work = mkdtempSync(join(tmpdir(), 'fivestep-wf-'));

// ---------------------------------------------------------------------------------------------------
// The world: 5 SSH hosts, an app per host whose revenue depends on the release its `current` points at,
// Prometheus scraping them every second, and the GitHub API stand-in.

let fleet: Fleet;
let prometheus: PrometheusServer;
let gh: GitHubApiStandIn;
let appPort: number;
const apps: Server[] = [];
const badReleases = new Set<string>();
const GOOD_CENTS_PER_MINUTE = 60_000;

const currentRelease = (i: number): string => fleet.currentRelease(i);

function artifact(name: string): string {
  const dir = join(work, 'artifacts', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), `${name}\n`);
  return dir;
}

beforeAll(async () => {
  fleet = await Fleet.start(5, { distinctAddresses: true });
  appPort = await freePort(fleet.hosts[0].host);
  apps.push(
    ...(await startShopEndpoints(fleet.hosts, appPort, {
      // Revenue grows at the rate of the release the host runs now (a bad one sells a tenth).
      centsPerMinute: (i) => (badReleases.has(currentRelease(i)) ? GOOD_CENTS_PER_MINUTE / 10 : GOOD_CENTS_PER_MINUTE),
      health: () => ({ status: 200, body: 'ok' }), // every release is healthy: only the business metric tells
    })),
  );
  [prometheus, gh] = await Promise.all([
    startPrometheus(
      fleet.hosts.map((h) => `${h.host}:${appPort}`),
      'shop_revenue_cents_total',
    ),
    startGitHubApi(),
  ]);
  // The workflow's revenue rule is a rate over [1m], which Prometheus divides by the whole minute: until a
  // minute of scrapes exists it ramps up, and a host scraped once less than another reads up to a third
  // lower. Bakes judge steady rates, as on a Prometheus that has run for more than a minute.
  await waitForHistory(prometheus, 'shop_revenue_cents_total', 58, '1m', 90_000, fleet.hosts.length);
}, 150_000);

afterAll(() => stopShopWorld({ apps, prometheus, gh, fleet }));

const vars = (extra: Record<string, string> = {}) => ({
  WEB_HOSTS: fleet.hostsInput,
  WEB_KNOWN_HOSTS: fleet.knownHosts(),
  PROMETHEUS_URL: prometheus.url,
  HEALTH_URL: `http://{host}:${appPort}/health`,
  RELOAD_COMMAND: 'test -f VERSION',
  CANARY_BAKE: '3s',
  WATCH_INTERVAL: '1s',
  FLEET_WATCH: '3s',
  REVERT_COMMIT: 'false',
  ...extra,
});

const deploy = async (release: string, extraVars: Record<string, string> = {}) =>
  runJob(await parse(WORKFLOW), {
    jobId: 'deploy',
    vars: vars(extraVars),
    secrets: { DEPLOY_KEY: fleet.clientKey },
    runSubstitutes: { build: { artifact: artifact(release), 'release-id': release } },
    githubApiUrl: gh.url,
  });

const outcomes = (run: JobRun) => Object.fromEntries(Object.entries(run.steps).map(([id, s]) => [id, s.outcome]));
const allHosts = () => fleet.hosts.map((_h, i) => currentRelease(i));

test("both workflows parse with GitHub's parser, and every ./actions step passes only inputs its action.yml declares", async () => {
  for (const file of [WORKFLOW, '.github/workflows/watch-production.yml']) {
    expect(undeclaredInputs(await parse(file))).toEqual([]);
  }
  const cd = await parse(WORKFLOW);
  expect(Object.keys(cd.template.events).sort()).toEqual(['merge_group', 'pull_request', 'push', 'workflow_dispatch']);
  expect(Object.keys(cd.template.events.workflow_dispatch?.inputs ?? {}).sort()).toEqual([
    'ref',
    'rollback-from',
    'rollback-to',
  ]);
  // A merge-queue entry is tested, never deployed (its commit reaches main, and is deployed, by the push).
  const runsOn = (event: string) =>
    cd.template.jobs
      .filter(
        (j) =>
          j.type === 'job' &&
          truthy(evaluate(j.if.expression, { github: { event_name: event }, inputs: { ref: '', 'rollback-to': '' } })),
      )
      .map((j) => j.id.value);
  expect(runsOn('merge_group')).toEqual(['test']);
  expect(runsOn('push')).toEqual(expect.arrayContaining(['test', 'deploy']));
});

test('(a) a good release: canary, bake, the rest, fleet watch; the deploy job is green and every host runs it', async () => {
  const run = await deploy('20261123000001-good001');
  const logs = Object.values(run.steps)
    .map((s) => `--- ${s.id}\n${s.stdout}`)
    .join('\n');
  expect({ result: run.result, steps: outcomes(run), logs: run.result === 'success' ? '' : logs.slice(-4000) }).toEqual(
    {
      result: 'success',
      steps: {
        __actions_checkout: 'success',
        '__actions_setup-node': 'success',
        build: 'success',
        rollout: 'success',
        watch: 'success',
        revert: 'skipped',
      },
      logs: '',
    },
  );
  expect(run.steps.rollout.inputs['github-token']).toBe('ghs_workflow_test_token'); // the action.yml default, evaluated
  expect(run.steps.rollout.inputs['reload-command']).toBe('test -f VERSION');
  expect(run.steps.rollout.outputs.result).toBe('success');
  expect(JSON.parse(run.steps.rollout.outputs['updated-hosts'])).toHaveLength(5);
  expect(run.steps.watch.outputs.verdict).toBe('pass');
  expect(allHosts()).toEqual(Array(5).fill('20261123000001-good001'));
  const report = JSON.parse(readFileSync(run.steps.rollout.outputs.report, 'utf8'));
  expect(report.waves[0].bake.verdict).toBe('pass');
  expect(
    gh
      .repo('acme/shop')
      .deployments.at(-1)
      ?.statuses.map((s: { state: string }) => s.state),
  ).toContain('success');
}, 40_000);

test('(b) a healthy release that drops revenue on the canary is stopped there, reverted, and opens the RCA issue', async () => {
  const bad = '20261123000002-bad0002';
  badReleases.add(bad);
  const started = Date.now();
  const run = await deploy(bad, { CANARY_BAKE: '25s' });
  const logs = Object.values(run.steps)
    .map((s) => `--- ${s.id}\n${s.stdout}`)
    .join('\n');
  expect({
    result: run.result,
    steps: outcomes(run),
    logs: run.steps.revert.outcome === 'success' ? '' : logs.slice(-4000),
  }).toEqual({
    result: 'failure',
    steps: {
      __actions_checkout: 'success',
      '__actions_setup-node': 'success',
      build: 'success',
      rollout: 'failure',
      watch: 'skipped',
      revert: 'success',
    },
    logs: '',
  });
  // The breach ended the bake early, and only the canary ever ran the bad release.
  expect(Date.now() - started).toBeLessThan(25_000);
  expect(run.steps.rollout.outputs.result).toBe('reverted');
  const report = JSON.parse(readFileSync(run.steps.rollout.outputs.report, 'utf8'));
  expect(report.hosts.map((h: { outcome: string }) => h.outcome)).toEqual([
    'reverted',
    'skipped',
    'skipped',
    'skipped',
    'skipped',
  ]);
  expect(report.waves[0].bake.verdict).toBe('fail');
  expect(allHosts()).toEqual(Array(5).fill('20261123000001-good001'));

  // auto-revert got the release and the reports through the workflow's expressions, and opened the issue.
  expect(run.steps.revert.inputs['bad-release']).toBe(bad);
  expect(run.steps.revert.inputs['revert-commit']).toBe('false');
  expect(run.steps.revert.inputs.reports.split('\n')[0]).toBe(run.steps.rollout.outputs.report);
  const issues = gh.repo('acme/shop').issues;
  expect(issues).toHaveLength(1);
  expect(issues[0].title).toContain(bad);
  expect(issues[0].body).toContain('revenue per minute');
  expect(run.steps.revert.outputs.issue).toBe(issues[0].html_url);
  // The bad release is marked bad on every host that holds it, so no later revert lands on it.
  for (let i = 0; i < 5; i++) expect(() => readFileSync(fleet.path(i, `/srv/app/.fivestep/bad/${bad}`))).not.toThrow();
}, 45_000);

test('(c) the rollback job (workflow_dispatch rollback-to) puts every host on that release and marks nothing bad', async () => {
  const older = '20261123000004-good004';
  const newer = '20261123000005-good005';
  // Two good releases out (ssh-rollout alone: the deploy job is not what this test is about, and the canary's
  // revenue rate still remembers (b)'s bad release), so there is one to go back to.
  for (const release of [older, newer]) {
    const d = await runRollout(fleet, { artifact: artifact(release), 'release-id': release, 'wave-wait': '0' });
    expect({ result: d.outputs.result, failure: d.failure }).toEqual({ result: 'success', failure: undefined });
  }
  expect(allHosts()).toEqual(Array(5).fill(newer));
  const issuesBefore = gh.repo('acme/shop').issues.length;
  const run = await runJob(await parse(WORKFLOW), {
    jobId: 'rollback',
    eventName: 'workflow_dispatch',
    inputs: { ref: '', 'rollback-to': older, 'rollback-from': '' },
    vars: vars(),
    secrets: { DEPLOY_KEY: fleet.clientKey },
    runSubstitutes: {},
    githubApiUrl: gh.url,
    runId: '4343',
  });
  const logs = Object.values(run.steps)
    .map((s) => `--- ${s.id}\n${s.stdout}`)
    .join('\n');
  expect({ result: run.result, logs: run.result === 'success' ? '' : logs.slice(-4000) }).toEqual({
    result: 'success',
    logs: '',
  });
  const step = Object.values(run.steps).find((s) => s.outputs.result !== undefined)!;
  expect(step.outputs.result).toBe('reverted');
  expect(allHosts()).toEqual(Array(5).fill(older));
  // A rollback on purpose: the newer release is not marked bad anywhere, and no incident issue is opened.
  for (let i = 0; i < 5; i++) expect(existsSync(fleet.path(i, `/srv/app/.fivestep/bad/${newer}`))).toBe(false);
  expect(gh.repo('acme/shop').issues).toHaveLength(issuesBefore);
  // Run again: nothing to do.
  const again = await runJob(await parse(WORKFLOW), {
    jobId: 'rollback',
    eventName: 'workflow_dispatch',
    inputs: { ref: '', 'rollback-to': older, 'rollback-from': '' },
    vars: vars(),
    secrets: { DEPLOY_KEY: fleet.clientKey },
    runSubstitutes: {},
    githubApiUrl: gh.url,
    runId: '4344',
  });
  expect(Object.values(again.steps).find((s) => s.outputs.result !== undefined)?.outputs.result).toBe('nothing-to-do');
}, 60_000);

// The sharded sample workflow, .github/workflows/deploy-large-fleet.yml, run whole as GitHub would run it
// (./harness.ts: GitHub's parser and expression engine; jobs in `needs` order; the shards' matrix legs at
// the same time; fail-fast cancelling the others with SIGINT, SIGTERM 7.5 s later, then SIGKILL; the
// committed bundles as the actions; the workflow's own `run:` steps in bash), against 10 real OpenSSH
// hosts, an app on each (health and business metrics), a real Prometheus and the GitHub API stand-in.
//
// Only the `build` step is replaced (npm ci and friends): by a tarball of a prepared directory at the
// path the script writes, and its `release-id`. Short timings come through the workflow's own variables.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, freePort } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';
import {
  undeclaredInputs,
  evaluate,
  expandMatrix,
  jobStatus,
  jsonOf,
  parse,
  runProcess,
  runWorkflow,
  startShopEndpoints,
  stopShopWorld,
  templateJob,
  truthy,
  type JobResult,
  type JobRun,
  type Json,
  type WorkflowJobRun,
} from './harness.js';

const WORKFLOW = '.github/workflows/deploy-large-fleet.yml';
const work = mkdtempSync(join(tmpdir(), 'fivestep-large-fleet-'));
const HOSTS = 10;

let fleet: Fleet;
let prometheus: PrometheusServer;
let gh: GitHubApiStandIn;
let appPort: number;
const apps: Server[] = [];
/** host index → the release whose health check fails there. */
const brokenOn = new Map<number, string>();

beforeAll(async () => {
  fleet = await Fleet.start(HOSTS, { distinctAddresses: true });
  appPort = await freePort(fleet.hosts[0].host);
  apps.push(
    ...(await startShopEndpoints(fleet.hosts, appPort, {
      centsPerMinute: () => 60_000,
      health: (i) =>
        brokenOn.get(i) === fleet.currentRelease(i)
          ? { status: 503, body: 'cannot reach the database' }
          : { status: 200, body: 'ok' },
    })),
  );
  [prometheus, gh] = await Promise.all([
    startPrometheus(
      fleet.hosts.map((h) => `${h.host}:${appPort}`),
      'shop_revenue_cents_total',
    ),
    startGitHubApi(),
  ]);
  // The bakes compare rates over [1m], which Prometheus divides by the whole minute: until a minute of scrapes
  // exists they ramp up, and a host scraped once less reads lower. Every host gets a full window first.
  await waitForHistory(prometheus, 'shop_revenue_cents_total', 58, '1m', 90_000, fleet.hosts.length);
}, 150_000);

afterAll(() => stopShopWorld({ apps, prometheus, gh, fleet }));

const vars = (extra: Record<string, string> = {}) => ({
  // As users keep it: a comment and a blank line among the hosts.
  WEB_HOSTS: `# web fleet, canary first\n${fleet.hostsInput}\n\n`,
  WEB_KNOWN_HOSTS: fleet.knownHosts(),
  PROMETHEUS_URL: prometheus.url,
  HEALTH_URL: `http://{host}:${appPort}/health`,
  RELOAD_COMMAND: 'test -f VERSION',
  CANARY_BAKE: '3s',
  SHARD_BAKE: '2s',
  WATCH_INTERVAL: '1s',
  HEALTH_TIMEOUT: '2s',
  ...extra,
});

/** The build step's stand-in: the tarball its script leaves at $RUNNER_TEMP/release.tar.gz, and the release id. */
const build =
  (release: string) =>
  ({ runnerTemp }: { runnerTemp: string }) => {
    const dir = join(work, 'artifacts', release);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'VERSION'), `${release}\n`);
    execFileSync('tar', ['-czf', join(runnerTemp, 'release.tar.gz'), '-C', dir, '.']);
    return { 'release-id': release };
  };

const deploy = async (release: string, extraVars: Record<string, string> = {}) =>
  runWorkflow(await parse(WORKFLOW), {
    eventName: 'workflow_dispatch',
    inputs: { ref: '' },
    vars: vars(extraVars),
    secrets: { DEPLOY_KEY: fleet.clientKey },
    runSubstitutes: { build: build(release) },
    githubApiUrl: gh.url,
  });

const results = (run: Record<string, WorkflowJobRun>) =>
  Object.fromEntries(Object.entries(run).map(([id, j]) => [id, j.result]));
const outcomes = (leg: JobRun) => Object.fromEntries(Object.entries(leg.steps).map(([id, s]) => [id, s.outcome]));
const logs = (run: Record<string, WorkflowJobRun>) =>
  Object.entries(run)
    .flatMap(([id, j]) =>
      j.legs.flatMap((leg, n) =>
        Object.values(leg.steps).map((s) => `--- ${id}[${n}] ${s.id} ${s.outcome}\n${s.stdout}`),
      ),
    )
    .join('\n');
const currents = () => fleet.hosts.map((_h, i) => fleet.currentRelease(i));
const ids = (indexes: number[]) => indexes.map((i) => fleet.hosts[i].id);
/** Every host index but the canary (0), dealt round-robin over 3 shards. */
const SHARD_HOSTS = [
  [1, 4, 7],
  [2, 5, 8],
  [3, 6, 9],
];
const deployLog = (i: number) => {
  const file = fleet.path(i, '/srv/app/.fivestep/deploy.log');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { action: string; release: string; result: string })
    : [];
};

test("GitHub's parser reads it: started by hand only, a fail-fast matrix of 3 shards after the canary, the revert over the whole fleet", async () => {
  const wf = await parse(WORKFLOW);
  expect(Object.keys(wf.template.events)).toEqual(['workflow_dispatch']);
  const jobs = wf.template.jobs.map((j) => ({ id: j.id.value, needs: (j.needs ?? []).map((n) => n.value) }));
  expect(jobs).toEqual([
    { id: 'build', needs: [] },
    { id: 'canary', needs: ['build'] },
    { id: 'shards', needs: ['build', 'canary'] },
    { id: 'revert', needs: ['build', 'canary', 'shards'] },
  ]);
  const strategy = jsonOf(templateJob(wf, 'shards').strategy!, {}) as Record<string, Json>;
  expect(strategy['fail-fast']).toBe(true);
  expect(expandMatrix(strategy.matrix)).toEqual([{ shard: 1 }, { shard: 2 }, { shard: 3 }]);

  // Every ./actions step passes only inputs its action.yml declares.
  expect(undeclaredInputs(wf)).toEqual([]);

  // The revert job runs when the canary or a shard failed or was cancelled, and only then.
  const revertIf = templateJob(wf, 'revert').if.expression;
  const revertRuns = (canary: JobResult, shards: JobResult, buildResult: JobResult = 'success') => {
    const needs = {
      build: { result: buildResult, outputs: {} },
      canary: { result: canary, outputs: {} },
      shards: { result: shards, outputs: {} },
    };
    return truthy(evaluate(revertIf, { needs: needs as never }, jobStatus(needs)));
  };
  expect({
    green: revertRuns('success', 'success'),
    shardFailed: revertRuns('success', 'failure'),
    shardsCancelled: revertRuns('success', 'cancelled'),
    canaryFailed: revertRuns('failure', 'skipped'),
    canaryCancelled: revertRuns('cancelled', 'skipped'),
    buildFailed: revertRuns('skipped', 'skipped', 'failure'),
  }).toEqual({
    green: false,
    shardFailed: true,
    shardsCancelled: true,
    canaryFailed: true,
    canaryCancelled: true,
    buildFailed: false,
  });
});

test('a good release: the canary, then 3 shards side by side, each its slice in waves; the revert is skipped and every host runs it', async () => {
  const run = await deploy('20261201000001-good001');
  expect({ jobs: results(run), logs: run.revert.result === 'skipped' ? '' : logs(run).slice(-6000) }).toEqual({
    jobs: { build: 'success', canary: 'success', shards: 'success', revert: 'skipped' },
    logs: '',
  });
  expect(currents()).toEqual(Array(HOSTS).fill('20261201000001-good001'));
  const canary = run.canary.legs[0];
  expect(JSON.parse(canary.steps.rollout.outputs['updated-hosts'])).toEqual(ids([0]));
  expect(canary.steps.bake.outputs.verdict).toBe('pass');
  expect(run.shards.legs.map((leg) => leg.strategy)).toEqual(
    [0, 1, 2].map((i) => ({ 'fail-fast': true, 'job-index': i, 'job-total': 3, 'max-parallel': 3 })),
  );
  for (const [n, leg] of run.shards.legs.entries()) {
    expect(leg.steps.slice.outputs.hosts.split('\n')).toEqual(
      SHARD_HOSTS[n].map((i) => fleet.hostsInput.split('\n')[i]),
    );
    expect(JSON.parse(leg.steps.rollout.outputs['updated-hosts'])).toEqual(ids(SHARD_HOSTS[n]));
    const report = JSON.parse(readFileSync(leg.steps.rollout.outputs.report, 'utf8'));
    expect(report.waves.map((w: { hosts: string[] }) => w.hosts.length)).toEqual([1, 1, 1]);
  }
  // Side by side: every shard started before any finished.
  const legs = run.shards.legs;
  expect(Math.max(...legs.map((l) => l.startedAt))).toBeLessThan(Math.min(...legs.map((l) => l.endedAt)));
}, 60_000);

test('one host of shard 2 fails its health: fail-fast cancels shards 1 and 3, each puts back what it switched, and the revert puts the canary back', async () => {
  const good = '20261201000001-good001';
  const bad = '20261201000002-bad0002';
  brokenOn.set(5, bad); // shard 2's second host: shards 1 and 3 are baking their second wave when it fails
  const run = await deploy(bad, { SHARD_BAKE: '6s' });
  expect({
    jobs: results(run),
    legs: run.shards.legs.map((l) => l.result),
    logs: run.revert.result === 'success' ? '' : logs(run).slice(-8000),
  }).toEqual({
    jobs: { build: 'success', canary: 'success', shards: 'failure', revert: 'success' },
    legs: ['cancelled', 'failure', 'cancelled'],
    logs: '',
  });
  expect(currents()).toEqual(Array(HOSTS).fill(good));

  // Shard 2 stopped on host 5 and put back what it had switched.
  const [shard1, shard2, shard3] = run.shards.legs;
  expect(shard2.steps.rollout.outcome).toBe('failure');
  expect(shard2.steps.rollout.outputs.result).toBe('reverted');
  expect(JSON.parse(shard2.steps.rollout.outputs['failed-hosts']).map((f: { host: string }) => f.host)).toEqual(
    ids([5]),
  );
  // Shards 1 and 3 got SIGINT once shard 2 had failed, in their second bake, and put their two switched
  // hosts back before the runner's SIGTERM (7.5 s later) was due.
  for (const leg of [shard1, shard3]) {
    expect(outcomes(leg)).toEqual({
      __actions_checkout: 'success',
      slice: 'success',
      '__actions_download-artifact': 'success',
      rollout: 'cancelled',
      '__actions_upload-artifact': 'success',
    });
    expect(leg.steps.rollout.signals.map((s) => s.signal)).toEqual(['SIGINT']);
    expect(leg.steps.rollout.stdout).toContain('received SIGINT: stopping the rollout and putting switched hosts back');
    expect(leg.steps.rollout.outputs.result).toBe('reverted');
    // Both hosts it had switched went back (by design it was baking wave 2; had it reached wave 3, that one too).
    const report = JSON.parse(readFileSync(leg.steps.rollout.outputs.report, 'utf8'));
    expect(report.hosts.map((h: { outcome: string }) => h.outcome).join(' ')).toMatch(
      /^reverted reverted (reverted|skipped)$/,
    );
    expect(JSON.parse(leg.steps.rollout.outputs['updated-hosts'])).toEqual([]);
    expect(leg.steps.rollout.startedAt).toBeLessThan(shard2.endedAt);
  }

  // The revert job went over the whole fleet: only the canary still ran the release.
  const revert = run.revert.legs[0];
  expect(revert.steps.revert.inputs['bad-release']).toBe(bad);
  expect(JSON.parse(revert.steps.revert.outputs['reverted-hosts'])).toEqual(ids([0]));
  // Marked bad wherever the release is on disk (the canary and every staged shard host), as auto-revert
  // does, and in each such host's ledger: no later revert lands on it.
  const holding = fleet.hosts.map((_h, i) => i).filter((i) => existsSync(fleet.path(i, `/srv/app/releases/${bad}`)));
  expect(holding).toEqual(expect.arrayContaining([0, 5]));
  for (let i = 0; i < HOSTS; i++) {
    const holds = holding.includes(i);
    expect({ host: i, marked: existsSync(fleet.path(i, `/srv/app/.fivestep/bad/${bad}`)) }).toEqual({
      host: i,
      marked: holds,
    });
    if (holds)
      expect(
        deployLog(i)
          .filter((e) => e.release === bad)
          .map((e) => e.result),
      ).toContain('bad');
  }
  // The root-cause issue, with the shards' reports in its timeline.
  const issues = gh.repo('acme/shop').issues;
  expect(issues).toHaveLength(1);
  expect(issues[0].title).toContain(bad);
  expect(issues[0].body).toContain('**Reason:** canary success, shards failure');
  expect(revert.steps.reports.outputs.paths.split('\n')).toHaveLength(5); // canary rollout and bake, 3 shard rollouts
  expect(issues[0].body).toContain(`\`${fleet.hosts[5].id}\`: health failed`); // from shard 2's report, another job's
}, 60_000);

// The runner emulation the tests above rely on, where it is GitHub's behaviour rather than ours.
describe("the harness runs jobs as GitHub's runner does", () => {
  test('a matrix expands as GitHub documents it: the product of its lists, exclude, then include', () => {
    const matrix: Json = {
      fruit: ['apple', 'pear'],
      animal: ['cat', 'dog'],
      include: [
        { color: 'green' },
        { color: 'pink', animal: 'cat' },
        { fruit: 'apple', shape: 'circle' },
        { fruit: 'banana' },
        { fruit: 'banana', animal: 'cat' },
      ],
    };
    expect(expandMatrix(matrix)).toEqual([
      { fruit: 'apple', animal: 'cat', color: 'pink', shape: 'circle' },
      { fruit: 'apple', animal: 'dog', color: 'green', shape: 'circle' },
      { fruit: 'pear', animal: 'cat', color: 'pink' },
      { fruit: 'pear', animal: 'dog', color: 'green' },
      { fruit: 'banana' },
      { fruit: 'banana', animal: 'cat' },
    ]);
    expect(expandMatrix({ os: ['linux', 'mac'], node: [20, 24], exclude: [{ os: 'mac', node: 20 }] })).toEqual([
      { os: 'linux', node: 20 },
      { os: 'linux', node: 24 },
      { os: 'mac', node: 24 },
    ]);
  });

  test('a cancelled step gets SIGINT; one that ignores it SIGTERM later, then its whole process tree SIGKILL', async () => {
    const timings = { sigtermAfterMs: 300, killAfterMs: 300 };
    const cancelled = (script: string) => {
      const cancel = new AbortController();
      setTimeout(() => cancel.abort(), 300);
      return runProcess('bash', ['-c', script], { env: { PATH: process.env.PATH }, signal: cancel.signal, timings });
    };
    const polite = await cancelled("trap 'echo stopping; kill $!; exit 3' INT; sleep 30 & wait");
    expect({ code: polite.code, signals: polite.signals.map((s) => s.signal), stdout: polite.stdout }).toEqual({
      code: 3,
      signals: ['SIGINT'],
      stdout: 'stopping\n',
    });

    const pidFile = join(work, 'stubborn-child.pid');
    const stubborn = await cancelled(`trap '' INT TERM; sleep 30 & echo $! > ${pidFile}; wait; wait`);
    expect(stubborn.signals.map((s) => s.signal)).toEqual(['SIGINT', 'SIGTERM', 'SIGKILL']);
    expect(stubborn.signals[1].afterMs).toBeGreaterThanOrEqual(300);
    expect(stubborn.signals[2].afterMs).toBeGreaterThanOrEqual(600);
    // The tree went too, not only the entry process (gone, or a zombie its new parent has not reaped yet).
    const stat = `/proc/${Number(readFileSync(pidFile, 'utf8'))}/stat`;
    const alive = () => existsSync(stat) && !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8'));
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
  });
});

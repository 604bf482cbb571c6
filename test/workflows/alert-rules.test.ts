// The sample workflow .github/workflows/alert-rules.yml, run as the runner would run it (./harness.ts: GitHub's
// own parser and expression engine, `run:` steps in bash, ./actions/ssh-rollout as its committed bundle): its
// check job on the committed files of .github/fivestep/, and its deploy job against a real OpenSSH host and a
// real Prometheus (Debian's) that loads the rule files from that host's deploy path, through `current`, and
// reloads on POST /-/reload (--web.enable-lifecycle).
//
// The fleet's host sees its own /srv (a bind mount in sshd's mount namespace); Prometheus runs in the test's
// namespace and is given that directory's path here (fleet.path), so it reads the very files the rollout
// writes, and the reload command, run on the host over SSH, reaches it on loopback (one network namespace).
//
// What is changed, and why: to run the jobs on other watch rules than the committed ones (rules changed
// without regenerating, a new rule, a rule Prometheus refuses) the test runs a copy of the workflow whose
// WATCH_CONFIG (and RULES_DIR) line names a temporary file: the committed files must not be touched by a test.
// `actions/checkout` and `actions/setup-node` do nothing (the workspace is this repository, whose
// dist/cli/index.js is the FIVESTEP command); promtool and amtool are Debian's, found on PATH.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { minimatch } from 'minimatch';
import { parse as parseYaml } from 'yaml';
import {
  OTHER_ACTION_PERMISSIONS,
  comparePermissions,
  mergePermissions,
  requiredPermissions,
  runPermissions,
  type Permissions,
} from '../../src/docs/permissions.js';
import { Fleet } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { startPrometheus, type LoadedGroup, type LoadedRule, type PrometheusServer } from '../servers/prometheus.js';
import { ensurePackages } from '../servers/system-packages.js';
import { REPO, undeclaredInputs, evaluate, parse, runJob, runWorkflow, truthy, type JobRun } from './harness.js';

const WORKFLOW = '.github/workflows/alert-rules.yml';
const WATCH = '.github/fivestep/watch.yml';
const RULES_DIR = '.github/fivestep';
const CLI = join(REPO, 'dist/cli/index.js');
/** Under the host's own /srv: the test finds it at fleet.path(0, DEPLOY_PATH). */
const DEPLOY_PATH = '/srv/prometheus/fivestep';
const work = mkdtempSync(join(tmpdir(), 'fivestep-alert-rules-'));

// The release each deploy put out, in order, for the tests that follow.
const releases: string[] = [];
let fleet: Fleet;
let prometheus: PrometheusServer;
let gh: GitHubApiStandIn;

beforeAll(async () => {
  // The reload command posts with curl on the host; the check job finds promtool and amtool on PATH.
  ensurePackages(['prometheus', 'prometheus-alertmanager', 'curl']);
  [fleet, gh] = await Promise.all([Fleet.start(1), startGitHubApi()]);
  prometheus = await startPrometheus({
    ruleFiles: [`${fleet.path(0, DEPLOY_PATH)}/current/*.rules.yml`],
    lifecycle: true,
  });
}, 60_000);

afterAll(async () => {
  await prometheus?.close();
  await gh?.close();
  await fleet?.stop();
});

const vars = (extra: Record<string, string> = {}) => ({
  PROMETHEUS_HOSTS: fleet.hostsInput,
  PROMETHEUS_KNOWN_HOSTS: fleet.knownHosts(),
  PROMETHEUS_RULES_PATH: DEPLOY_PATH,
  PROMETHEUS_LOCAL_URL: prometheus.url,
  PROMETHEUS_RULES_URL: `http://{host}:${prometheus.port}/api/v1/rules`,
  ...extra,
});
const secrets = () => ({ PROMETHEUS_DEPLOY_KEY: fleet.clientKey });

let copies = 0;
/** A copy of the workflow whose env lines name other files (absolute paths); its path as parse() takes it. */
function workflowWith(env: { WATCH_CONFIG?: string; RULES_DIR?: string }): string {
  let text = readFileSync(join(REPO, WORKFLOW), 'utf8');
  for (const [name, value] of Object.entries(env)) {
    const line = new RegExp(`^  ${name}: .*$`, 'm');
    expect(text).toMatch(line);
    text = text.replace(line, `  ${name}: ${value}`);
  }
  const file = join(work, `alert-rules-${++copies}.yml`);
  writeFileSync(file, text);
  return relative(REPO, file);
}

/** The committed watch.yml with `edit` applied to its text (the edit must change it). */
function watchWith(edit: (text: string) => string): string {
  const committed = readFileSync(join(REPO, WATCH), 'utf8');
  const text = edit(committed);
  expect(text).not.toBe(committed);
  const file = join(work, `watch-${++copies}.yml`);
  writeFileSync(file, text);
  return file;
}

/** The three files regenerated from `watch` into a new directory, as the check job's hint says. */
function regenerate(watch: string): string {
  const dir = join(work, `rules-${++copies}`);
  mkdirSync(dir);
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, [CLI, 'rules', '--config', watch, ...args], { stdio: 'pipe' });
  cli('--format', 'prometheus', '--output', join(dir, 'fivestep.rules.yml'));
  cli('--format', 'promtool-tests', '--rule-file', 'fivestep.rules.yml', '--output', join(dir, 'fivestep.tests.yml'));
  cli('--format', 'alertmanager', '--output', join(dir, 'alertmanager.yml'));
  return dir;
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string }[] }[];
}
/** The rule names (alerts and recordings) of the fivestep group of a rule file. */
function ruleNames(file: string): { alerts: string[]; records: string[] } {
  const doc = parseYaml(readFileSync(file, 'utf8')) as RuleFile;
  expect(doc.groups.map((g) => g.name)).toEqual(['fivestep']);
  const rules = doc.groups[0].rules;
  return {
    alerts: rules.flatMap((r) => (r.alert ? [r.alert] : [])),
    records: rules.flatMap((r) => (r.record ? [r.record] : [])),
  };
}

/** What Prometheus has loaded now: the fivestep group's rule names, where it read them, and the release. */
async function loaded(): Promise<{ alerts: string[]; records: string[]; release?: string; files: string[] }> {
  const groups: LoadedGroup[] = await prometheus.groups();
  const fivestep = groups.find((g) => g.name === 'fivestep');
  const marker = groups.find((g) => g.name === 'fivestep-release');
  expect(groups.map((g) => g.name).sort()).toEqual(['fivestep', 'fivestep-release']);
  return {
    alerts: fivestep!.rules.filter((r) => r.type === 'alerting').map((r) => r.name),
    records: fivestep!.rules.filter((r) => r.type === 'recording').map((r) => r.name),
    release: marker?.rules[0]?.labels?.release,
    files: groups.map((g) => g.file).sort(),
  };
}

/** The alert of the watch rule named `rule` as Prometheus holds it now. */
async function alertOf(rule: string): Promise<LoadedRule> {
  const group = (await prometheus.groups()).find((g) => g.name === 'fivestep')!;
  return group.rules.find((r) => r.type === 'alerting' && r.labels?.rule === rule)!;
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const outcomes = (run: JobRun) => Object.fromEntries(Object.entries(run.steps).map(([id, s]) => [id, s.outcome]));
const logs = (run: JobRun) =>
  Object.values(run.steps)
    .map((s) => `--- ${s.id}\n${s.stdout}`)
    .join('\n');
/** A job's result and step outcomes, with its log when the result is not the one expected (for the failure message). */
const summary = (run: JobRun, expected: JobRun['result']) => ({
  result: run.result,
  steps: outcomes(run),
  log: run.result === expected ? '' : logs(run).slice(-4000),
});

/**
 * Waits for the next UTC second after the last release's: a release id is the second and the commit (as in
 * continuous-deployment.yml), and every run here has the same commit, while a deploy takes under a second.
 */
async function afterLastRelease(): Promise<void> {
  const stamp = () => new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const last = releases.at(-1)?.slice(0, 14) ?? '';
  while (stamp() <= last) await new Promise((r) => setTimeout(r, 50));
}

const deploy = async (workflow = WORKFLOW) => {
  await afterLastRelease();
  return runJob(await parse(workflow), {
    jobId: 'deploy',
    vars: vars(),
    secrets: secrets(),
    runSubstitutes: {},
    githubApiUrl: gh.url,
  });
};

const check = async (workflow = WORKFLOW) =>
  runJob(await parse(workflow), {
    jobId: 'check',
    eventName: 'pull_request',
    vars: {},
    secrets: {},
    runSubstitutes: {},
    githubApiUrl: gh.url,
  });

const CHECK_STEPS = {
  __actions_checkout: 'success',
  '__actions_setup-node': 'success',
  compare: 'success',
  tools: 'success',
};
const DEPLOY_STEPS = {
  __actions_checkout: 'success',
  '__actions_setup-node': 'success',
  build: 'success',
  rollout: 'success',
};

test("the workflow parses with GitHub's parser; which jobs run on which event; least privilege", async () => {
  const wf = await parse(WORKFLOW);
  expect(Object.keys(wf.template.events).sort()).toEqual(['pull_request', 'push', 'workflow_dispatch']);
  // Every ./actions step passes only inputs its action.yml declares.
  expect(undeclaredInputs(wf)).toEqual([]);
  // A pull request is checked, never deployed; a push deploys once PROMETHEUS_HOSTS is set.
  const runsOn = (event: string, v: Record<string, string>) =>
    wf.template.jobs
      .filter((j) => j.type === 'job' && truthy(evaluate(j.if.expression, { github: { event_name: event }, vars: v })))
      .map((j) => j.id.value);
  const hosts = { PROMETHEUS_HOSTS: 'prometheus1.example.com' };
  expect(runsOn('pull_request', hosts)).toEqual(['check']);
  expect(runsOn('push', hosts)).toEqual(['check', 'deploy']);
  expect(runsOn('workflow_dispatch', hosts)).toEqual(['check', 'deploy']);
  expect(runsOn('push', {})).toEqual(['check']);
  const doc = parseYaml(readFileSync(join(REPO, WORKFLOW), 'utf8')) as {
    on: Record<'pull_request' | 'push', { paths: string[] }>;
    env: Record<string, string>;
    jobs: Record<string, { permissions: Permissions; steps: { uses?: string; run?: string; with?: object }[] }>;
  };
  // A change to the rules or to the generated files starts it: `paths:` covers what the env names.
  expect(doc.env).toMatchObject({ WATCH_CONFIG: WATCH, RULES_DIR });
  for (const event of ['pull_request', 'push'] as const)
    for (const file of [WATCH, `${RULES_DIR}/fivestep.rules.yml`, `${RULES_DIR}/alertmanager.yml`, WORKFLOW])
      expect(`${event}: ${file}`).toBe(
        doc.on[event].paths.some((glob) => minimatch(file, glob)) ? `${event}: ${file}` : 'not in paths',
      );
  // Each job grants what its steps need and nothing more (the table of src/docs/permissions.ts).
  for (const [name, job] of Object.entries(doc.jobs)) {
    const needed = job.steps.reduce<Permissions>((acc, s) => {
      const inputs = Object.fromEntries(Object.entries(s.with ?? {}).map(([k, v]) => [k, String(v)]));
      const ours = s.uses && /^\.\/actions\/([\w-]+)$/.exec(s.uses);
      const needs = ours
        ? requiredPermissions(ours[1], inputs)
        : s.uses
          ? OTHER_ACTION_PERMISSIONS[s.uses.split('@')[0]](inputs)
          : runPermissions(s.run ?? '');
      return mergePermissions(acc, needs);
    }, {});
    expect({ name, ...comparePermissions(job.permissions, needed) }).toEqual({ name, missing: [], excess: [] });
  }
});

test('check: the committed files are what the rules give, and pass promtool check/test rules and amtool', async () => {
  const run = await check();
  expect(summary(run, 'success')).toEqual({
    result: 'success',
    steps: { ...CHECK_STEPS, promtool: 'success', amtool: 'success' },
    log: '',
  });
  for (const file of ['fivestep.rules.yml', 'fivestep.tests.yml', 'alertmanager.yml'])
    expect(run.steps.compare.stdout).toContain(`${RULES_DIR}/${file} is up to date with the rules`);
  expect(run.steps.tools.outputs).toEqual({ promtool: '/usr/bin/promtool', amtool: '/usr/bin/amtool' });
  expect(run.steps.promtool.stdout).toMatch(
    /Checking \.github\/fivestep\/fivestep\.rules\.yml\n\s+SUCCESS: \d+ rules found/,
  );
  expect(run.steps.promtool.stdout).toMatch(/Unit Testing:\s+\.github\/fivestep\/fivestep\.tests\.yml\n\s+SUCCESS/);
  expect(run.steps.amtool.stdout).toContain('SUCCESS');
}, 30_000);

test('check: rules changed without regenerating fail the job, naming the file; regenerated, they pass', async () => {
  const watch = watchWith((t) => t.replace('max-drop: 30%', 'max-drop: 25%'));
  const stale = await check(workflowWith({ WATCH_CONFIG: watch }));
  expect(summary(stale, 'failure')).toEqual({
    result: 'failure',
    steps: { ...CHECK_STEPS, compare: 'failure', tools: 'skipped', promtool: 'skipped', amtool: 'skipped' },
    log: '',
  });
  const out = stale.steps.compare.stdout;
  expect(out).toContain(`${RULES_DIR}/fivestep.rules.yml differs from what the rules give`);
  expect(out).toContain(`::error file=${RULES_DIR}/fivestep.rules.yml::`);
  // The hint is the command that regenerates it.
  expect(out).toContain(
    `fivestep rules --config ${watch} --format prometheus --output ${RULES_DIR}/fivestep.rules.yml`,
  );

  const fresh = await check(workflowWith({ WATCH_CONFIG: watch, RULES_DIR: regenerate(watch) }));
  expect(summary(fresh, 'success')).toEqual({
    result: 'success',
    steps: { ...CHECK_STEPS, promtool: 'success', amtool: 'success' },
    log: '',
  });
}, 30_000);

test('push: check, then deploy; Prometheus loads the group fivestep from current, and the release is proven', async () => {
  const results = await runWorkflow(await parse(WORKFLOW), {
    eventName: 'push',
    vars: vars(),
    secrets: secrets(),
    runSubstitutes: {},
    githubApiUrl: gh.url,
  });
  expect(summary(results.check.legs[0], 'success').result).toBe('success');
  const run = results.deploy.legs[0];
  expect(summary(run, 'success')).toEqual({ result: 'success', steps: DEPLOY_STEPS, log: '' });
  const release = run.steps.build.outputs['release-id'];
  expect(release).toMatch(/^\d{14}-0123456$/);
  expect(run.steps.rollout.outputs.result).toBe('success');
  expect(run.steps.rollout.inputs['health-expect']).toBe('"release":"{release}"');
  expect(fleet.currentRelease(0, DEPLOY_PATH)).toBe(release);
  // What Prometheus runs is the committed file, read through current.
  const current = fleet.path(0, `${DEPLOY_PATH}/current`);
  expect(readFileSync(join(current, 'fivestep.rules.yml'), 'utf8')).toBe(
    readFileSync(join(REPO, RULES_DIR, 'fivestep.rules.yml'), 'utf8'),
  );
  const committed = ruleNames(join(REPO, RULES_DIR, 'fivestep.rules.yml'));
  expect(committed.alerts.length).toBeGreaterThanOrEqual(3);
  expect(await loaded()).toEqual({
    ...committed,
    release,
    files: [join(current, 'fivestep-release.rules.yml'), join(current, 'fivestep.rules.yml')],
  });
  releases.push(release);
}, 60_000);

test('a changed rule deployed is loaded on reload, from the same file path: alerts keep their state', async () => {
  // Evaluated every second (the watch's interval) so that the alerts become active at once: nothing is scraped
  // here, and a rule whose query has no data fires (no-data: fail) after its `for`.
  const withRule = (max: number) =>
    watchWith((t) =>
      t
        .replace('interval: 30s', 'interval: 1s')
        .replace(
          '  - name: hosts up',
          [
            '  - name: checkout errors per minute',
            '    query: sum(rate(shop_checkout_errors_total[5m])) * 60',
            `    max: ${max}`,
            '    for: 2',
            '  - name: hosts up',
          ].join('\n'),
        ),
    );
  const watch = withRule(5);
  const expected = ruleNames(join(regenerate(watch), 'fivestep.rules.yml'));
  const before = await loaded();
  const newAlerts = expected.alerts.filter((a) => !before.alerts.includes(a));
  expect(newAlerts).toHaveLength(1);

  const run = await deploy(workflowWith({ WATCH_CONFIG: watch }));
  expect(summary(run, 'success')).toEqual({ result: 'success', steps: DEPLOY_STEPS, log: '' });
  const release = run.steps.build.outputs['release-id'];
  expect(release).not.toBe(releases[0]);
  expect(fleet.currentRelease(0, DEPLOY_PATH)).toBe(release);
  expect(await loaded()).toEqual({ ...expected, release, files: before.files });
  releases.push(release);

  // Another change to the new rule. The group key (file and name) is the same through `current`, so Prometheus
  // carries the alerts' state over the reload: the unchanged rule's alert is active since the same instant.
  const active = await until(
    'the hosts up alert active',
    async () => ((await alertOf('hosts up')).alerts?.[0]?.activeAt ? alertOf('hosts up') : undefined),
    10_000,
  );
  const changed = withRule(6);
  const again = await deploy(workflowWith({ WATCH_CONFIG: changed }));
  expect(summary(again, 'success')).toEqual({ result: 'success', steps: DEPLOY_STEPS, log: '' });
  const next = again.steps.build.outputs['release-id'];
  expect(await loaded()).toEqual({ ...expected, release: next, files: before.files });
  expect((await alertOf('checkout errors per minute')).query).toContain('} > 6');
  expect((await alertOf('hosts up')).alerts?.[0]?.activeAt).toBe(active.alerts![0].activeAt);
  releases.push(next);
}, 60_000);

test('a rule file Prometheus refuses: the check job stops it; deployed anyway, the host is put back and keeps its rules', async () => {
  // mad_over_time is newer than this Prometheus (2.42): its parser refuses it, as an older server refuses
  // what a newer promtool would pass.
  const watch = watchWith((t) =>
    t.replace(
      '  - name: hosts up',
      [
        '  - name: session spread',
        '    query: mad_over_time(shop_sessions_active[10m])',
        '    max: 20',
        '  - name: hosts up',
      ].join('\n'),
    ),
  );
  const rulesDir = regenerate(watch);
  const before = await loaded();
  const previous = releases.at(-1)!;
  expect(before.release).toBe(previous);

  // The usual path: the push's check job fails on promtool, and deploy never starts.
  const results = await runWorkflow(await parse(workflowWith({ WATCH_CONFIG: watch, RULES_DIR: rulesDir })), {
    eventName: 'push',
    vars: vars(),
    secrets: secrets(),
    runSubstitutes: {},
    githubApiUrl: gh.url,
  });
  const checked = results.check.legs[0];
  expect(summary(checked, 'failure')).toEqual({
    result: 'failure',
    steps: { ...CHECK_STEPS, promtool: 'failure', amtool: 'skipped' },
    log: '',
  });
  expect(checked.steps.promtool.stdout).toContain('unknown function with name "mad_over_time"');
  expect(results.deploy.result).toBe('skipped');
  expect(fleet.currentRelease(0, DEPLOY_PATH)).toBe(previous);

  // Deployed anyway (the runner's promtool newer than the server, a re-run of deploy alone): Prometheus refuses the
  // reload, ssh-rollout switches the host back and reloads again.
  const run = await deploy(workflowWith({ WATCH_CONFIG: watch }));
  expect(summary(run, 'failure')).toEqual({
    result: 'failure',
    steps: { ...DEPLOY_STEPS, rollout: 'failure' },
    log: '',
  });
  const bad = run.steps.build.outputs['release-id'];
  expect(run.steps.rollout.outputs.result).toBe('reverted');
  const failed = JSON.parse(run.steps.rollout.outputs['failed-hosts']) as { host: string; reason: string }[];
  expect(failed).toEqual([
    { host: fleet.hosts[0].id, reason: expect.stringContaining('Prometheus refused the new rules') },
  ]);
  expect(failed[0].reason).toContain('HTTP 500');
  expect(fleet.currentRelease(0, DEPLOY_PATH)).toBe(previous);
  // The previous rules are the loaded ones, and the last reload (the revert's) succeeded.
  expect(await loaded()).toEqual(before);
  expect(await prometheus.lastReloadSuccessful()).toBe(true);
  expect(prometheus.log()).toContain('mad_over_time');
  // The refused release stays on disk for the post-mortem; the previous one is current.
  expect(readFileSync(fleet.path(0, `${DEPLOY_PATH}/releases/${bad}/fivestep.rules.yml`), 'utf8')).toContain(
    'mad_over_time',
  );
}, 60_000);

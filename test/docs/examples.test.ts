// The README's own examples, run as written: every `uses: OWNER/REPO/actions/<name>@v1` step of the docs
// passes only inputs its action.yml declares, and every ssh-rollout step's inputs pass the same checks the
// action makes (a watch without a bake, a misspelt key, a bad duration would fail here first). Then the
// README's ssh-rollout step and its auto-revert step run in one job through the workflow harness (GitHub's
// parser and expression engine, the committed bundles) against a real OpenSSH fleet, a shop on each host and
// a real Prometheus, with only what a user must put in their own values changed: the hosts, the artifact's
// path, the URLs and ports of their services, and timings short enough for a test.
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { objectInputs } from '../../src/common/inputs.js';
import { readRolloutSettings } from '../../src/rollout/settings.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';
import { REPO, actionInputs, parse, runJob, startShopEndpoints, stopShopWorld } from '../workflows/harness.js';
import { currentOf } from '../rollout/helpers.js';
import { docBlock } from '../recipes/helpers.js';

type Step = { name?: string; id?: string; if?: string; uses?: string; with?: Record<string, unknown> };

/** Every fenced yaml block of the README and the docs, with where it is. */
function yamlBlocks(): { file: string; text: string }[] {
  const files = [
    'README.md',
    ...readdirSync('docs')
      .filter((f) => f.endsWith('.md'))
      .map((f) => join('docs', f)),
  ];
  return files.flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => ({ file, text: m[1] })),
  );
}

/** The action steps of a block: a whole workflow's, or a fragment of steps (indented as in a job). */
function stepsOf(text: string): Step[] {
  // A fragment of steps is indented as in a job: take its common indentation off.
  const indent = Math.min(
    ...text
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('#'))
      .map((l) => /^ */.exec(l)![0].length),
  );
  const doc = parseYaml(text.replace(new RegExp(`^ {${indent}}`, 'gm'), '')) as unknown;
  if (Array.isArray(doc)) return doc as Step[];
  const jobs = (doc as { jobs?: Record<string, { steps?: Step[] }> })?.jobs;
  return jobs ? Object.values(jobs).flatMap((j) => j.steps ?? []) : [];
}

const actionOf = (step: Step) => /^OWNER\/REPO\/actions\/([a-z-]+)@v1$/.exec(step.uses ?? '')?.[1];
const examples = () =>
  yamlBlocks().flatMap((b) =>
    stepsOf(b.text)
      .filter(actionOf)
      .map((step) => ({ ...b, step, action: actionOf(step)! })),
  );
/** The README's first example of an action (its main one). */
const readmeStep = (action: string) => examples().find((e) => e.file === 'README.md' && e.action === action)!;

test('every action step in the README and the docs passes only inputs its action.yml declares', () => {
  const found = examples();
  expect(found.length).toBeGreaterThan(10);
  for (const { file, step, action } of found) {
    const declared = Object.keys(actionInputs(action));
    for (const key of Object.keys(step.with ?? {}))
      expect(`${file}: ${action}: ${key} ${declared.includes(key)}`).toBe(`${file}: ${action}: ${key} true`);
  }
});

test("every ssh-rollout step in the docs passes ssh-rollout's own input checks (watch with a bake, known keys, durations)", () => {
  const artifact = mkdtempSync(join(tmpdir(), 'fivestep-doc-artifact-'));
  writeFileSync(join(artifact, 'index.html'), 'x');
  const rollouts = examples().filter((e) => e.action === 'ssh-rollout');
  const key = newKey();
  expect(rollouts.length).toBeGreaterThan(2);
  for (const { file, step } of rollouts) {
    const values = Object.fromEntries(
      Object.entries(step.with ?? {}).map(([k, v]) => [
        k,
        typeof v === 'string' ? v.replace(/\$\{\{[^}]*\}\}/g, 'x') : String(v),
      ]),
    );
    // What an expression or the user's site supplies: three hosts, a key, their host keys, a build.
    const inputs = {
      ...values,
      hosts: 'web1.example.com\nweb2.example.com\nweb3.example.com',
      'private-key': key,
      'known-hosts':
        'web1.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      ...(values['artifact-url']
        ? { 'artifact-url': 'https://artifacts.example.com/app.tgz', 'artifact-sha256': 'a'.repeat(64) }
        : { artifact }),
      ...(values['release-id'] ? { 'release-id': 'r1' } : {}),
    };
    expect({
      file,
      step: step.name,
      error: errorOf(() =>
        readRolloutSettings(objectInputs(inputs), { now: new Date(), sha: '', mask: () => {}, env: {} }),
      ),
    }).toEqual({ file, step: step.name, error: '' });
  }
});

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

/** An ed25519 key made for this test (authorised nowhere): the settings reader parses the key. */
function newKey(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fivestep-doc-key-')), 'key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  return readFileSync(file, 'utf8');
}

test("the README's reload-command is docs/app-servers.md's gunicorn recipe, the one test/recipes/gunicorn.test.ts runs under load", () => {
  const readme = readmeStep('ssh-rollout').step.with as Record<string, string>;
  const recipe = parseYaml(docBlock('gunicorn rollout')) as Record<string, string>;
  expect(readme['reload-command']).toBe(recipe['reload-command']);
  expect(readme['health-expect']).toBe(recipe['health-expect']);
});

describe("the README's ssh-rollout and auto-revert steps, in one job, on a real fleet", () => {
  let fleet: Fleet;
  let prometheus: PrometheusServer;
  let gh: GitHubApiStandIn;
  let appPort: number;
  let work: string;
  const apps: Server[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fivestep-readme-'));
    fleet = await Fleet.start(3, { distinctAddresses: true });
    appPort = await freePort(fleet.hosts[0].host);
    // /health names the release the host runs, as the README's health-expect: '{release}' asks.
    apps.push(
      ...(await startShopEndpoints(fleet.hosts, appPort, {
        centsPerMinute: () => 60_000,
        health: (i) => ({ status: 200, body: `release ${currentOf(fleet, i)}` }),
      })),
    );
    [prometheus, gh] = await Promise.all([
      startPrometheus(
        fleet.hosts.map((h) => `${h.host}:${appPort}`),
        'shop_revenue_cents_total',
      ),
      startGitHubApi(),
    ]);
    // The watch's rule is a rate over [1m], which Prometheus divides by the whole minute: until a minute of
    // scrapes exists it ramps up, and a host scraped once less reads lower. Every host gets a full window first.
    await waitForHistory(prometheus, 'shop_revenue_cents_total', 58, '1m', 90_000, fleet.hosts.length);
    // README "Preparing hosts": the deploy path owned by the login user, shared/.env made before the first rollout.
    for (let i = 0; i < fleet.hosts.length; i++) {
      const { uid, gid } = statSync(fleet.hosts[i].root);
      for (const d of ['/srv/app', '/srv/app/shared']) {
        mkdirSync(fleet.path(i, d), { recursive: true });
        chownSync(fleet.path(i, d), uid, gid);
      }
      writeFileSync(fleet.path(i, '/srv/app/shared/.env'), 'SECRET=1\n');
      chownSync(fleet.path(i, '/srv/app/shared/.env'), uid, gid);
    }
  }, 150_000);

  afterAll(() => stopShopWorld({ apps, prometheus, gh, fleet }));

  /** The README's two steps as one job, each changed only where a user puts their own values. */
  function workflow(rolloutOverrides: Record<string, string> = {}): string {
    const rollout = structuredClone(readmeStep('ssh-rollout').step);
    const revert = structuredClone(readmeStep('auto-revert').step);
    const w = rollout.with as Record<string, string>;
    const watch = parseYaml(w.watch) as Record<string, unknown>;
    Object.assign(w, {
      hosts: '${{ vars.WEB_HOSTS }}', // the README lists web1.example.com …
      artifact: '${{ vars.ARTIFACT }}',
      'setup-command': 'test -f index.html', // the README's pip install: this artifact has no requirements.txt
      'reload-command': 'true', // the README's reload signals the user's gunicorn (test/recipes/ runs that recipe), which is not here
      'health-url': `http://{host}:${appPort}/health`,
      'wave-wait': '2s',
      watch: stringifyYaml({ ...watch, url: prometheus.url, interval: '1s' }),
      ...rolloutOverrides,
    });
    rollout.uses = './actions/ssh-rollout';
    revert.uses = './actions/auto-revert';
    const r = revert.with as Record<string, string>;
    // The README's revert reloads and checks health the same way as its rollout.
    Object.assign(r, {
      'reload-command': 'true',
      'health-url': `http://{host}:${appPort}/health`,
      'revert-commit': 'false',
    });
    const doc = {
      name: 'readme',
      on: { push: {} },
      permissions: {},
      jobs: { deploy: { 'runs-on': 'ubuntu-latest', steps: [rollout, revert] } },
    };
    const file = join(work, `readme-${Math.random().toString(36).slice(2, 8)}.yml`);
    writeFileSync(file, stringifyYaml(doc, { lineWidth: 0 }));
    return file;
  }

  const vars = (release: string) => {
    const dir = join(work, `build-${release}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.html'), `${release}\n`);
    return {
      WEB_HOSTS: fleet.hostsInput,
      WEB_KNOWN_HOSTS: fleet.knownHosts(),
      DEPLOY_KNOWN_HOSTS: fleet.knownHosts(),
      ARTIFACT: dir,
    };
  };
  let runs = 0;
  /** One workflow run (each its own run id, as every push is) of the README's two steps. */
  const run = async (release: string, overrides: Record<string, string> = {}) =>
    runJob(await parse(relative(REPO, workflow({ 'release-id': release, ...overrides }))), {
      jobId: 'deploy',
      vars: vars(release),
      secrets: { DEPLOY_KEY: fleet.clientKey },
      runSubstitutes: {},
      githubApiUrl: gh.url,
      runId: String(++runs),
    });
  const currents = () => fleet.hosts.map((_h, i) => fleet.currentRelease(i));

  test('as written: every host on the release, shared .env linked as a file, log/ created, the canary watched during its bake', async () => {
    for (const release of ['v0', 'v1']) {
      const job = await run(release);
      expect({
        release,
        result: job.result,
        rollout: job.steps.rollout.outcome,
        log: job.result === 'success' ? '' : job.steps.rollout.stdout.slice(-3000),
      }).toEqual({ release, result: 'success', rollout: 'success', log: '' });
      expect(job.steps[Object.keys(job.steps)[1]].outcome).toBe('skipped'); // the revert runs only on failure()
    }
    expect(currents()).toEqual(['v1', 'v1', 'v1']);
    for (let i = 0; i < 3; i++) {
      expect(lstatSync(fleet.path(i, '/srv/app/releases/v1/.env')).isSymbolicLink()).toBe(true);
      expect(lstatSync(fleet.path(i, '/srv/app/shared/.env')).isFile()).toBe(true);
      expect(lstatSync(fleet.path(i, '/srv/app/shared/log')).isDirectory()).toBe(true);
    }
  }, 90_000);

  test("a typo that fails the rollout before it touches a host (wave-wait: 5min): the README's auto-revert step does nothing, and says why", async () => {
    const job = await run('v2', { 'wave-wait': '5min' });
    expect(job.result).toBe('failure');
    expect(job.steps.rollout.outcome).toBe('failure');
    expect(job.steps.rollout.stdout).toContain("input 'wave-wait': '5min' is not a duration");
    const revert = Object.values(job.steps).find((s) => s.id !== 'rollout')!;
    expect(revert.outcome).toBe('success');
    expect(revert.outputs.result).toBe('nothing-to-do');
    expect(revert.stdout).toMatch(/no ssh-rollout of this workflow run \(.*\/actions\/runs\/3\) reached this host/);
    // v1, healthy, stays everywhere; nothing is marked bad.
    expect(currents()).toEqual(['v1', 'v1', 'v1']);
    for (let i = 0; i < 3; i++) expect(existsSync(fleet.path(i, '/srv/app/.fivestep/bad/v1'))).toBe(false);
  }, 60_000);
});

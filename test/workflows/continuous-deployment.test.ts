// The sample workflow runs here as the runner would run it. GitHub's own parser (@actions/workflow-parser)
// reads .github/workflows/continuous-deployment.yml; GitHub's expression engine (@actions/expressions)
// evaluates every `if:`, `env:` and `with:` against github.*, vars.*, secrets.*, inputs.*, env.* and
// steps.<id>.* contexts built here; the deploy job's steps then run in order with the committed bundles
// (`node dist/<name>/index.js`, inputs as INPUT_*, outputs read back from GITHUB_OUTPUT), against a real
// OpenSSH fleet (5 hosts), a real Prometheus and the GitHub API stand-in.
//
// What is not run, and why:
// - `actions/checkout` and `actions/setup-node`: the workspace is this repository (so `./actions/<name>`
//   resolves as it does after checkout) and the node is FIVESTEP_NODE (Node 24 in CI) or this one.
// - the `build` run step (npm ci, build, tar): it is replaced by what it would write to GITHUB_OUTPUT,
//   `artifact` (a prepared directory) and `release-id`; the test checks the script still writes both names.
// Short timings come through the workflow's own variables (`vars.CANARY_BAKE || '5m'` and the like), so
// the file is what users run, with production defaults, and the test sets CANARY_BAKE, WATCH_INTERVAL and
// FLEET_WATCH to seconds. REVERT_COMMIT=false keeps git out (auto-revert's git path has its own tests).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import {
  NoOperationTraceWriter,
  convertWorkflowTemplate,
  isBasicExpression,
  isMapping,
  isSequence,
  isString,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import type { MappingToken, TemplateToken } from '@actions/workflow-parser/templates/tokens/index';
import { parse as parseYaml } from 'yaml';
import { Fleet, freePort } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { startPrometheus, type PrometheusServer } from '../servers/prometheus.js';

const REPO = process.cwd();
const WORKFLOW = '.github/workflows/continuous-deployment.yml';
const node = process.env.FIVESTEP_NODE || process.execPath;
const work = mkdtempSync(join(tmpdir(), 'fivestep-wf-'));
const SHA = '0123456789abcdef0123456789abcdef01234567';

// ---------------------------------------------------------------------------------------------------
// Expressions: GitHub's lexer, parser and evaluator, with the runner's status functions.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Contexts = Record<string, Json>;
const CONTEXTS = ['github', 'env', 'vars', 'secrets', 'inputs', 'steps', 'job', 'runner', 'matrix', 'strategy', 'needs'];
const STATUS = ['success', 'failure', 'always', 'cancelled'].map((name) => ({ name, minArgs: 0, maxArgs: 0 }));

function evaluate(expression: string, ctx: Contexts, jobFailed = false): data.ExpressionData {
  const lexed = new Lexer(expression).lex();
  const expr = new Parser(lexed.tokens, CONTEXTS, STATUS).parse();
  const status = (v: boolean) => ({ name: '', minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(v) });
  const functions = new Map([
    ['success', status(!jobFailed)],
    ['failure', status(jobFailed)],
    ['always', status(true)],
    ['cancelled', status(false)],
  ]);
  const dict = JSON.parse(JSON.stringify(ctx), data.reviver) as data.Dictionary;
  return new Evaluator(expr, dict, functions).evaluate();
}

const truthy = (d: data.ExpressionData): boolean => {
  switch (d.kind) {
    case data.Kind.Null:
      return false;
    case data.Kind.Boolean:
      return (d as data.BooleanData).value;
    case data.Kind.Number:
      return (d as data.NumberData).value !== 0 && !Number.isNaN((d as data.NumberData).value);
    case data.Kind.String:
      return (d as data.StringData).value !== '';
    default:
      return true;
  }
};

/** `a ${{ x }} b` → the string the runner passes, each `${{ }}` coerced to a string. */
function interpolate(text: string, ctx: Contexts): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_m, expr: string) => evaluate(expr.trim(), ctx).coerceString());
}

/** A YAML literal block scalar's text as YAML decodes it (common indentation removed, `|`/`|-` chomping). */
function blockScalar(source: string, header: string): string {
  const lines = source.replace(/\n+$/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  const body = lines.map((l) => l.slice(indent)).join('\n');
  return header.includes('-') ? body : `${body}\n`;
}

/**
 * A `with:`/`env:` value as the runner computes it. The parser turns a string holding `${{ }}` into one
 * `format(...)` expression; for a block scalar (`|`) this version keeps the raw source lines, indentation
 * and all, in the format string, so those are decoded here from the token's source instead.
 */
function valueOf(token: TemplateToken, ctx: Contexts): string {
  if (isBasicExpression(token)) {
    if (token.blockScalarHeader && token.source) return interpolate(blockScalar(token.source, token.blockScalarHeader), ctx);
    return evaluate(token.expression, ctx).coerceString();
  }
  if (isString(token)) return token.value;
  return String((token as unknown as { value: unknown }).value);
}

function mapping(token: TemplateToken | undefined): Map<string, TemplateToken> {
  const out = new Map<string, TemplateToken>();
  if (token && isMapping(token)) for (const pair of token) out.set(pair.key.toString(), pair.value);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The workflow, parsed once.

interface Parsed {
  template: WorkflowTemplate;
  root: MappingToken;
}

async function parse(file: string): Promise<Parsed> {
  const result = parseWorkflow({ name: file, content: readFileSync(join(REPO, file), 'utf8') }, new NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  expect(errors).toEqual([]);
  const template = await convertWorkflowTemplate(result.context, result.value!);
  expect(template.errors ?? []).toEqual([]);
  return { template, root: result.value as MappingToken };
}

/** The raw step tokens of a job: the converted template drops `with:`, so it is read from the token tree. */
function rawSteps(root: MappingToken, jobId: string): Map<string, TemplateToken>[] {
  const steps = mapping(mapping(mapping(root).get('jobs')).get(jobId)).get('steps');
  const out: Map<string, TemplateToken>[] = [];
  if (steps && isSequence(steps)) for (const s of steps) out.push(mapping(s));
  return out;
}

interface ActionInput {
  default?: string;
  required?: boolean;
}
const actionInputs = (name: string): Record<string, ActionInput> =>
  (parseYaml(readFileSync(join(REPO, 'actions', name, 'action.yml'), 'utf8')) as { inputs: Record<string, ActionInput> }).inputs;

// ---------------------------------------------------------------------------------------------------
// Running a job's steps.

interface StepRun {
  id: string;
  outcome: 'success' | 'failure' | 'skipped';
  outputs: Record<string, string>;
  inputs: Record<string, string>;
  stdout: string;
}

interface JobRun {
  result: 'success' | 'failure' | 'skipped';
  steps: Record<string, StepRun>;
}

/** Reads a GITHUB_OUTPUT file: `name<<DELIM` heredocs and `name=value` lines. */
function readOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (heredoc) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]);
      out[heredoc[1]] = value.join('\n');
    } else if (lines[i].includes('=')) {
      out[lines[i].slice(0, lines[i].indexOf('='))] = lines[i].slice(lines[i].indexOf('=') + 1);
    }
  }
  return out;
}

function runNode(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
  // Async: the metrics endpoints and the GitHub stand-in live in this process and must keep answering.
  return new Promise((resolve, reject) => {
    const child = spawn(node, [script], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stdout += String(d)));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

interface RunOptions {
  jobId: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  inputs?: Record<string, string>;
  /** What each `run:` step with this id would have written to GITHUB_OUTPUT (see the top comment). */
  runSubstitutes: Record<string, Record<string, string>>;
  githubApiUrl: string;
}

async function runJob(wf: Parsed, opts: RunOptions): Promise<JobRun> {
  const dir = mkdtempSync(join(work, `${opts.jobId}-`));
  const eventPath = join(dir, 'event.json');
  writeFileSync(eventPath, JSON.stringify({ ref: 'refs/heads/main', after: SHA, repository: { full_name: 'acme/shop', name: 'shop', owner: { login: 'acme' } } }));
  const github: Record<string, Json> = {
    event_name: 'push',
    sha: SHA,
    ref: 'refs/heads/main',
    ref_name: 'main',
    repository: 'acme/shop',
    repository_owner: 'acme',
    actor: 'octocat',
    token: 'ghs_workflow_test_token',
    run_id: '4242',
    run_attempt: '1',
    server_url: 'https://github.example',
    api_url: opts.githubApiUrl,
    workspace: REPO,
    workflow: 'continuous deployment',
    job: opts.jobId,
    event: {},
  };
  const ctx: Contexts = { github, vars: opts.vars, secrets: opts.secrets, inputs: opts.inputs ?? {}, env: {}, steps: {}, job: { status: 'success' }, runner: { temp: dir, os: 'Linux' } };

  const job = wf.template.jobs.find((j) => j.id.value === opts.jobId);
  if (!job || job.type !== 'job') throw new Error(`no job ${opts.jobId}`);
  if (!truthy(evaluate(job.if.expression, ctx))) return { result: 'skipped', steps: {} };
  const jobEnv: Record<string, string> = {};
  for (const [k, v] of mapping(job.env)) jobEnv[k] = valueOf(v, ctx);
  ctx.env = { ...jobEnv };

  const raw = rawSteps(wf.root, opts.jobId);
  const steps: Record<string, StepRun> = {};
  const stepsCtx: Record<string, Json> = {};
  let failed = false;
  for (const [i, step] of job.steps.entries()) {
    const record: StepRun = { id: step.id, outcome: 'skipped', outputs: {}, inputs: {}, stdout: '' };
    steps[step.id] = record;
    const condition = 'if' in step && step.if ? step.if.expression : 'success()';
    if (truthy(evaluate(condition, ctx, failed))) {
      const rawStep = raw[i];
      if ('uses' in step) {
        const uses = step.uses.value;
        const local = /^\.\/actions\/([a-z-]+)$/.exec(uses);
        if (local) {
          const name = local[1];
          const declared = actionInputs(name);
          const given = mapping(rawStep.get('with'));
          for (const key of given.keys()) expect(Object.keys(declared)).toContain(key); // the runner warns on unknown inputs
          const inputs: Record<string, string> = {};
          for (const [key, decl] of Object.entries(declared)) {
            const token = given.get(key);
            inputs[key] = token ? valueOf(token, ctx) : interpolate(decl.default ?? '', ctx);
          }
          record.inputs = inputs;
          const output = join(dir, `${step.id}.output`);
          const summary = join(dir, `${step.id}.summary`);
          writeFileSync(output, '');
          writeFileSync(summary, '');
          const env: NodeJS.ProcessEnv = {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            CI: 'true',
            GITHUB_ACTIONS: 'true',
            GITHUB_OUTPUT: output,
            GITHUB_STEP_SUMMARY: summary,
            GITHUB_EVENT_PATH: eventPath,
            GITHUB_EVENT_NAME: String(github.event_name),
            GITHUB_SHA: SHA,
            GITHUB_REF: String(github.ref),
            GITHUB_REPOSITORY: String(github.repository),
            GITHUB_REPOSITORY_OWNER: String(github.repository_owner),
            GITHUB_ACTOR: String(github.actor),
            GITHUB_RUN_ID: String(github.run_id),
            GITHUB_RUN_ATTEMPT: '1',
            GITHUB_SERVER_URL: String(github.server_url),
            GITHUB_API_URL: opts.githubApiUrl,
            GITHUB_WORKSPACE: REPO,
            GITHUB_WORKFLOW: String(github.workflow),
            GITHUB_JOB: opts.jobId,
            RUNNER_TEMP: dir,
            RUNNER_OS: 'Linux',
            ...jobEnv,
          };
          for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
          const main = (parseYaml(readFileSync(join(REPO, 'actions', name, 'action.yml'), 'utf8')) as { runs: { main: string } }).runs.main;
          const r = await runNode(join(REPO, 'actions', name, main), env);
          record.stdout = r.stdout;
          record.outputs = readOutputFile(readFileSync(output, 'utf8'));
          record.outcome = r.code === 0 ? 'success' : 'failure';
        } else {
          // actions/checkout, actions/setup-node: see the top comment.
          expect(uses).toMatch(/^actions\/(checkout|setup-node)@v\d+$/);
          record.outcome = 'success';
        }
      } else if ('run' in step) {
        const substitute = opts.runSubstitutes[step.id];
        if (!substitute) throw new Error(`run step '${step.id}' has no substitute`);
        const script = valueOf(step.run, ctx);
        for (const name of Object.keys(substitute)) expect(script).toMatch(new RegExp(`echo "${name}=.*>> "\\$GITHUB_OUTPUT"`));
        record.outputs = { ...substitute };
        record.outcome = 'success';
      }
      if (record.outcome === 'failure') failed = true;
    }
    stepsCtx[step.id] = { outputs: record.outputs, outcome: record.outcome, conclusion: record.outcome };
    ctx.steps = stepsCtx;
    ctx.job = { status: failed ? 'failure' : 'success' };
  }
  return { result: failed ? 'failure' : 'success', steps };
}

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
  for (const [i, h] of fleet.hosts.entries()) {
    // Revenue is a counter growing at the rate of the release the host runs now (a bad one sells a tenth).
    let cents = 0;
    let last = Date.now();
    const server = createServer((req, res) => {
      const now = Date.now();
      cents += ((badReleases.has(currentRelease(i)) ? GOOD_CENTS_PER_MINUTE / 10 : GOOD_CENTS_PER_MINUTE) * (now - last)) / 60_000;
      last = now;
      if (req.url?.startsWith('/health')) {
        res.writeHead(200).end('ok'); // every release is healthy: only the business metric tells
        return;
      }
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(`# TYPE shop_revenue_cents_total counter\nshop_revenue_cents_total ${cents}\n# TYPE shop_sessions_active gauge\nshop_sessions_active 40\n`);
    });
    await new Promise<void>((resolve) => server.listen(appPort, h.host, resolve));
    apps.push(server);
  }
  [prometheus, gh] = await Promise.all([startPrometheus(fleet.hosts.map((h) => `${h.host}:${appPort}`), 'shop_revenue_cents_total'), startGitHubApi()]);
}, 60_000);

afterAll(async () => {
  await Promise.all(apps.map((s) => new Promise((r) => s.close(r))));
  await prometheus?.close();
  await gh?.close();
  await fleet?.stop();
});

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

test('both workflows parse with GitHub\'s parser, and every ./actions step passes only inputs its action.yml declares', async () => {
  for (const file of [WORKFLOW, '.github/workflows/watch-production.yml']) {
    const wf = await parse(file);
    for (const job of wf.template.jobs) {
      if (job.type !== 'job') continue;
      for (const [i, step] of job.steps.entries()) {
        if (!('uses' in step)) continue;
        const local = /^\.\/actions\/([a-z-]+)$/.exec(step.uses.value);
        if (!local) continue;
        const declared = Object.keys(actionInputs(local[1]));
        for (const key of mapping(rawSteps(wf.root, job.id.value)[i].get('with')).keys()) expect(`${job.id.value}/${step.id}: ${key} in ${declared.includes(key)}`).toBe(`${job.id.value}/${step.id}: ${key} in true`);
      }
    }
  }
  const cd = await parse(WORKFLOW);
  expect(Object.keys(cd.template.events).sort()).toEqual(['merge_group', 'pull_request', 'push', 'workflow_dispatch']);
  expect(Object.keys(cd.template.events.workflow_dispatch?.inputs ?? {}).sort()).toEqual(['ref', 'rollback-to']);
  // A merge-queue entry is tested, never deployed (its commit reaches main, and is deployed, by the push).
  const runsOn = (event: string) =>
    cd.template.jobs.filter((j) => j.type === 'job' && truthy(evaluate(j.if.expression, { github: { event_name: event }, inputs: { ref: '', 'rollback-to': '' } }))).map((j) => j.id.value);
  expect(runsOn('merge_group')).toEqual(['test']);
  expect(runsOn('push')).toEqual(expect.arrayContaining(['test', 'deploy']));
});

test('(a) a good release: canary, bake, the rest, fleet watch; the deploy job is green and every host runs it', async () => {
  const run = await deploy('20261123000001-good001');
  const logs = Object.values(run.steps).map((s) => `--- ${s.id}\n${s.stdout}`).join('\n');
  expect({ result: run.result, steps: outcomes(run), logs: run.result === 'success' ? '' : logs.slice(-4000) }).toEqual({
    result: 'success',
    steps: { '__actions_checkout': 'success', '__actions_setup-node': 'success', build: 'success', rollout: 'success', watch: 'success', revert: 'skipped' },
    logs: '',
  });
  expect(run.steps.rollout.inputs['github-token']).toBe('ghs_workflow_test_token'); // the action.yml default, evaluated
  expect(run.steps.rollout.inputs['reload-command']).toBe('test -f VERSION');
  expect(run.steps.rollout.outputs.result).toBe('success');
  expect(JSON.parse(run.steps.rollout.outputs['updated-hosts'])).toHaveLength(5);
  expect(run.steps.watch.outputs.verdict).toBe('pass');
  expect(allHosts()).toEqual(Array(5).fill('20261123000001-good001'));
  const report = JSON.parse(readFileSync(run.steps.rollout.outputs.report, 'utf8'));
  expect(report.waves[0].bake.verdict).toBe('pass');
  expect(gh.repo('acme/shop').deployments.at(-1)?.statuses.map((s: { state: string }) => s.state)).toContain('success');
}, 40_000);

test('(b) a healthy release that drops revenue on the canary is stopped there, reverted, and opens the RCA issue', async () => {
  const bad = '20261123000002-bad0002';
  badReleases.add(bad);
  const started = Date.now();
  const run = await deploy(bad, { CANARY_BAKE: '25s' });
  const logs = Object.values(run.steps).map((s) => `--- ${s.id}\n${s.stdout}`).join('\n');
  expect({ result: run.result, steps: outcomes(run), logs: run.steps.revert.outcome === 'success' ? '' : logs.slice(-4000) }).toEqual({
    result: 'failure',
    steps: { '__actions_checkout': 'success', '__actions_setup-node': 'success', build: 'success', rollout: 'failure', watch: 'skipped', revert: 'success' },
    logs: '',
  });
  // The breach ended the bake early, and only the canary ever ran the bad release.
  expect(Date.now() - started).toBeLessThan(25_000);
  expect(run.steps.rollout.outputs.result).toBe('reverted');
  const report = JSON.parse(readFileSync(run.steps.rollout.outputs.report, 'utf8'));
  expect(report.hosts.map((h: { outcome: string }) => h.outcome)).toEqual(['reverted', 'skipped', 'skipped', 'skipped', 'skipped']);
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

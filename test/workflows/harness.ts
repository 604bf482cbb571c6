// A workflow runner for tests: the sample workflows run here as GitHub's runner would run them.
// GitHub's own parser (@actions/workflow-parser) reads the file; GitHub's expression engine
// (@actions/expressions) evaluates every `if:`, `env:`, `with:`, `run:`, `strategy:` and job `outputs:`
// against github.*, vars.*, secrets.*, inputs.*, env.*, steps.*, needs.*, matrix.*, strategy.*, job.* and
// runner.* contexts built here. Jobs start when their `needs` are done; a matrix job's legs run at the same
// time (up to `max-parallel`), each with its own RUNNER_TEMP, as on separate runners.
//
// What runs, and how:
// - `./actions/<name>` steps: the committed bundle (`node dist/<name>/index.js`, on FIVESTEP_NODE or this
//   node), inputs as INPUT_* (every `with:` key must be declared in action.yml; defaults evaluated),
//   outputs read back from GITHUB_OUTPUT.
// - `run:` steps: `bash -e` (or the step's `shell: bash`/`sh`), with GITHUB_OUTPUT and GITHUB_ENV files,
//   except those given a substitute (a build that needs npm): the substitute returns what the script would
//   have written to GITHUB_OUTPUT (and may write its files), and the script must still write those names.
// - `actions/upload-artifact` / `actions/download-artifact`: a store of this run's artifacts on disk, with
//   their path rules (one directory: its contents; several paths: from their common ancestor; pattern and
//   merge-multiple); names are immutable within a run, as since v4.
// - `actions/checkout` and `actions/setup-node`: nothing (the workspace is this repository, so
//   `./actions/<name>` resolves as after a checkout; the node is FIVESTEP_NODE or this one).
// - Cancellation, as GitHub does it (docs: "Workflow cancellation reference"): the running step's entry
//   process gets SIGINT, SIGTERM 7.5 s later, and its process tree SIGKILL 2.5 s after that; the step is
//   `cancelled`, and the job's remaining steps run only if their `if:` holds with cancelled() true
//   (always(), cancelled()). A matrix with fail-fast (the default) cancels its other legs when one fails.
// Not emulated: services, containers, reusable workflows, concurrency groups, `timeout-minutes`,
// GITHUB_PATH, masking.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { Evaluator, Lexer, Parser, data } from '@actions/expressions';
import {
  NoOperationTraceWriter,
  convertWorkflowTemplate,
  isBasicExpression,
  isBoolean,
  isMapping,
  isNumber,
  isSequence,
  isString,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import type { Job } from '@actions/workflow-parser/model/workflow-template';
import type { MappingToken, TemplateToken } from '@actions/workflow-parser/templates/tokens/index';
import { minimatch } from 'minimatch';
import { parse as parseYaml } from 'yaml';

export const REPO = process.cwd();
const node = process.env.FIVESTEP_NODE || process.execPath;
export const SHA = '0123456789abcdef0123456789abcdef01234567';
let workDir: string | undefined;
/** This process's scratch directory for runs (runner temps, artifact stores). */
const work = (): string => (workDir ??= mkdtempSync(join(tmpdir(), 'fivestep-wf-')));

// ---------------------------------------------------------------------------------------------------
// Expressions: GitHub's lexer, parser and evaluator, with the runner's status functions.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Contexts = Record<string, Json>;
const CONTEXTS = [
  'github',
  'env',
  'vars',
  'secrets',
  'inputs',
  'steps',
  'job',
  'runner',
  'matrix',
  'strategy',
  'needs',
];
const STATUS = ['success', 'failure', 'always', 'cancelled'].map((name) => ({ name, minArgs: 0, maxArgs: 0 }));

/** What the status functions return where an expression is evaluated (a step's, or a job's `if:`). */
export interface Status {
  success: boolean;
  failure: boolean;
  cancelled: boolean;
}
const GREEN: Status = { success: true, failure: false, cancelled: false };

export function evaluate(expression: string, ctx: Contexts, status: Status = GREEN): data.ExpressionData {
  const lexed = new Lexer(expression).lex();
  const expr = new Parser(lexed.tokens, CONTEXTS, STATUS).parse();
  const fn = (v: boolean) => ({ name: '', minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(v) });
  const functions = new Map([
    ['success', fn(status.success)],
    ['failure', fn(status.failure)],
    ['always', fn(true)],
    ['cancelled', fn(status.cancelled)],
  ]);
  const dict = JSON.parse(JSON.stringify(ctx), data.reviver) as data.Dictionary;
  return new Evaluator(expr, dict, functions).evaluate();
}

export const truthy = (d: data.ExpressionData): boolean => {
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
export function interpolate(text: string, ctx: Contexts): string {
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
export function valueOf(token: TemplateToken, ctx: Contexts): string {
  if (isBasicExpression(token)) {
    if (token.blockScalarHeader && token.source)
      return interpolate(blockScalar(token.source, token.blockScalarHeader), ctx);
    return evaluate(token.expression, ctx).coerceString();
  }
  if (isString(token)) return token.value;
  return String((token as unknown as { value: unknown }).value);
}

/** A token as JSON (a `strategy:`, say), each `${{ }}` evaluated to its value (so `fromJSON(...)` works). */
export function jsonOf(token: TemplateToken, ctx: Contexts): Json {
  if (isBasicExpression(token))
    return JSON.parse(JSON.stringify(evaluate(token.expression, ctx), data.replacer)) as Json;
  if (isMapping(token))
    return Object.fromEntries([...token].map((pair) => [pair.key.toString(), jsonOf(pair.value, ctx)]));
  if (isSequence(token)) return [...token].map((t) => jsonOf(t, ctx));
  if (isString(token) || isNumber(token) || isBoolean(token)) return token.value;
  return null;
}

export function mapping(token: TemplateToken | undefined): Map<string, TemplateToken> {
  const out = new Map<string, TemplateToken>();
  if (token && isMapping(token)) for (const pair of token) out.set(pair.key.toString(), pair.value);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The workflow, parsed.

export interface Parsed {
  template: WorkflowTemplate;
  root: MappingToken;
}

export async function parse(file: string): Promise<Parsed> {
  const result = parseWorkflow(
    { name: file, content: readFileSync(join(REPO, file), 'utf8') },
    new NoOperationTraceWriter(),
  );
  const errors = result.context.errors.getErrors().map((e) => e.message);
  expect(errors).toEqual([]);
  const template = await convertWorkflowTemplate(result.context, result.value!);
  expect(template.errors ?? []).toEqual([]);
  return { template, root: result.value as MappingToken };
}

/** A job's raw token: the converted template drops `with:`, `shell:` and friends, so they are read here. */
export const rawJob = (root: MappingToken, jobId: string): Map<string, TemplateToken> =>
  mapping(mapping(mapping(root).get('jobs')).get(jobId));

/** The raw step tokens of a job. */
export function rawSteps(root: MappingToken, jobId: string): Map<string, TemplateToken>[] {
  const steps = rawJob(root, jobId).get('steps');
  const out: Map<string, TemplateToken>[] = [];
  if (steps && isSequence(steps)) for (const s of steps) out.push(mapping(s));
  return out;
}

export function templateJob(wf: Parsed, jobId: string): Job {
  const job = wf.template.jobs.find((j) => j.id.value === jobId);
  if (!job || job.type !== 'job') throw new Error(`no job ${jobId}`);
  return job;
}

interface ActionInput {
  default?: string;
  required?: boolean;
}
export const actionInputs = (name: string): Record<string, ActionInput> =>
  (
    parseYaml(readFileSync(join(REPO, 'actions', name, 'action.yml'), 'utf8')) as {
      inputs: Record<string, ActionInput>;
    }
  ).inputs;

/** Every `with:` key of a `./actions/<name>` step that its action.yml does not declare, as `job/step: key`. */
export function undeclaredInputs(wf: Parsed): string[] {
  const out: string[] = [];
  for (const job of wf.template.jobs) {
    if (job.type !== 'job') continue;
    for (const [i, step] of job.steps.entries()) {
      const local = 'uses' in step ? /^\.\/actions\/([a-z-]+)$/.exec(step.uses.value) : null;
      if (!local) continue;
      const declared = Object.keys(actionInputs(local[1]));
      for (const key of mapping(rawSteps(wf.root, job.id.value)[i].get('with')).keys())
        if (!declared.includes(key)) out.push(`${job.id.value}/${step.id}: ${key}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Pure rules of the runner: matrix expansion, job status, results.

const same = (a: Json | undefined, b: Json | undefined) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A `strategy.matrix` as GitHub expands it: the product of the list-valued keys (the first key varies
 * slowest), minus every `exclude` entry that matches, then each `include` entry added to every
 * combination whose original values it does not change, or appended as its own combination.
 */
export function expandMatrix(matrix: Json | undefined): Record<string, Json>[] {
  if (matrix === undefined || matrix === null) return [{}];
  if (typeof matrix !== 'object' || Array.isArray(matrix))
    throw new Error(`strategy.matrix must be a mapping, got ${JSON.stringify(matrix)}`);
  const { include, exclude, ...axes } = matrix;
  const keys = Object.keys(axes);
  for (const k of keys)
    if (!Array.isArray(axes[k]) || (axes[k] as Json[]).length === 0)
      throw new Error(`matrix.${k} must be a non-empty list`);
  let combos: Record<string, Json>[] = keys.length === 0 ? [] : [{}];
  for (const k of keys) combos = combos.flatMap((c) => (axes[k] as Json[]).map((v) => ({ ...c, [k]: v })));
  const asList = (v: Json | undefined) => (v === undefined ? [] : (v as Record<string, Json>[]));
  combos = combos.filter((c) => !asList(exclude).some((x) => Object.entries(x).every(([k, v]) => same(c[k], v))));
  const legs = combos.map((original) => ({ original, values: { ...original } }));
  const extra: Record<string, Json>[] = []; // include entries that fit no combination: jobs of their own, never extended
  for (const inc of asList(include)) {
    const fits = legs.filter((l) =>
      Object.entries(inc).every(([k, v]) => !(k in l.original) || same(l.original[k], v)),
    );
    if (fits.length === 0) extra.push({ ...inc });
    for (const l of fits) Object.assign(l.values, inc);
  }
  const all = [...legs.map((l) => l.values), ...extra];
  if (all.length === 0) throw new Error('strategy.matrix expands to no job');
  return all;
}

export type JobResult = 'success' | 'failure' | 'cancelled' | 'skipped';
export interface NeedResult {
  result: JobResult;
  outputs: Record<string, string>;
}

/** A job's `if:` status functions: success() only when every job it needs succeeded, failure() when one failed. */
export function jobStatus(needs: Record<string, NeedResult>, runCancelled = false): Status {
  const results = Object.values(needs).map((n) => n.result);
  return {
    success: !runCancelled && results.every((r) => r === 'success'),
    failure: results.includes('failure'),
    cancelled: runCancelled,
  };
}

/** A matrix job's result from its legs': one failed leg fails it; otherwise one cancelled leg cancels it. */
export function matrixResult(legs: JobResult[]): JobResult {
  if (legs.includes('failure')) return 'failure';
  if (legs.includes('cancelled')) return 'cancelled';
  return legs.every((r) => r === 'skipped') ? 'skipped' : 'success';
}

/** Reads a GITHUB_OUTPUT (or GITHUB_ENV) file: `name<<DELIM` heredocs and `name=value` lines. */
export function readOutputFile(text: string): Record<string, string> {
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

// ---------------------------------------------------------------------------------------------------
// Processes, cancelled as the runner cancels them.

/** GitHub's runner: SIGINT, then SIGTERM after 7.5 s, then the process tree is killed 2.5 s later. */
export const CANCEL_TIMINGS = { sigtermAfterMs: 7500, killAfterMs: 2500 };

export interface ProcessRun {
  code: number;
  stdout: string;
  /** The signals the runner sent, in order, each with the ms since the cancellation. */
  signals: { signal: NodeJS.Signals; afterMs: number }[];
  cancelled: boolean;
}

/** Async: the metrics endpoints and the GitHub stand-in live in this process and must keep answering. */
export function runProcess(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; signal?: AbortSignal; timings?: typeof CANCEL_TIMINGS },
): Promise<ProcessRun> {
  const timings = opts.timings ?? CANCEL_TIMINGS;
  return new Promise((resolve, reject) => {
    // Its own process group, so the last resort can kill the whole tree, as the runner does.
    const child = spawn(command, args, {
      cwd: opts.cwd ?? REPO,
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    const signals: ProcessRun['signals'] = [];
    const timers: ReturnType<typeof setTimeout>[] = [];
    let cancelledAt: number | undefined;
    const send = (signal: NodeJS.Signals, tree = false) => {
      signals.push({ signal, afterMs: Date.now() - cancelledAt! });
      try {
        if (tree) process.kill(-child.pid!, signal);
        else child.kill(signal);
      } catch {
        // already gone
      }
    };
    const cancel = () => {
      if (cancelledAt !== undefined || child.exitCode !== null || child.signalCode !== null) return;
      cancelledAt = Date.now();
      send('SIGINT');
      timers.push(
        setTimeout(() => {
          send('SIGTERM');
          timers.push(setTimeout(() => send('SIGKILL', true), timings.killAfterMs));
        }, timings.sigtermAfterMs),
      );
    };
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stdout += String(d)));
    child.once('error', reject);
    child.once('exit', (code) => {
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', cancel);
      const done = () => {
        clearTimeout(grace);
        // A process it left behind may hold the pipes open: the step is over when its entry process is.
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code: code ?? 1, stdout, signals, cancelled: cancelledAt !== undefined });
      };
      const grace = setTimeout(done, 200);
      child.once('close', done);
    });
    opts.signal?.addEventListener('abort', cancel);
    if (opts.signal?.aborted) cancel();
  });
}

// ---------------------------------------------------------------------------------------------------
// Artifacts of one run: upload-artifact / download-artifact semantics on a directory.

const UPLOAD_INPUTS = [
  'name',
  'path',
  'if-no-files-found',
  'retention-days',
  'compression-level',
  'overwrite',
  'include-hidden-files',
];
const DOWNLOAD_INPUTS = ['name', 'pattern', 'path', 'merge-multiple', 'github-token', 'repository', 'run-id'];

/** The directory the files of `paths` are stored relative to: one directory itself, else the common ancestor. */
export function artifactRoot(paths: string[], isDirectory: (p: string) => boolean): string {
  if (paths.length === 1 && isDirectory(paths[0])) return paths[0];
  const dirs = paths.map((p) => (isDirectory(p) ? p : dirname(p)).split(sep));
  const common: string[] = [];
  for (let i = 0; dirs.every((d) => i < d.length && d[i] === dirs[0][i]); i++) common.push(dirs[0][i]);
  return common.join(sep) || sep;
}

interface StepResult {
  outcome: 'success' | 'failure' | 'cancelled';
  outputs: Record<string, string>;
  stdout: string;
}

function uploadArtifact(store: string, inputs: Record<string, string>): StepResult {
  const name = inputs.name || 'artifact';
  if (/[*?[]/.test(inputs.path ?? '')) throw new Error('upload-artifact: globs are not emulated');
  const paths = (inputs.path ?? '')
    .split('\n')
    .map((p) => p.trim())
    .filter(Boolean);
  const found = paths.filter((p) => existsSync(p));
  if (found.length === 0) {
    const mode = inputs['if-no-files-found'] || 'warn';
    const message = `No files were found with the provided path: ${paths.join(', ')}. No artifacts will be uploaded.`;
    return {
      outcome: mode === 'error' ? 'failure' : 'success',
      outputs: {},
      stdout: mode === 'ignore' ? message : `::${mode === 'error' ? 'error' : 'warning'}::${message}`,
    };
  }
  const target = join(store, name);
  if (existsSync(target))
    return {
      outcome: 'failure',
      outputs: {},
      stdout: `::error::an artifact named '${name}' already exists in this run`,
    };
  const root = artifactRoot(found, (p) => statSync(p).isDirectory());
  for (const p of found) cpSync(p, join(target, relative(root, p)), { recursive: true });
  return {
    outcome: 'success',
    outputs: { 'artifact-id': name },
    stdout: `uploaded ${found.length} path(s) as '${name}'`,
  };
}

function downloadArtifact(store: string, inputs: Record<string, string>): StepResult {
  const path = inputs.path;
  if (!path || !isAbsolute(path))
    throw new Error('download-artifact: give an absolute path (the workspace here is the repository)');
  if (inputs['run-id']) throw new Error("download-artifact: other runs' artifacts are not emulated");
  const names = existsSync(store) ? readdirSync(store).sort() : [];
  if (inputs.name) {
    if (!names.includes(inputs.name))
      return {
        outcome: 'failure',
        outputs: {},
        stdout: `::error::Unable to download artifact(s): Artifact not found for name: ${inputs.name}`,
      };
    cpSync(join(store, inputs.name), path, { recursive: true });
    return { outcome: 'success', outputs: { 'download-path': path }, stdout: `downloaded '${inputs.name}'` };
  }
  const picked = names.filter((n) => !inputs.pattern || minimatch(n, inputs.pattern));
  const merge = inputs['merge-multiple'] === 'true';
  mkdirSync(path, { recursive: true });
  for (const n of picked) cpSync(join(store, n), merge ? path : join(path, n), { recursive: true });
  return {
    outcome: 'success',
    outputs: { 'download-path': path },
    stdout: `Total of ${picked.length} artifact(s) downloaded`,
  };
}

// ---------------------------------------------------------------------------------------------------
// Running a job (one leg of it, for a matrix job).

export interface StepRun {
  id: string;
  outcome: 'success' | 'failure' | 'cancelled' | 'skipped';
  /** What steps.<id>.conclusion says: the outcome, except a failure under continue-on-error is success. */
  conclusion: 'success' | 'failure' | 'cancelled' | 'skipped';
  outputs: Record<string, string>;
  inputs: Record<string, string>;
  stdout: string;
  /** Epoch ms; 0 for a skipped step. */
  startedAt: number;
  endedAt: number;
  /** The signals the runner sent the step's process on cancellation. */
  signals: ProcessRun['signals'];
}

export interface JobRun {
  result: 'success' | 'failure' | 'cancelled' | 'skipped';
  steps: Record<string, StepRun>;
  /** The job's `outputs:`, evaluated after its steps. */
  outputs: Record<string, string>;
  matrix: Record<string, Json>;
  /** The strategy context of this leg (fail-fast, job-index, job-total, max-parallel; {} without a matrix). */
  strategy: Record<string, Json>;
  /** Epoch ms the job (leg) started and ended. */
  startedAt: number;
  endedAt: number;
}

/** What a `run:` step given a substitute would have written to GITHUB_OUTPUT; a function may write its files too. */
export type RunSubstitute =
  Record<string, string> | ((step: { env: Record<string, string>; runnerTemp: string }) => Record<string, string>);

export interface RunOptions {
  jobId: string;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  inputs?: Record<string, string>;
  /** By step id: see RunSubstitute. Every other `run:` step runs for real. */
  runSubstitutes: Record<string, RunSubstitute>;
  githubApiUrl: string;
  /** github.event_name; `push` unless said. */
  eventName?: string;
  needs?: Record<string, NeedResult>;
  matrix?: Record<string, Json>;
  strategy?: Record<string, Json>;
  /** Aborted: the runner cancels this job (fail-fast, or the run cancelled). */
  cancel?: AbortSignal;
  /** This run's artifact store (a fresh one per runJob call unless given). */
  artifacts?: string;
  /** github.run_id (default 4242): jobs of one workflow run share it, another run has its own. */
  runId?: string;
}

/** The workflow's `name:` (github.workflow). */
const workflowName = (wf: Parsed): string => {
  const name = mapping(wf.root).get('name');
  return name && isString(name) ? name.value : '';
};

function githubContext(opts: RunOptions, eventPath: string, workflow: string): Record<string, Json> {
  return {
    event_name: opts.eventName ?? 'push',
    sha: SHA,
    ref: 'refs/heads/main',
    ref_name: 'main',
    repository: 'acme/shop',
    repository_owner: 'acme',
    actor: 'octocat',
    token: 'ghs_workflow_test_token',
    run_id: opts.runId ?? '4242',
    run_attempt: '1',
    server_url: 'https://github.example',
    api_url: opts.githubApiUrl,
    workspace: REPO,
    workflow,
    job: opts.jobId,
    event_path: eventPath,
    event: opts.eventName === 'workflow_dispatch' ? { inputs: opts.inputs ?? {}, ref: 'refs/heads/main' } : {},
  };
}

/** The environment every step's process starts with, as the runner sets it. */
function runnerEnv(github: Record<string, Json>, dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_EVENT_PATH: String(github.event_path),
    GITHUB_EVENT_NAME: String(github.event_name),
    GITHUB_SHA: SHA,
    GITHUB_REF: String(github.ref),
    GITHUB_REPOSITORY: String(github.repository),
    GITHUB_REPOSITORY_OWNER: String(github.repository_owner),
    GITHUB_ACTOR: String(github.actor),
    GITHUB_RUN_ID: String(github.run_id),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: String(github.server_url),
    GITHUB_API_URL: String(github.api_url),
    GITHUB_WORKSPACE: REPO,
    GITHUB_WORKFLOW: String(github.workflow),
    GITHUB_JOB: String(github.job),
    RUNNER_TEMP: dir,
    RUNNER_OS: 'Linux',
  };
}

const stepStatus = (failed: boolean, cancelled: boolean): Status => ({
  success: !failed && !cancelled,
  failure: failed,
  cancelled,
});

/** Runs one job (one leg of a matrix job) to its end: its `if:` is the caller's (see runWorkflow), unless `needs` is absent. */
export async function runJob(wf: Parsed, opts: RunOptions): Promise<JobRun> {
  const startedAt = Date.now();
  const dir = mkdtempSync(join(work(), `${opts.jobId}-`));
  const store = opts.artifacts ?? join(dir, 'artifacts');
  const eventPath = join(dir, 'event.json');
  writeFileSync(
    eventPath,
    JSON.stringify({
      ref: 'refs/heads/main',
      after: SHA,
      inputs: opts.inputs ?? {},
      repository: { full_name: 'acme/shop', name: 'shop', owner: { login: 'acme' } },
    }),
  );
  const github = githubContext(opts, eventPath, workflowName(wf));
  const ctx: Contexts = {
    github,
    vars: opts.vars,
    secrets: opts.secrets,
    inputs: opts.inputs ?? {},
    needs: (opts.needs ?? {}) as unknown as Json,
    matrix: opts.matrix ?? {},
    strategy: opts.strategy ?? {},
    env: {},
    steps: {},
    job: { status: 'success' },
    runner: { temp: dir, os: 'Linux', arch: 'X64' },
  };
  const job = templateJob(wf, opts.jobId);
  const base = { matrix: opts.matrix ?? {}, strategy: opts.strategy ?? {}, startedAt };
  // Called on its own (no needs given), the job decides its own `if:`, with every need green.
  if (!opts.needs && !truthy(evaluate(job.if.expression, ctx)))
    return { result: 'skipped', steps: {}, outputs: {}, ...base, endedAt: Date.now() };

  const workflowEnv: Record<string, string> = {};
  for (const [k, v] of mapping(wf.template.env)) workflowEnv[k] = valueOf(v, ctx);
  ctx.env = { ...workflowEnv };
  const jobEnv: Record<string, string> = { ...workflowEnv };
  for (const [k, v] of mapping(job.env)) jobEnv[k] = valueOf(v, ctx);
  ctx.env = { ...jobEnv };
  const fileEnv: Record<string, string> = {}; // what steps wrote to GITHUB_ENV

  const raw = rawSteps(wf.root, opts.jobId);
  const steps: Record<string, StepRun> = {};
  const stepsCtx: Record<string, Json> = {};
  let failed = false;
  let cancelled = opts.cancel?.aborted ?? false;
  let failedBeforeCancel = false;
  const onCancel = () => {
    if (!cancelled) failedBeforeCancel = failed;
    cancelled = true;
  };
  opts.cancel?.addEventListener('abort', onCancel);
  try {
    for (const [i, step] of job.steps.entries()) {
      const record: StepRun = {
        id: step.id,
        outcome: 'skipped',
        conclusion: 'skipped',
        outputs: {},
        inputs: {},
        stdout: '',
        startedAt: 0,
        endedAt: 0,
        signals: [],
      };
      steps[step.id] = record;
      const rawStep = raw[i];
      const condition = 'if' in step && step.if ? step.if.expression : 'success()';
      ctx.env = { ...jobEnv, ...fileEnv };
      if (truthy(evaluate(condition, ctx, stepStatus(failed, cancelled)))) {
        const stepEnv: Record<string, string> = { ...jobEnv, ...fileEnv };
        for (const [k, v] of mapping(rawStep.get('env'))) stepEnv[k] = valueOf(v, { ...ctx, env: stepEnv });
        ctx.env = stepEnv;
        record.startedAt = Date.now();
        const result = await runStep(step, rawStep, { ctx, dir, store, github, stepEnv, fileEnv, opts });
        record.endedAt = Date.now();
        Object.assign(record, result);
        record.conclusion = record.outcome;
        const continueOnError = rawStep.get('continue-on-error');
        if (
          record.outcome === 'failure' &&
          continueOnError &&
          truthy(
            evaluate(
              isBasicExpression(continueOnError) ? continueOnError.expression : String(jsonOf(continueOnError, ctx)),
              ctx,
            ),
          )
        ) {
          record.conclusion = 'success';
        }
        if (record.conclusion === 'failure') failed = true;
        if (record.outcome === 'cancelled') onCancel();
      }
      stepsCtx[step.id] = { outputs: record.outputs, outcome: record.outcome, conclusion: record.conclusion };
      ctx.steps = stepsCtx;
      ctx.job = { status: cancelled ? 'cancelled' : failed ? 'failure' : 'success' };
    }
  } finally {
    opts.cancel?.removeEventListener('abort', onCancel);
  }
  ctx.env = { ...jobEnv, ...fileEnv };
  const outputs: Record<string, string> = {};
  for (const [k, v] of mapping(job.outputs)) outputs[k] = valueOf(v, ctx);
  const result = cancelled && !failedBeforeCancel ? 'cancelled' : failed ? 'failure' : 'success';
  return { result, steps, outputs, ...base, endedAt: Date.now() };
}

interface StepScope {
  ctx: Contexts;
  dir: string;
  store: string;
  github: Record<string, Json>;
  stepEnv: Record<string, string>;
  fileEnv: Record<string, string>;
  opts: RunOptions;
}

async function runStep(
  step: Job['steps'][number],
  rawStep: Map<string, TemplateToken>,
  s: StepScope,
): Promise<Partial<StepRun>> {
  const { ctx, dir, opts } = s;
  const given = mapping(rawStep.get('with'));
  const output = join(dir, `${step.id}.output`);
  const envFile = join(dir, `${step.id}.env`);
  const summary = join(dir, `${step.id}.summary`);
  writeFileSync(output, '');
  writeFileSync(envFile, '');
  writeFileSync(summary, '');
  const env: NodeJS.ProcessEnv = {
    ...runnerEnv(s.github, dir),
    GITHUB_OUTPUT: output,
    GITHUB_ENV: envFile,
    GITHUB_STEP_SUMMARY: summary,
    ...s.stepEnv,
  };
  const finish = (r: ProcessRun): Partial<StepRun> => {
    Object.assign(s.fileEnv, readOutputFile(readFileSync(envFile, 'utf8')));
    return {
      stdout: r.stdout,
      signals: r.signals,
      outputs: readOutputFile(readFileSync(output, 'utf8')),
      outcome: r.cancelled ? 'cancelled' : r.code === 0 ? 'success' : 'failure',
    };
  };

  if ('uses' in step) {
    const uses = step.uses.value;
    const local = /^\.\/actions\/([a-z-]+)$/.exec(uses);
    if (local) {
      const name = local[1];
      const declared = actionInputs(name);
      for (const key of given.keys()) expect(Object.keys(declared)).toContain(key); // the runner warns on unknown inputs
      const inputs: Record<string, string> = {};
      for (const [key, decl] of Object.entries(declared)) {
        const token = given.get(key);
        inputs[key] = token ? valueOf(token, ctx) : interpolate(decl.default ?? '', ctx);
      }
      for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
      const main = (
        parseYaml(readFileSync(join(REPO, 'actions', name, 'action.yml'), 'utf8')) as { runs: { main: string } }
      ).runs.main;
      return {
        inputs,
        ...finish(await runProcess(node, [join(REPO, 'actions', name, main)], { env, signal: opts.cancel })),
      };
    }
    const artifactAction = /^actions\/(upload|download)-artifact@v\d+$/.exec(uses);
    if (artifactAction) {
      const names = artifactAction[1] === 'upload' ? UPLOAD_INPUTS : DOWNLOAD_INPUTS;
      for (const key of given.keys()) expect(names).toContain(key);
      const inputs = Object.fromEntries([...given].map(([k, v]) => [k, valueOf(v, ctx)]));
      return {
        inputs,
        ...(artifactAction[1] === 'upload' ? uploadArtifact(s.store, inputs) : downloadArtifact(s.store, inputs)),
      };
    }
    // actions/checkout, actions/setup-node: see the top comment.
    expect(uses).toMatch(/^actions\/(checkout|setup-node)@v\d+$/);
    return { outcome: 'success' };
  }
  if ('run' in step) {
    const script = valueOf(step.run, ctx);
    const substitute = opts.runSubstitutes[step.id];
    if (substitute) {
      const outputs = typeof substitute === 'function' ? substitute({ env: s.stepEnv, runnerTemp: dir }) : substitute;
      for (const name of Object.keys(outputs))
        expect(script).toMatch(new RegExp(`echo "${name}=.*>> "\\$GITHUB_OUTPUT"`));
      return { outputs: { ...outputs }, outcome: 'success' };
    }
    const shell = rawStep.get('shell') ? valueOf(rawStep.get('shell')!, ctx) : '';
    const file = join(dir, `${step.id || 'run'}.sh`);
    writeFileSync(file, script);
    // The runner's shells: unset is `bash -e {0}`; `bash` adds --noprofile --norc and pipefail.
    const [command, args] =
      shell === ''
        ? ['bash', ['-e', file]]
        : shell === 'bash'
          ? ['bash', ['--noprofile', '--norc', '-eo', 'pipefail', file]]
          : shell === 'sh'
            ? ['sh', ['-e', file]]
            : [];
    if (!command) throw new Error(`shell '${shell}' is not emulated`);
    const cwd = rawStep.get('working-directory') ? join(REPO, valueOf(rawStep.get('working-directory')!, ctx)) : REPO;
    return finish(await runProcess(command, args as string[], { env, cwd, signal: opts.cancel }));
  }
  throw new Error(`step '${step.id}' is neither uses: nor run:`);
}

// ---------------------------------------------------------------------------------------------------
// Running a whole workflow: jobs in `needs` order, matrix legs side by side, fail-fast.

export interface WorkflowJobRun {
  result: JobResult;
  /** The job's outputs (a matrix job's: merged over its legs in the order they finished). */
  outputs: Record<string, string>;
  /** One per matrix leg, in matrix order ([] when the job was skipped). */
  legs: JobRun[];
}

export interface WorkflowOptions {
  vars: Record<string, string>;
  secrets: Record<string, string>;
  inputs?: Record<string, string>;
  eventName?: string;
  runSubstitutes: Record<string, RunSubstitute>;
  githubApiUrl: string;
}

export async function runWorkflow(wf: Parsed, opts: WorkflowOptions): Promise<Record<string, WorkflowJobRun>> {
  const artifacts = mkdtempSync(join(work(), 'artifacts-'));
  const done = new Map<string, Promise<WorkflowJobRun>>();
  const jobs = wf.template.jobs.filter((j): j is Job => j.type === 'job');
  const start = (job: Job): Promise<WorkflowJobRun> => {
    const id = job.id.value;
    if (!done.has(id)) done.set(id, runWorkflowJob(job));
    return done.get(id)!;
  };
  const runWorkflowJob = async (job: Job): Promise<WorkflowJobRun> => {
    const needIds = (job.needs ?? []).map((n) => n.value);
    const needs: Record<string, NeedResult> = {};
    for (const n of needIds) {
      const r = await start(jobs.find((j) => j.id.value === n)!);
      needs[n] = { result: r.result, outputs: r.outputs };
    }
    const base = {
      github: githubContext({ ...opts, jobId: job.id.value }, '', workflowName(wf)),
      vars: opts.vars,
      inputs: opts.inputs ?? {},
      needs: needs as unknown as Json,
    };
    if (!truthy(evaluate(job.if.expression, base, jobStatus(needs))))
      return { result: 'skipped', outputs: {}, legs: [] };
    const strategy = (job.strategy ? jsonOf(job.strategy, base) : {}) as Record<string, Json>;
    const combos = expandMatrix(strategy.matrix);
    const failFast = strategy['fail-fast'] !== false;
    const maxParallel = typeof strategy['max-parallel'] === 'number' ? strategy['max-parallel'] : combos.length;
    const controllers = combos.map(() => new AbortController());
    const legs: JobRun[] = new Array(combos.length);
    const finished: JobRun[] = [];
    let next = 0;
    const worker = async () => {
      while (next < combos.length) {
        const i = next++;
        const strategyCtx = {
          'fail-fast': failFast,
          'job-index': i,
          'job-total': combos.length,
          'max-parallel': maxParallel,
        };
        const leg = controllers[i].signal.aborted
          ? {
              result: 'cancelled' as const,
              steps: {},
              outputs: {},
              matrix: combos[i],
              strategy: strategyCtx,
              startedAt: Date.now(),
              endedAt: Date.now(),
            } // queued when the others were cancelled
          : await runJob(wf, {
              ...opts,
              jobId: job.id.value,
              needs,
              matrix: combos[i],
              strategy: strategyCtx,
              cancel: controllers[i].signal,
              artifacts,
            });
        legs[i] = leg;
        finished.push(leg);
        // fail-fast: GitHub cancels every in-progress and queued leg once one fails.
        if (leg.result === 'failure' && failFast) controllers.forEach((c, j) => j !== i && c.abort());
      }
    };
    await Promise.all(Array.from({ length: Math.min(maxParallel, combos.length) }, worker));
    const outputs: Record<string, string> = {};
    for (const leg of finished) for (const [k, v] of Object.entries(leg.outputs)) if (v !== '') outputs[k] = v;
    return { result: matrixResult(legs.map((l) => l.result)), outputs, legs };
  };
  const results = await Promise.all(jobs.map(start));
  return Object.fromEntries(jobs.map((j, i) => [j.id.value, results[i]]));
}

// ---------------------------------------------------------------------------------------------------
// The shop the sample workflows watch.

/** Stops what a workflow test started around its fleet: the shop endpoints, Prometheus, the GitHub stand-in, the fleet. */
export async function stopShopWorld(world: {
  apps: Server[];
  prometheus?: { close(): Promise<unknown> };
  gh?: { close(): Promise<unknown> };
  fleet?: { stop(): Promise<unknown> };
}): Promise<void> {
  await Promise.all(world.apps.map((s) => new Promise((r) => s.close(r))));
  await world.prometheus?.close();
  await world.gh?.close();
  await world.fleet?.stop();
}

export interface ShopEndpointOptions {
  /** Revenue rate of host i now, in cents a minute (it may depend on the release the host runs). */
  centsPerMinute: (i: number) => number;
  /** What /health answers on host i now. */
  health: (i: number) => { status: number; body: string };
}

/**
 * One shop endpoint per host, on the host's own address and `port`: /health as `health` says, anything
 * else Prometheus text with a revenue counter growing at `centsPerMinute` (exact at each scrape) and 40
 * active sessions.
 */
export async function startShopEndpoints(
  hosts: readonly { host: string }[],
  port: number,
  opts: ShopEndpointOptions,
): Promise<Server[]> {
  return Promise.all(
    hosts.map(async (h, i) => {
      let cents = 0;
      let last = Date.now();
      const server = createServer((req, res) => {
        const now = Date.now();
        cents += (opts.centsPerMinute(i) * (now - last)) / 60_000;
        last = now;
        if (req.url?.startsWith('/health')) {
          const { status, body } = opts.health(i);
          res.writeHead(status).end(body);
          return;
        }
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
          .end(
            `# TYPE shop_revenue_cents_total counter\nshop_revenue_cents_total ${cents}\n# TYPE shop_sessions_active gauge\nshop_sessions_active 40\n`,
          );
      });
      await new Promise<void>((resolve) => server.listen(port, h.host, resolve));
      return server;
    }),
  );
}

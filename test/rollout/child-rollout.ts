// The real ssh-rollout entry as a child process (inputs in INPUT_* variables, outputs to GITHUB_OUTPUT,
// as the runner runs it), for tests that kill the runner; and an in-process rollout that also captures
// the job summary. Both use only the action's public surface: inputs, outputs, log text, summary.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { sshRollout } from '../../src/rollout/main.js';
import { killOnExit } from '../servers/child-processes.js';
import type { Fleet } from '../servers/fleet.js';
import { connector, type RolloutRun } from './helpers.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROLLOUT_ENTRY = join(REPO, 'src', 'actions', 'ssh-rollout', 'index.ts');

/** The run URL readContext builds for a run id in acme/shop (what the lock and the deploy log name). */
export const runUrl = (runId: number | string, repository = 'acme/shop'): string =>
  `https://github.com/${repository}/actions/runs/${runId}`;

/** The GitHub context of a run of acme/shop, as the runner sets it. */
export function runEnv(runId: number | string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_RUN_ID: String(runId),
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    ...extra,
  };
}

export interface ChildRollout {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** What the entry wrote to GITHUB_OUTPUT so far. */
  outputs: () => Record<string, string>;
  running: () => boolean;
}

/** Reads `name<<delimiter\nvalue\ndelimiter` entries as @actions/core writes them. */
export function parseGithubOutput(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const m of text.matchAll(re)) out[m[1]] = m[3];
  return out;
}

/**
 * Starts `src/actions/ssh-rollout/index.ts` under `node --import tsx` with the fleet's usual inputs
 * (hosts, key, known hosts, deploy path /srv/app) plus `inputs`, and `env` added to the environment.
 */
export function startChildRollout(
  fleet: Fleet,
  tmp: string,
  inputs: Record<string, string>,
  env: NodeJS.ProcessEnv = {},
): ChildRollout {
  const outputFile = join(tmp, `github_output_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`);
  writeFileSync(outputFile, '');
  const all: Record<string, string> = {
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    ...inputs,
  };
  const childEnv: NodeJS.ProcessEnv = { ...process.env, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: tmp, ...env };
  // A plain Node process: no jest VM flags, no job summary or API of the outer run.
  delete childEnv.NODE_OPTIONS;
  delete childEnv.GITHUB_STEP_SUMMARY;
  if (!env.GITHUB_API_URL) delete childEnv.GITHUB_API_URL;
  for (const [name, value] of Object.entries(all)) childEnv[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  const child = spawn(process.execPath, ['--import', 'tsx', ROLLOUT_ENTRY], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    outputs: () => parseGithubOutput(readFileSync(outputFile, 'utf8')),
    running: () => child.exitCode === null && child.signalCode === null,
  };
}

/** SIGKILL (a lost runner: no handler runs, nothing is cleaned up) and wait until the process is gone. */
export async function killHard(c: ChildRollout): Promise<void> {
  if (c.running()) c.child.kill('SIGKILL');
  await c.exited;
}

export type SummaryRun = RolloutRun & { summary: string };

/** Like runRollout, but also captures the job summary; `signal` bounds a rollout that might hang. */
export async function runRolloutWithSummary(
  fleet: Fleet,
  inputs: Record<string, string | undefined>,
  opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {},
): Promise<SummaryRun> {
  const logger = new MemoryLogger();
  let summary = '';
  const result = await sshRollout(
    objectInputs({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      ...inputs,
    }),
    {
      connector,
      logger,
      mask: () => {},
      env: { RUNNER_TEMP: process.env.RUNNER_TEMP ?? '/tmp', ...opts.env },
      signal: opts.signal,
      writeSummary: async (md) => void (summary += md),
    },
  );
  return {
    outputs: result.outputs,
    failure: result.failure,
    report: JSON.parse(readFileSync(result.outputs.report, 'utf8')),
    log: logger.text(),
    summary,
  };
}

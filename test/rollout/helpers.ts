// Helpers for the ssh-rollout integration tests: artifacts on disk, a rollout call with the usual
// inputs for a fleet, and what a host shows (its `current` link, its deploy log).
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import { sshRollout } from '../../src/rollout/main.js';
import type { RolloutOutputs } from '../../src/rollout/outputs.js';
import type { RolloutReport } from '../../src/rollout/record.js';
import { createConnector } from '../../src/ssh/connector.js';
import type { Fleet } from '../servers/fleet.js';

/** A short retry delay so a dead host is given up on quickly. */
export const connector = createConnector({ retryDelayMs: 50 });

/** An artifact directory holding `version` (the release) and whatever else is given. */
export function makeArtifact(base: string, release: string, files: Record<string, string> = {}): string {
  const dir = join(base, `artifact-${release}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'version'), `${release}\n`);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export interface RolloutRun {
  outputs: RolloutOutputs & { report: string };
  failure?: string;
  report: RolloutReport;
  log: string;
}

/** Runs ssh-rollout against the fleet with `/srv/app` as deploy path; `inputs` override or add inputs. */
export async function runRollout(
  fleet: Fleet,
  inputs: Record<string, string | undefined>,
  opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal; logger?: MemoryLogger } = {},
): Promise<RolloutRun> {
  const logger = opts.logger ?? new MemoryLogger();
  const source = objectInputs({
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    ...inputs,
  });
  const result = await sshRollout(source, {
    connector,
    logger,
    mask: () => {},
    env: opts.env ?? { RUNNER_TEMP: process.env.RUNNER_TEMP ?? '/tmp' },
    signal: opts.signal,
  });
  const outputs = result.outputs;
  return {
    outputs,
    failure: result.failure,
    report: JSON.parse(readFileSync(outputs.report, 'utf8')) as RolloutReport,
    log: logger.text(),
  };
}

/** The release host i's `current` points at ('' when there is no `current`). */
export function currentOf(fleet: Fleet, i: number, deployPath = '/srv/app'): string {
  const link = fleet.path(i, `${deployPath}/current`);
  try {
    return readlinkSync(link).replace(/^releases\//, '');
  } catch {
    return '';
  }
}

export function currents(fleet: Fleet): string[] {
  return fleet.hosts.map((_, i) => currentOf(fleet, i));
}

export function releasesOf(fleet: Fleet, i: number): string[] {
  const dir = fleet.path(i, '/srv/app/releases');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => !n.startsWith('.'))
        .sort()
    : [];
}

export function deployLog(fleet: Fleet, i: number): DeployLogEntry[] {
  const file = fleet.path(i, '/srv/app/.fivestep/deploy.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as DeployLogEntry);
}

export function lockHeld(fleet: Fleet, i: number): boolean {
  return existsSync(fleet.path(i, '/srv/app/.fivestep/lock'));
}

export async function waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The message of the InputError a rollout with these inputs stops with, before any host is touched (fails the test if it runs). */
export async function rolloutInputError(fleet: Fleet, inputs: Record<string, string>): Promise<string> {
  const err = await runRollout(fleet, inputs).then(
    () => undefined,
    (e: Error) => e,
  );
  if (err?.name !== 'InputError')
    throw new Error(`expected an input error, got ${err ? err.message : 'a rollout that ran'}`);
  return err.message;
}

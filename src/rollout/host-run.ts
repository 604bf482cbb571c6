// One host's part in a rollout: its step run (engine/steps.ts), its record in the report, and what
// preflight learnt of it (its release, the ledger's word on it, where a failed rollout puts it back).
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import type { ReleaseHost } from '../engine/host.js';
import { HostLock, type LockRequest } from '../engine/lock.js';
import { planRollout, type FoundHost, type RolloutPlan } from '../engine/plan.js';
import {
  adoptId,
  commandsNeeded,
  preflightFindings,
  stateChecks,
  type PreflightFindings,
} from '../engine/preflight.js';
import { runSteps } from '../engine/steps.js';
import { STAGED_HOW, type LedgerLine, type StepRun, type StepSettings } from '../engine/step-input.js';
import type { StepName } from '../engine/step-record.js';
import type { DeployLogEntry } from '../release/commands.js';
import type { HostState } from '../release/state-command.js';
import type { HealthCheck } from '../release/health.js';
import { neverHealthy, planPrune, readLedger, revertTarget, type Ledger } from '../release/ledger.js';
import { deltaTar, stagingOf } from '../artifact/prepare.js';
import type { ManifestEntry } from '../release/delta.js';
import type { HostRecord, UnhealthyAtStart } from './record.js';
import type { Progress } from './progress.js';
import type { RolloutSettings } from './settings.js';

export interface HostRun extends StepRun {
  lock: HostLock;
  record: HostRecord;
  ledgerState?: Ledger;
  /** Where this host goes back to if the rollout fails. */
  revertTo: string;
  /** The release is unpacked here (by this run or an earlier one). */
  staged: boolean;
  /** The ledger already records how this rollout ended here (a put-back wrote `failed`). */
  closed: boolean;
  /** Why this host is put back (its ledger line says it). */
  backReason: string;
}

/** What every host of a rollout shares. */
export interface RunShared {
  settings: RolloutSettings;
  artifact: PreparedArtifact;
  stepSettings: StepSettings;
  runUrl: string;
  token: string;
  log: Logger;
  /** The health check, when one is configured. */
  health?: HealthCheck;
  now: () => number;
  stopped: () => boolean;
  deltaTars: Map<string, Promise<Buffer>>;
  /** How long a put-back waits for a host whose connection was lost (a restarted sshd) to answer again. */
  reconnectWithinMs: number;
}

/** The tar of a delta's files, packed once for every host that lacks the same files. */
function packDelta(shared: RunShared, files: ManifestEntry[]): Promise<Buffer> {
  const key = files.map((f) => f.path).join('\0');
  let tar = shared.deltaTars.get(key);
  if (!tar) {
    tar = deltaTar(shared.artifact.delta!, files);
    shared.deltaTars.set(key, tar);
  }
  return tar;
}

/** The steps' settings of a rollout, as its commands need them, with what preflight asks every host. */
export function stepSettingsOf(s: RolloutSettings, artifact: PreparedArtifact): StepSettings {
  const { ssh } = s;
  return {
    deployPath: ssh.deployPath,
    sharedPaths: s.sharedPaths,
    setupCommand: s.setupCommand,
    reloadCommand: ssh.reloadCommand,
    healthCommand: ssh.healthCommand,
    healthUrl: ssh.healthUrl,
    healthExpect: ssh.healthExpect,
    healthTimeoutMs: ssh.healthTimeoutMs,
    keepReleases: s.keepReleases,
    loadBalancer: s.loadBalancer ?? null,
    checks: stateChecks(s.sharedPaths, stagingOf(artifact)),
  };
}

/** A rollout's ledger line for one host. */
export function rolloutEntry(
  shared: RunShared,
  previous: string,
  result: 'staged' | 'switched' | 'healthy' | 'failed',
  reason?: string,
): DeployLogEntry {
  return {
    time: new Date(shared.now()).toISOString(),
    action: 'rollout',
    release: shared.settings.releaseId,
    previous,
    run: shared.runUrl,
    result,
    ...(reason ? { reason: reason.slice(0, 1000) } : {}),
  };
}

function ledgerLines(shared: RunShared, run: HostRun, line: LedgerLine): DeployLogEntry[] {
  const previous = run.record.previous;
  switch (line) {
    case 'staged':
    case 'switched':
      return [rolloutEntry(shared, previous, line)];
    case 'back':
      return [rolloutEntry(shared, previous, 'failed', run.backReason)];
    case 'record':
      return [rolloutEntry(shared, previous, 'healthy')];
    case 'adopt': {
      const id = run.input.adoptId;
      const time = new Date(shared.now()).toISOString();
      const reason = 'adopt-current: the directory current was';
      return [{ time, action: 'adopt', release: id, previous: '', run: shared.runUrl, result: 'healthy', reason }];
    }
    case 'bad':
      return [];
  }
}

export function newHostRun(host: ReleaseHost, shared: RunShared): HostRun {
  const run: HostRun = {
    host,
    lock: new HostLock(host),
    log: shared.log,
    health: shared.health,
    stopped: shared.stopped,
    reconnectWithinMs: shared.reconnectWithinMs,
    packDelta: (files) => packDelta(shared, files),
    sentBytes: 0,
    switched: false,
    record: { host: host.id, wave: 0, previous: '', outcome: 'pending', uploaded: false, steps: host.steps },
    revertTo: '',
    staged: false,
    closed: false,
    backReason: '',
    input: {
      settings: shared.stepSettings,
      artifact: shared.artifact,
      release: shared.settings.releaseId,
      previous: '',
      target: '',
      ledger: (line) => ledgerLines(shared, run, line),
      prune: null,
      badMarker: '',
      runUrl: shared.runUrl,
      token: shared.token,
      adoptId: '',
      delta: null,
    },
  };
  return run;
}

/** This release is on the host already, with the same content. */
export function alreadyStaged(state: HostState, shared: Pick<RunShared, 'artifact' | 'settings'>): boolean {
  return state.checksum === shared.artifact.identity && state.releases.some((x) => x.id === shared.settings.releaseId);
}

/** The host's preflight findings: warnings logged, problems thrown (the host fails its preflight). */
export function examine(run: HostRun, state: HostState, shared: RunShared): PreflightFindings {
  const a = shared.artifact;
  const s = shared.settings;
  // A host that gets the whole artifact needs room for it and its files; a delta is checked when its size is known.
  const whole = !a.url && !alreadyStaged(state, shared) && !(a.delta && state.current);
  const findings = preflightFindings(state, {
    host: run.host.spec,
    deployPath: s.ssh.deployPath,
    shared: s.sharedPaths,
    tree: a.tree,
    adoptCurrent: s.adoptCurrent,
    needBytes: whole && a.unpacked ? a.bytes + a.unpacked.bytes : undefined,
    ...commandsNeeded(stagingOf(a)),
  });
  for (const w of findings.warnings) shared.log.warning(w);
  if (findings.problems.length > 0) throw new Error(findings.problems.join('; '));
  return findings;
}

/** What preflight learnt about a host: its release, the ledger's word on it, where a revert goes. */
export function learn(run: HostRun, state: HostState, shared: RunShared): UnhealthyAtStart | null {
  run.state = state;
  run.ledgerState = readLedger(state.log, state.bad);
  run.record.previous = state.current;
  run.revertTo = revertTarget(state, run.ledgerState, shared.settings.releaseId);
  run.input = { ...run.input, previous: state.current, target: run.revertTo };
  const status = run.ledgerState.status(state.current);
  if (!state.current || !neverHealthy(status)) return null;
  shared.log.warning(
    `${run.host.id}: on ${state.current}, which never became healthy (last recorded: ${status}; a rollout ` +
      `that died midway or failed)` +
      `; if this rollout fails it goes back to ${run.revertTo || '(no release)'}`,
  );
  return { host: run.host.id, release: state.current, status, revertTo: run.revertTo };
}

/** The plan, from the settings and what preflight found on each host (before preflight: from the settings alone). */
export function planOf(runs: readonly HostRun[], shared: RunShared, canWatch: boolean): RolloutPlan {
  const s = shared.settings;
  const found = new Map<string, FoundHost>();
  for (const r of runs) {
    if (r.state) found.set(r.host.id, { uploaded: alreadyStaged(r.state, shared), current: r.state.current !== '' });
  }
  const a = shared.artifact;
  return planRollout(
    runs.map((r) => r.host.id),
    {
      release: s.releaseId,
      waves: s.waves,
      maxFailures: s.maxFailures,
      maxParallel: s.ssh.maxParallel,
      sharedPaths: s.sharedPaths.length > 0,
      setup: s.setupCommand !== '',
      reload: s.ssh.reloadCommand !== '',
      health: s.ssh.healthCommand !== '' || s.ssh.healthUrl !== '',
      drain: s.loadBalancer?.drain ?? false,
      canary: (s.loadBalancer?.canaryShare ?? null) !== null,
      waveWaitMs: s.waveWaitMs,
      watch: s.watch !== null && canWatch,
      staging: a.url ? 'url' : a.delta ? 'delta' : 'full',
    },
    found,
  );
}

/**
 * Connect (verifying the host key), take the lock (with `lock`; not in a dry run), read the state and
 * ledger and check the host (deploy:check); nothing changes yet, but for adopt-current moving a
 * hand-deployed `current` in. Returns the host when it is on a release that never became healthy.
 */
export async function preflight(
  run: HostRun,
  steps: readonly StepName[],
  shared: RunShared,
  lock: LockRequest | null,
  progress: Progress,
): Promise<UnhealthyAtStart | null> {
  const { host } = run;
  run.lockRequest = lock ?? undefined;
  await runSteps(steps, run);
  const adopt = examine(run, run.state!, shared).adopt;
  const id = adoptId(new Date(shared.now()));
  if (adopt && lock) {
    run.input = { ...run.input, adoptId: id };
    await runSteps(['adopt', 'state'], run);
    shared.log.warning(
      `${host.id}: current was a directory: moved to releases/${id} and recorded healthy (adopt-current); ` +
        'a failed rollout goes back to it',
    );
  }
  const unhealthy = learn(run, run.state!, shared);
  const current = run.record.previous || '(none)';
  if (lock) {
    progress.host(`${host.id}: connected, locked, checked, current release ${current}`);
  } else {
    const adoptNote = adopt ? `; current is a directory: adopt-current would move it to releases/${id}` : '';
    shared.log.info(`${host.id}: host key verified, checks passed, current release ${current}${adoptNote}`);
  }
  return unhealthy;
}

/** The plan's stage steps for one host: fetch (whole, delta, download or none), unpack, link, setup. */
export async function stageHost(run: HostRun, plan: RolloutPlan, progress: Progress): Promise<void> {
  const { host, record } = run;
  try {
    await runSteps(plan.stage[host.id], run);
  } finally {
    record.sentBytes = run.sentBytes;
    run.staged = host.steps.some((s) => s.name === 'unpack' && s.ok);
    if (run.staged) {
      record.staging = run.staging;
      record.uploaded = run.sentBytes > 0;
    }
  }
  const sent = record.sentBytes ? `, ${record.sentBytes} bytes sent` : '';
  progress.host(`${host.id}: staged (${STAGED_HOW[record.staging!]}${sent})`);
}

/**
 * The rollout succeeded here: the plan's finish steps (`healthy` in the ledger and the prune, in one
 * command). Returns what went wrong ('' when nothing did): a failed record is an error of the run, not of the host.
 */
export async function finishHost(run: HostRun, shared: RunShared, plan: RolloutPlan): Promise<string> {
  const s = shared.settings;
  const state = { ...run.state!, current: s.releaseId };
  if (!state.releases.some((r) => r.id === s.releaseId)) {
    state.releases = [...state.releases, { id: s.releaseId, mtime: Number.MAX_SAFE_INTEGER }];
  }
  const healthy = run.input.ledger('record');
  const ledger = readLedger([...state.log, ...healthy], state.bad);
  const prune = planPrune(state, ledger, s.keepReleases, [run.record.previous]);
  try {
    await run.lock.releaseWith((unlock) => {
      run.input = { ...run.input, prune, unlock };
      return runSteps(plan.finish, run);
    });
    run.input = { ...run.input, unlock: false };
    if (prune.length > 0) shared.log.info(`${run.host.id}: pruned ${prune.join(', ')}`);
    return '';
  } catch (err) {
    shared.log.warning(`${run.host.id}: could not record or prune: ${errorMessage(err)}`);
    return `${run.host.id}: record/prune: ${errorMessage(err)}`;
  }
}

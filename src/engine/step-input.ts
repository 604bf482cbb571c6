// What the step table (steps.ts) is built from and fills in: the input a step's command is built
// from (real values in a run, placeholders in the dry run), and one host's run as its steps go.
import type { Logger } from '../common/logger.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import type { RolloutLbSettings } from '../lb/index.js';
import type { DeployLogEntry } from '../release/commands.js';
import type { HostState, StateChecks } from '../release/state-command.js';
import type { ManifestEntry } from '../release/delta.js';
import type { HealthCheck } from '../release/health.js';
import type { SharedPath } from '../release/layout.js';
import type { Balancer } from './balancer.js';
import type { ReleaseHost } from './host.js';
import type { HostLock, LockRequest } from './lock.js';
import type { StepName } from './step-record.js';

/**
 * How the release reached a host: the whole artifact, only the files it lacked, downloaded by the host itself, or
 * already there.
 */
export type Staging = 'full' | 'delta' | 'url' | 'cached';

/** How the release reached a host, as the log says it. */
export const STAGED_HOW: Record<Staging, string> = {
  full: 'whole artifact',
  delta: 'delta',
  url: 'downloaded by the host',
  cached: 'already there',
};

/** What the steps of one run share: its settings, as the commands need them. */
export interface StepSettings {
  deployPath: string;
  sharedPaths: readonly SharedPath[];
  setupCommand: string;
  reloadCommand: string;
  healthCommand: string;
  healthUrl: string;
  healthExpect: string;
  healthTimeoutMs: number;
  keepReleases: number;
  loadBalancer: RolloutLbSettings | null;
  /** What preflight asks every host besides its state (undefined: the state alone). */
  checks?: StateChecks;
}

/** The ledger lines the steps write; the dry run shows them with placeholders. */
export type LedgerLine = 'staged' | 'switched' | 'back' | 'record' | 'bad' | 'adopt';

/** What a step's command is built from: the run passes real values, the dry run placeholders. */
export interface StepInput {
  settings: StepSettings;
  artifact: PreparedArtifact | null;
  /** The release this run puts in place (an auto-revert: the bad release it takes off). */
  release: string;
  /** `current` before this run. */
  previous: string;
  /** Where a put-back goes ('' = no release). */
  target: string;
  /** The ledger lines, by what they record. */
  ledger: (line: LedgerLine) => DeployLogEntry[];
  /** Releases a record removes; null when not known yet (the dry run). */
  prune: readonly string[] | null;
  /** The bad marker's text (mark-bad). */
  badMarker: string;
  /** The run's URL (the lock's owner) and its lock token. */
  runUrl: string;
  token: string;
  /** adopt-current: the id a hand-deployed `current` directory moves to. */
  adoptId: string;
  /** The record ends with the release of this run's lock (`token`): one command, not two. */
  unlock?: boolean;
  /** A delta build: the bytes its files need (null: the whole artifact is unpacked). */
  delta: { needBytes: number } | null;
}

/** One host's part in a run, filled in as its steps run. */
export interface StepRun {
  host: ReleaseHost;
  input: StepInput;
  log: Logger;
  balancer?: Balancer;
  health?: HealthCheck;
  /** The run has stopped: a drain waiting for another server gives up. */
  stopped: () => boolean;
  /** How long a put-back waits for a lost connection to come back. */
  reconnectWithinMs: number;
  /** This host's lock, and how the run waits for it. */
  lock?: HostLock;
  lockRequest?: LockRequest;
  /**
   * Packs the tar of a delta's files on the runner (the rollout's, so the engine does not pack artifacts;
   * hosts on the same current release share one). Absent where there is no delta (a revert).
   */
  packDelta?: (files: ManifestEntry[]) => Promise<Buffer>;
  state?: HostState;
  staging?: Staging;
  /** Artifact bytes the runner sent this host. */
  sentBytes: number;
  /** `current` points at the release. */
  switched: boolean;
  /** The delta tar to build from, once compare found one worth sending. */
  deltaBuild?: { tar: Buffer; detail: string };
  /** What the health check said. */
  healthDetail?: string;
  /** Why a put-back did not leave the host healthy ('' when it did): a revert's closing ledger line says it. */
  problem?: string;
}

/** `fallback`: the step's `fallback` steps run in its place (a delta the host cannot use: the whole artifact). */
export type StepOutcome = 'done' | 'stopped' | 'fallback';

/** A step that is one remote command: what goes on its stdin, how its record reads, what its output sets. */
export interface PlainCommand {
  stdin?: Buffer;
  describe?: (stdout: string) => string | undefined;
  done?: (stdout: string) => void;
}

export interface StepDef {
  /** The remote command, as run and as the dry run prints it ('' when the step runs on the runner or the balancer). */
  command: (i: StepInput) => string;
  /** What the dry run says besides the command: what goes on stdin, or what runs elsewhere. */
  note?: (i: StepInput) => string;
  run: (r: StepRun) => Promise<StepOutcome>;
  /**
   * Set when the step is, for this host now, one plain remote command (its `command`): runSteps may then run it in
   * one command with the plain steps next to it.
   */
  plain?: (r: StepRun) => PlainCommand | undefined;
  /** The steps that run instead when this one answers `fallback`. */
  fallback?: StepName[];
}

/**
 * A step run with no artifact and nothing staged: what auto-revert and the command line's status and unlock walk
 * their steps with. `settings` and `input` fill in what the caller knows (a revert: its commands, ledger and lock).
 */
export function plainStepRun(
  host: ReleaseHost,
  log: Logger,
  o: { settings?: Partial<StepSettings>; input?: Partial<Omit<StepInput, 'settings'>> } & Partial<
    Omit<StepRun, 'input'>
  > = {},
): StepRun {
  const { settings, input, ...run } = o;
  return {
    host,
    log,
    stopped: () => false,
    reconnectWithinMs: 0,
    sentBytes: 0,
    switched: false,
    ...run,
    input: {
      settings: {
        deployPath: host.deployPath,
        sharedPaths: [],
        setupCommand: '',
        reloadCommand: '',
        healthCommand: '',
        healthUrl: '',
        healthExpect: '',
        healthTimeoutMs: 0,
        keepReleases: 0,
        loadBalancer: null,
        ...settings,
      },
      artifact: null,
      release: '',
      previous: '',
      target: '',
      ledger: () => [],
      prune: [],
      badMarker: '',
      runUrl: '',
      token: '',
      adoptId: '',
      delta: null,
      ...input,
    },
  };
}

// The rollout's record: what the sequencer (rollout.ts) fills in and every reader builds from
// (the job summary, outputs, the JSON report file, auto-revert's RCA timeline).
import type { StepName, StepRecord } from '../engine/step-record.js';
import type { HostOutcome } from '../engine/verdict.js';
import type { TrafficSplit } from '../lb/index.js';
import type { LedgerStatus } from '../release/ledger.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import type { RolloutPlan } from '../engine/plan.js';
import type { Staging } from '../engine/step-input.js';

export type { StepName, StepRecord } from '../engine/step-record.js';
export type { HostOutcome } from '../engine/verdict.js';
export type { Staging } from '../engine/step-input.js';

export interface HostRecord {
  host: string;
  wave: number;
  /** `current` before this rollout. */
  previous: string;
  outcome: HostOutcome;
  reason?: string;
  uploaded: boolean;
  /** How the release reached this host: the whole artifact, only the files it lacked, downloaded by the host itself,
   * or already there. */
  staging?: Staging;
  /** Artifact bytes the runner sent this host (manifest and tar of missing files with delta; 0 with artifact-url). */
  sentBytes?: number;
  steps: StepRecord[];
}

export interface WaveRecord {
  index: number;
  hosts: string[];
  start?: number;
  end?: number;
  bake?: { start: number; end: number; verdict?: string; detail?: string };
  /** Share of requests per host on the load balancer: while this wave switched, and during a canary bake. */
  traffic?: TrafficSplit[];
}

/** A host found on a release whose rollout never succeeded (a run that died midway, or failed). */
export interface UnhealthyAtStart {
  host: string;
  release: string;
  /** Its last ledger event. */
  status: LedgerStatus;
  /** Where this rollout puts it back if it fails. */
  revertTo: string;
}

export type RolloutResult = 'success' | 'reverted' | 'failed';

/** Bumped when a key of the report file changes meaning; readers accept what they can read of any version. */
export const ROLLOUT_REPORT_VERSION = 1;

export interface RolloutReport {
  tool: 'fivestep/ssh-rollout';
  version: number;
  release: string;
  deployPath: string;
  dryRun: boolean;
  result: RolloutResult;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** `url` is artifact-url without its query string (it may carry a token); `files` counts the release's regular
   * files. */
  artifact: { file: string; sha256: string; identity?: string; bytes: number; url?: string; files?: number };
  /** Artifact bytes the runner sent, all hosts together. */
  sentBytes?: number;
  plan: {
    waves: string[][];
    maxFailures: number;
    maxParallel: number;
    steps: { stage: Record<string, StepName[]>; switch: StepName[]; finish: StepName[]; revert: StepName[] };
  };
  waves: WaveRecord[];
  hosts: HostRecord[];
  unhealthyAtStart: UnhealthyAtStart[];
  /** Why the rollout stopped early ('' when it did not). */
  stopReason: string;
  /** Behind a balancer: hosts left out of rotation after the run, not being healthy. */
  outOfRotation?: string[];
  errors: string[];
}

/** What the report is built from, at the end of a run. */
export interface RolloutFacts {
  settings: { releaseId: string; dryRun: boolean; ssh: { deployPath: string } };
  artifact: PreparedArtifact;
  plan: RolloutPlan;
  result: RolloutResult;
  started: number;
  finished: number;
  waves: WaveRecord[];
  hosts: HostRecord[];
  unhealthyAtStart: UnhealthyAtStart[];
  stopReason: string;
  errors: string[];
}

export function rolloutReport(f: RolloutFacts): RolloutReport {
  const a = f.artifact;
  const { plan } = f;
  return {
    tool: 'fivestep/ssh-rollout',
    version: ROLLOUT_REPORT_VERSION,
    release: f.settings.releaseId,
    deployPath: f.settings.ssh.deployPath,
    dryRun: f.settings.dryRun,
    result: f.result,
    startedAt: new Date(f.started).toISOString(),
    finishedAt: new Date(f.finished).toISOString(),
    durationMs: f.finished - f.started,
    artifact: {
      file: a.file,
      sha256: a.sha256,
      identity: a.identity,
      bytes: a.bytes,
      ...(a.url ? { url: a.url.redacted } : {}),
      ...(a.delta ? { files: a.delta.entries.length } : {}),
    },
    sentBytes: f.hosts.reduce((sum, h) => sum + (h.sentBytes ?? 0), 0),
    plan: {
      waves: plan.waves.map((w) => w.hosts),
      maxFailures: plan.budget,
      maxParallel: plan.maxParallel,
      steps: { stage: plan.stage, switch: plan.switch, finish: plan.finish, revert: plan.revert },
    },
    waves: f.waves,
    hosts: f.hosts,
    unhealthyAtStart: f.unhealthyAtStart,
    stopReason: f.stopReason,
    errors: f.errors,
  };
}

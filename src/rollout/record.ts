// The rollout report, one module: its tag, its version, the writer's types (what the sequencer fills in and
// every reader builds from: the job summary, outputs, the JSON file, auto-revert's RCA timeline), the builder, and
// the tolerant reader of the file.
import type { StepName, StepRecord } from '../engine/step-record.js';
import type { HostOutcome } from '../engine/verdict.js';
import type { TrafficSplit } from '../lb/index.js';
import type { LedgerStatus } from '../release/ledger.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import type { RolloutPlan } from '../engine/plan.js';
import { NoteList, isJsonObject, readTime, reportTag, shown, text, type JsonObject } from '../common/json-fields.js';
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
  /**
   * How the release reached this host: the whole artifact, only the files it lacked, downloaded by the host itself,
   * or already there.
   */
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
  /**
   * `url` is artifact-url without its query string (it may carry a token); `files` counts the release's regular
   * files.
   */
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
    tool: ROLLOUT_REPORT_TOOL,
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

// The tolerant reader: the file may come from another version, a fork, or a hostile hand. Every field is
// checked; what cannot be read is left out, an entry that is not one skipped with a note.

/** The report file's tag, typed from the report so the two cannot drift apart. */
export const ROLLOUT_REPORT_TOOL: RolloutReport['tool'] = 'fivestep/ssh-rollout';

/** A wave as read: any key that did not hold what the writer writes is left out; times are epoch ms. */
export type WaveRead = Pick<WaveRecord, 'index' | 'hosts' | 'start' | 'end'> & {
  bake?: Partial<NonNullable<WaveRecord['bake']>>;
};

/** A host as read: its outcome as text (a newer writer may have outcomes this one does not know). */
export type HostRead = Pick<HostRecord, 'host' | 'reason'> & { outcome: string };

/** A rollout report as read, whatever its version: text fields '' when absent, times epoch ms. */
export interface RolloutReportRead {
  version?: number;
  release: string;
  result: string;
  startedAt?: number;
  finishedAt?: number;
  waves: WaveRead[];
  hosts: HostRead[];
  stopReason: string;
  /** Waves and hosts that could not be read. */
  notes: string[];
}

/** Tagged `…/ssh-rollout` (a fork may rename the owner), or untagged with waves and hosts lists. */
export function looksLikeRolloutReport(doc: JsonObject): boolean {
  const tag = reportTag(doc);
  if (tag) return tag.endsWith('ssh-rollout');
  return Array.isArray(doc.waves) && Array.isArray(doc.hosts);
}

/** Reads any JSON value as a rollout report (undefined when it is not an object); never throws. */
export function readRolloutReport(doc: unknown): RolloutReportRead | undefined {
  if (!isJsonObject(doc)) return undefined;
  const notes = new NoteList();
  const waves = listOf(doc.waves, 'waves', 'a wave', notes).map((w, i) => readWave(w, i));
  const hosts = listOf(doc.hosts, 'hosts', 'a host', notes).map(readHost);
  const read: RolloutReportRead = {
    release: text(doc.release),
    result: text(doc.result),
    startedAt: readTime(doc.startedAt),
    finishedAt: readTime(doc.finishedAt),
    waves,
    hosts,
    stopReason: text(doc.stopReason),
    notes: notes.list(),
  };
  if (typeof doc.version === 'number' && Number.isFinite(doc.version)) read.version = doc.version;
  return read;
}

/** The objects of a list (none when it is not one); an entry that is not an object is skipped with a note. */
function listOf(x: unknown, key: string, what: string, notes: NoteList): JsonObject[] {
  if (!Array.isArray(x)) return [];
  const out: JsonObject[] = [];
  x.forEach((entry, i) => {
    if (isJsonObject(entry)) out.push(entry);
    else notes.add(`${key}[${i}] is not ${what}: ${shown(entry)}`);
  });
  return out;
}

/** `position` counts only the waves that are objects: it numbers a wave written without an index. */
function readWave(w: JsonObject, position: number): WaveRead {
  const wave: WaveRead = {
    index: typeof w.index === 'number' ? w.index : position + 1,
    hosts: Array.isArray(w.hosts) ? w.hosts.map(text).filter(Boolean) : [],
  };
  const start = readTime(w.start);
  const end = readTime(w.end);
  if (start !== undefined) wave.start = start;
  if (end !== undefined) wave.end = end;
  if (isJsonObject(w.bake)) {
    wave.bake = {
      start: readTime(w.bake.start),
      end: readTime(w.bake.end),
      verdict: text(w.bake.verdict) || undefined,
      detail: text(w.bake.detail) || undefined,
    };
  }
  return wave;
}

function readHost(h: JsonObject): HostRead {
  const host: HostRead = { host: text(h.host), outcome: text(h.outcome) };
  if (text(h.reason)) host.reason = text(h.reason);
  return host;
}

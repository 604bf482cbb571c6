// The tolerant reader of the ssh-rollout report file, beside the writer's types (record.ts): the file may
// come from another version, a fork, or a hostile hand. Every field is checked; what cannot be read is
// left out, an entry that is not one skipped with a note.
import { NoteList, isJsonObject, readTime, reportTag, shown, text, type JsonObject } from '../common/json-fields.js';
import type { HostRecord, RolloutReport, WaveRecord } from './record.js';

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

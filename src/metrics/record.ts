// The metric-watch report file: its tag and version, what the writer writes, and the one tolerant reader
// that replay (source: replay) and auto-revert's RCA timeline read it with.
import {
  NoteList,
  isJsonObject,
  positiveNumber,
  readTime,
  reportTag,
  shown,
  stringList,
  text,
  type JsonObject,
} from '../common/json-fields.js';
import type { Observation, WatchResult } from './types.js';

export const WATCH_REPORT_KIND = 'fivestep/metric-watch';
/** Bumped when a key of the report changes meaning; a replay refuses a newer one, the RCA reads what it can. */
export const WATCH_REPORT_VERSION = 1;

/** What the report file holds: the watch's result under its tag and version. */
export type WatchReport = { kind: typeof WATCH_REPORT_KIND; version: number } & WatchResult;

export function buildWatchReport(result: WatchResult): WatchReport {
  return { kind: WATCH_REPORT_KIND, version: WATCH_REPORT_VERSION, ...result };
}

/** One reading as read: `host` '' for a query that is not per host; `value` null is no data. */
export type SampleRead = Pick<Observation, 't' | 'host' | 'value' | 'reason'>;

/** A breach as read: times as epoch ms; a value, bound or baseline a newer writer gives as text is kept. */
export interface BreachRead {
  rule: string;
  host?: string;
  value?: number | string | null;
  bound?: number | string | null;
  baseline?: number | string | null;
  /** When the rule counted as breached (its hard state). */
  when?: number;
  /** The first breaching sample. */
  since?: number;
  detail?: string;
  /** The rule's runbook (a link or a line), as the breach carried it. */
  runbook?: string;
}

export interface RuleRead {
  /** '' when the file gives none (a note says so). */
  name: string;
  query: string;
  /** The judged hosts' readings. */
  samples: SampleRead[];
  /** The baseline hosts' readings (baseline: hosts). */
  baselineSamples: SampleRead[];
  /** Readings from before the watch (baseline: before), per host key. */
  baselineHistory?: Map<string, { t: number; value: number }[]>;
  breach?: BreachRead;
  /** What of this rule could not be read, each naming the rule and where in it. */
  notes: string[];
}

export interface WatchReportRead {
  /** The `kind` as JSON when it is neither this report's tag nor absent (another kind of file). */
  otherKind?: string;
  /** The `version` as JSON when it is not one this reader knows (a newer one, or not a number). */
  unknownVersion?: string;
  version?: number;
  verdict: string;
  detail: string;
  startedAt?: number;
  endedAt?: number;
  /** Ticks the watch ran (a positive number). */
  ticks?: number;
  /** settings.intervalMs (a positive number). */
  intervalMs?: number;
  /** Hosts as written (non-empty strings); a key is undefined when the file has no list there. */
  hosts: { all?: string[]; canary?: string[] };
  /** The `breaches` list, or, when it has none, each rule's `breach` (older shapes keep them only per rule). */
  breaches: BreachRead[];
  /** undefined when the file has no `rules` list. A rule that is not an object stays, empty, with a note. */
  rules?: RuleRead[];
  /** Breaches that could not be read. */
  notes: string[];
}

/** Tagged `…/metric-watch` (a fork may rename the owner), or untagged with a verdict and breaches or rules. */
export function looksLikeWatchReport(doc: JsonObject): boolean {
  const tag = reportTag(doc);
  if (tag) return tag.endsWith('metric-watch');
  return typeof doc.verdict === 'string' && (Array.isArray(doc.breaches) || Array.isArray(doc.rules));
}

const breachValue = (x: unknown): number | string | null | undefined =>
  typeof x === 'number' || typeof x === 'string' ? x : x === null ? null : undefined;

/** One breach of a report, or of metric-watch's `breaches` output (the same objects); undefined if none. */
export function readBreach(x: unknown): BreachRead | undefined {
  if (!isJsonObject(x)) return undefined;
  const rule = text(x.rule) || text(x.name);
  if (!rule) return undefined;
  const out: BreachRead = { rule };
  if (text(x.host)) out.host = text(x.host);
  for (const key of ['value', 'bound', 'baseline'] as const) {
    const v = breachValue(x[key]);
    if (v !== undefined) out[key] = v;
  }
  const when = readTime(x.when);
  const since = readTime(x.since);
  if (when !== undefined) out.when = when;
  if (since !== undefined) out.since = since;
  if (text(x.detail)) out.detail = text(x.detail);
  if (text(x.runbook)) out.runbook = text(x.runbook);
  return out;
}

/** Reads any JSON value as a metric-watch report (undefined when it is not an object); never throws. */
export function readWatchReport(doc: unknown): WatchReportRead | undefined {
  if (!isJsonObject(doc)) return undefined;
  const settings = isJsonObject(doc.settings) ? doc.settings : {};
  const hosts = isJsonObject(doc.hosts) ? doc.hosts : {};
  const notes = new NoteList();
  const rules = Array.isArray(doc.rules) ? doc.rules.map((raw, i) => readRule(raw, i)) : undefined;
  const listed = Array.isArray(doc.breaches) ? readBreaches(doc.breaches, notes) : [];
  const out: WatchReportRead = {
    verdict: text(doc.verdict),
    detail: text(doc.detail),
    startedAt: readTime(doc.startedAt),
    // A present but unreadable endedAt is not replaced: finishedAt is only an older name for it.
    endedAt: readTime(doc.endedAt ?? doc.finishedAt),
    ticks: positiveNumber(doc.ticks),
    intervalMs: positiveNumber(settings.intervalMs),
    hosts: { all: stringList(hosts.all), canary: stringList(hosts.canary) },
    breaches: listed.length > 0 ? listed : (rules ?? []).flatMap((r) => (r.breach ? [r.breach] : [])),
    rules,
    notes: notes.list(),
  };
  if (doc.kind !== undefined && doc.kind !== WATCH_REPORT_KIND) out.otherKind = shown(doc.kind);
  if (typeof doc.version === 'number' && doc.version <= WATCH_REPORT_VERSION) out.version = doc.version;
  else if (doc.version !== undefined) out.unknownVersion = shown(doc.version);
  return out;
}

function readBreaches(list: unknown[], notes: NoteList): BreachRead[] {
  const out: BreachRead[] = [];
  list.forEach((x, i) => {
    const b = readBreach(x);
    if (b) out.push(b);
    else notes.add(`breaches[${i}] is not a breach (an object with a rule name): ${shown(x)}`);
  });
  return out;
}

function readRule(raw: unknown, i: number): RuleRead {
  const where = `rule ${i + 1}`;
  const notes = new NoteList();
  const rule: RuleRead = { name: '', query: '', samples: [], baselineSamples: [], notes: [] };
  if (!isJsonObject(raw)) {
    notes.add(`${where} is not an object with name, query and samples`);
    return { ...rule, notes: notes.list() };
  }
  rule.name = typeof raw.name === 'string' ? raw.name : '';
  const label = rule.name ? `${where} ('${rule.name}')` : where;
  if (!rule.name) notes.add(`${where} has no 'name'`);
  if (typeof raw.query === 'string' && raw.query !== '') rule.query = raw.query;
  else notes.add(`${label} has no 'query'`);
  if (Array.isArray(raw.samples)) rule.samples = readSamples(raw.samples, `${label} samples`, notes);
  else notes.add(`${label} has no 'samples' list`);
  if (Array.isArray(raw.baselineSamples)) {
    rule.baselineSamples = readSamples(raw.baselineSamples, `${label} baselineSamples`, notes);
  } else if (raw.baselineSamples !== undefined) notes.add(`${label}: 'baselineSamples' must be a list`);
  if (raw.baselineHistory !== undefined) rule.baselineHistory = readHistory(raw.baselineHistory, label, notes);
  rule.breach = readBreach(raw.breach);
  return { ...rule, notes: notes.list() };
}

const readingValue = (x: unknown): number | null | undefined =>
  x === null ? null : typeof x === 'number' && Number.isFinite(x) ? x : undefined;

/** The readings of one list; a reading that is not one is skipped with a note naming it (`at[j]`). */
function readSamples(list: unknown[], at: string, notes: NoteList): SampleRead[] {
  const out: SampleRead[] = [];
  for (const [j, s] of list.entries()) {
    const here = `${at}[${j}]`;
    if (!isJsonObject(s)) {
      notes.add(`${here} is not an object {t, host, value}`);
      continue;
    }
    const t = readTime(s.t);
    const host = s.host === undefined ? '' : s.host;
    const value = readingValue(s.value);
    if (t === undefined) notes.add(`${here}: 't' must be a time (epoch ms or s, or ISO 8601), got ${shown(s.t)}`);
    else if (typeof host !== 'string') notes.add(`${here}: 'host' must be a string`);
    else if (value === undefined) notes.add(`${here}: 'value' must be a number or null, got ${shown(s.value)}`);
    else {
      const sample: SampleRead = { t, host, value };
      if (typeof s.reason === 'string' && s.reason) sample.reason = s.reason;
      out.push(sample);
    }
  }
  return out;
}

/** `{host: [{t, value}]}`; a Map, as host keys come from the file (`__proto__` is a key like any other). */
function readHistory(raw: unknown, label: string, notes: NoteList): RuleRead['baselineHistory'] {
  if (!isJsonObject(raw)) {
    notes.add(`${label}: 'baselineHistory' must be an object {host: [{t, value}]}`);
    return undefined;
  }
  const history = new Map<string, { t: number; value: number }[]>();
  for (const [host, list] of Object.entries(raw)) {
    if (!Array.isArray(list)) {
      notes.add(`${label}: baselineHistory['${host}'] must be a list of {t, value}`);
      continue;
    }
    const points: { t: number; value: number }[] = [];
    list.forEach((p, j) => {
      const t = isJsonObject(p) ? readTime(p.t) : undefined;
      if (t !== undefined && isJsonObject(p) && typeof p.value === 'number' && Number.isFinite(p.value)) {
        points.push({ t, value: p.value });
      } else notes.add(`${label}: baselineHistory['${host}'][${j}] must be {t, value} with numbers`);
    });
    history.set(host, points);
  }
  return history;
}

// source: replay — a watch report (the `report` output), or a recording of the same shape, replayed on its
// recorded clock as fast as it can: the verdict the (possibly changed) rules would have given that deploy.
//
// What is read (a report has all of it; a hand-made recording needs only what is marked required):
//   {
//     kind?: 'fivestep/metric-watch', version?: 1,      // a report; any other kind is refused
//     rules: [{                                          // required, at least one reading in all
//       name: string, query: string,                     // required: rules of the settings match by query, then name
//       samples: [{t, host?, value, reason?}],           // required: the judged hosts' readings (t: ms since epoch,
//                                                        //   host '' or absent for a query that is not per host,
//                                                        //   value null = no data, `reason` why)
//       baselineSamples?: [{t, host, value, reason?}],   // the baseline hosts' readings (baseline: hosts)
//       baselineHistory?: {host: [{t, value}]},          // readings before the watch (baseline: before:)
//     }],
//     hosts?: {all?: string[], canary?: string[]},       // default: every host read; canaries: the hosts of
//                                                        //   `samples` that are not in `baselineSamples`
//     startedAt?: ISO 8601 | ms,                         // default: one interval before the first reading
//     ticks?: number,                                    // a report's sample count: duration = ticks × interval
//     settings?: {intervalMs?: number},                  // default: the readings' mean spacing; duration: their span
//   }
import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../../common/inputs.js';
import { REPORT_VERSION } from '../report.js';
import { QueryError, type HistoryRequest, type MetricSource, type Reading, type Readings, type SampleRequest } from './types.js';

export const REPORT_KIND = 'fivestep/metric-watch';

interface Series {
  /** Instants, ascending. */
  t: number[];
  readings: Reading[];
}

export interface RecordedRule {
  name: string;
  query: string;
  /** Host key ('' for a query that is not per host) → its readings, judged and baseline hosts alike. */
  series: Map<string, Series>;
  history?: Map<string, { t: number; value: number }[]>;
  samples: number;
}

export interface Recording {
  path: string;
  rules: RecordedRule[];
  startedAt: number;
  intervalMs: number;
  durationMs: number;
  hosts: string[];
  canaryHosts: string[];
  /** Every recorded instant, ascending (the clock lands on them). */
  instants: number[];
  samples: number;
}

const iso = (t: number) => new Date(t).toISOString();
const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

function timeOf(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  if (typeof raw === 'string' && raw.trim() !== '') {
    const t = Date.parse(raw);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

function positive(raw: unknown): number | undefined {
  return typeof raw === 'number' && Number.isFinite(raw) && raw > 0 ? raw : undefined;
}

/** Reads and validates a report or recording; every error names the input `url` and what is wrong. */
export function loadRecording(path: string): Recording {
  const bad = (message: string) => new InputError('url', `${path}: ${message}`);
  let text: string;
  try {
    if (!statSync(path).isFile()) throw bad('is not a file (source replay reads a metric-watch report or a recording)');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(code === 'ENOENT' ? 'no such file (source replay reads the JSON file the report output names, or a recording)' : `cannot be read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`is not JSON (${(err as Error).message}); source replay reads the JSON file the report output names, or a recording`);
  }
  const shape = `a metric-watch report ({"kind": "${REPORT_KIND}", "rules": [...]}) or a recording ({"rules": [{"name", "query", "samples": [{"t", "host", "value"}]}]})`;
  if (!isObject(doc)) throw bad(`is not ${shape}: it holds a JSON ${Array.isArray(doc) ? 'list' : typeof doc}`);
  if (doc.kind !== undefined && doc.kind !== REPORT_KIND) throw bad(`is not ${shape}: its kind is ${JSON.stringify(doc.kind)}`);
  if (doc.version !== undefined && !(typeof doc.version === 'number' && doc.version <= REPORT_VERSION)) {
    throw bad(`is a report of version ${JSON.stringify(doc.version)}; this metric-watch reads version ${REPORT_VERSION} and older`);
  }
  if (!Array.isArray(doc.rules)) throw bad(`is not ${shape}: it has no 'rules' list`);
  if (doc.rules.length === 0) throw bad("its 'rules' list is empty: nothing to replay");

  const instants = new Set<number>();
  let total = 0;
  const rules = doc.rules.map((raw: unknown, i: number): RecordedRule => {
    const where = `rule ${i + 1}`;
    if (!isObject(raw)) throw bad(`${where} is not an object with name, query and samples`);
    const name = typeof raw.name === 'string' ? raw.name : '';
    const label = name ? `${where} ('${name}')` : where;
    if (!name) throw bad(`${where} has no 'name'`);
    if (typeof raw.query !== 'string' || raw.query === '') throw bad(`${label} has no 'query'`);
    if (!Array.isArray(raw.samples)) throw bad(`${label} has no 'samples' list`);
    const points = new Map<string, { t: number; reading: Reading }[]>();
    const read = (list: unknown[], key: string) => {
      list.forEach((s, j) => {
        const at = `${label} ${key}[${j}]`;
        if (!isObject(s)) throw bad(`${at} is not an object {t, host, value}`);
        const t = timeOf(s.t);
        if (t === undefined) throw bad(`${at}: 't' must be a time (ms since epoch or ISO 8601), got ${JSON.stringify(s.t)}`);
        if (s.host !== undefined && typeof s.host !== 'string') throw bad(`${at}: 'host' must be a string`);
        if (s.value !== null && !(typeof s.value === 'number' && Number.isFinite(s.value))) throw bad(`${at}: 'value' must be a number or null, got ${JSON.stringify(s.value)}`);
        const host = (s.host as string | undefined) ?? '';
        const reading: Reading = s.value === null ? { value: null, reason: typeof s.reason === 'string' && s.reason ? `${s.reason} (recorded)` : 'no data (recorded)' } : { value: s.value as number };
        if (!points.has(host)) points.set(host, []);
        points.get(host)!.push({ t, reading });
        instants.add(t);
        total++;
      });
    };
    read(raw.samples, 'samples');
    if (raw.baselineSamples !== undefined) {
      if (!Array.isArray(raw.baselineSamples)) throw bad(`${label}: 'baselineSamples' must be a list`);
      read(raw.baselineSamples, 'baselineSamples');
    }
    let history: RecordedRule['history'];
    if (raw.baselineHistory !== undefined) {
      if (!isObject(raw.baselineHistory)) throw bad(`${label}: 'baselineHistory' must be an object {host: [{t, value}]}`);
      history = new Map();
      for (const [host, list] of Object.entries(raw.baselineHistory)) {
        if (!Array.isArray(list)) throw bad(`${label}: baselineHistory['${host}'] must be a list of {t, value}`);
        history.set(
          host,
          list.map((p, j) => {
            const t = isObject(p) ? timeOf(p.t) : undefined;
            if (t === undefined || !isObject(p) || typeof p.value !== 'number' || !Number.isFinite(p.value)) {
              throw bad(`${label}: baselineHistory['${host}'][${j}] must be {t, value} with numbers`);
            }
            return { t, value: p.value };
          }),
        );
      }
    }
    const series = new Map<string, Series>();
    for (const [host, list] of points) {
      // Stable sort: of two readings at one instant, the later in the file wins.
      list.sort((a, b) => a.t - b.t);
      const s: Series = { t: [], readings: [] };
      for (const p of list) {
        if (s.t.length && s.t[s.t.length - 1] === p.t) s.readings[s.readings.length - 1] = p.reading;
        else {
          s.t.push(p.t);
          s.readings.push(p.reading);
        }
      }
      series.set(host, s);
    }
    return { name, query: raw.query, series, history, samples: list(raw.samples).length };
  });
  if (instants.size === 0) throw bad('holds no samples: nothing to replay');

  const sorted = [...instants].sort((a, b) => a - b);
  const settings = isObject(doc.settings) ? doc.settings : {};
  const startGiven = timeOf(doc.startedAt);
  const intervalMs =
    positive(settings.intervalMs) ?? spacing(sorted) ?? (startGiven !== undefined && sorted[0] > startGiven ? sorted[0] - startGiven : 1000);
  const startedAt = startGiven ?? sorted[0] - intervalMs;
  const ticks = positive(doc.ticks);
  const durationMs = ticks !== undefined ? ticks * intervalMs : Math.max(1, Math.round((sorted[sorted.length - 1] - startedAt) / intervalMs)) * intervalMs;

  const hostsDoc = isObject(doc.hosts) ? doc.hosts : {};
  const strings = (x: unknown) => (Array.isArray(x) ? x.filter((h): h is string => typeof h === 'string' && h !== '') : undefined);
  const judged = new Set<string>();
  const baseline = new Set<string>();
  for (const raw of doc.rules as Record<string, unknown>[]) {
    for (const s of raw.samples as { host?: string }[]) if (s.host) judged.add(s.host);
    for (const s of list(raw.baselineSamples) as { host?: string }[]) if (s.host) baseline.add(s.host);
  }
  const all = strings(hostsDoc.all) ?? [...new Set([...judged, ...baseline])];
  const canaryHosts = strings(hostsDoc.canary) ?? (baseline.size > 0 ? [...judged].filter((h) => !baseline.has(h)) : []);
  return { path, rules, startedAt, intervalMs, durationMs, hosts: all, canaryHosts, instants: sorted, samples: total };
}

/**
 * A recording without settings.intervalMs: the mean spacing of its instants. A live watch schedules tick k at
 * start + k × interval and samples a few ms late, so the mean (not any single gap) is the interval; it is
 * rounded to a whole 100 ms when that is within 2%, to whole ms otherwise. A drifting interval would slip the
 * replayed ticks off the recorded ones.
 */
function spacing(sorted: readonly number[]): number | undefined {
  if (sorted.length < 2) return undefined;
  const mean = (sorted[sorted.length - 1] - sorted[0]) / (sorted.length - 1);
  const round = Math.round(mean / 100) * 100;
  return round > 0 && Math.abs(round - mean) <= mean * 0.02 ? round : Math.max(1, Math.round(mean));
}

function list(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

/** Index of the last element ≤ x in an ascending list, or -1. */
function lastAtOrBefore(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/**
 * The recording as a metric source. Its clock starts at the recording's start and `sleep` only moves it:
 * onto the recorded instant the live watch sampled at, when one lies within half an interval of the
 * scheduled one, so each replayed tick reads that tick's samples. A live tick is mostly a few ms late, but
 * a timer may also fire a millisecond early by the wall clock (timers run on a monotonic clock), so the
 * nearest recorded instant on either side counts, as long as it is after the clock's present.
 */
export class ReplaySource implements MetricSource {
  readonly recording: Recording;
  readonly recorded: NonNullable<MetricSource['recorded']>;
  readonly clock: NonNullable<MetricSource['clock']>;
  private readonly matched = new Map<string, RecordedRule>();
  /** A reading an interval old or older is stale (a gap in the recording): no data, not an old value held. */
  private readonly staleMs: number;

  constructor(pathOrRecording: string | Recording) {
    const rec = typeof pathOrRecording === 'string' ? loadRecording(pathOrRecording) : pathOrRecording;
    this.recording = rec;
    this.recorded = { hosts: rec.hosts, canaryHosts: rec.canaryHosts, durationMs: rec.durationMs, intervalMs: rec.intervalMs };
    this.staleMs = rec.intervalMs;
    let t = rec.startedAt;
    const snap = rec.intervalMs / 2;
    this.clock = {
      now: () => t,
      sleep: async (ms: number) => {
        const target = t + Math.max(0, ms);
        const i = lastAtOrBefore(rec.instants, target);
        const near = [rec.instants[i], rec.instants[i + 1]]
          .filter((x): x is number => x !== undefined && x > t && Math.abs(x - target) < snap)
          .sort((a, b) => Math.abs(a - target) - Math.abs(b - target));
        t = near[0] ?? target;
      },
    };
  }

  /** The recorded rule a rule of the settings replays: the same query first, then the same name. */
  private match(rule: SampleRequest['rule']): RecordedRule {
    const hit = this.matched.get(rule.name);
    if (hit) return hit;
    const byQuery = this.recording.rules.filter((r) => r.query === rule.query);
    const found = byQuery.find((r) => r.name === rule.name) ?? byQuery[0] ?? this.recording.rules.find((r) => r.name === rule.name);
    if (!found) {
      const recorded = this.recording.rules.map((r) => `'${r.name}' (query ${r.query})`).join(', ');
      throw new QueryError(`rule '${rule.name}': the recording ${this.recording.path} has no rule with its query '${rule.query}' nor its name; recorded rules: ${recorded}`);
    }
    this.matched.set(rule.name, found);
    return found;
  }

  async sample(req: SampleRequest): Promise<Readings> {
    const rec = this.match(req.rule);
    const out: Readings = new Map();
    for (const host of req.hosts.length > 0 ? req.hosts : ['']) out.set(host, this.readingAt(rec, host, req.at));
    return out;
  }

  private readingAt(rec: RecordedRule, host: string, at: number): Reading {
    const s = rec.series.get(host);
    if (!s) {
      const keys = [...rec.series.keys()];
      const held = keys.length === 0 ? 'no readings at all' : keys.includes('') ? 'one series that is not per host' : `readings of ${keys.join(', ')}`;
      const what = host ? `host ${host}` : 'a series that is not per host';
      return { value: null, reason: `the recording has no readings of ${what} for rule '${rec.name}' (it holds ${held})` };
    }
    const i = lastAtOrBefore(s.t, at);
    const of = host ? ` of ${host}` : '';
    if (i < 0) return { value: null, reason: `no recorded reading${of} at or before ${iso(at)}: the recording starts at ${iso(s.t[0])}` };
    const age = at - s.t[i];
    // The last reading serves the tick it was taken at (a live tick samples a few ms late), not the ticks after.
    if (i === s.t.length - 1 && age > this.recording.intervalMs / 2) return { value: null, reason: `no recorded reading${of} at ${iso(at)}: the recording ends at ${iso(s.t[i])}` };
    if (age >= this.staleMs) return { value: null, reason: `no recorded reading${of} within ${this.staleMs / 1000}s before ${iso(at)} (the one before is at ${iso(s.t[i])})` };
    return s.readings[i];
  }

  async history(req: HistoryRequest): Promise<Map<string, number[]>> {
    const rec = this.match(req.rule);
    if (!rec.history) {
      throw new QueryError(
        `rule '${req.rule.name}': the recording holds no readings from before the watch (baselineHistory) for recorded rule '${rec.name}'; baseline before: needs a report recorded with baseline before:<duration> and a relative check`,
      );
    }
    const out = new Map<string, number[]>();
    for (const host of req.hosts.length > 0 ? req.hosts : ['']) {
      out.set(host, (rec.history.get(host) ?? []).filter((p) => p.t >= req.start && p.t <= req.end).map((p) => p.value));
    }
    return out;
  }
}

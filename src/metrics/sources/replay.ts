// source: replay — a watch report (the `report` output), or a recording of the same shape, replayed on its
// recorded clock as fast as it can: the verdict the (possibly changed) rules would have given that deploy.
//
// What is read (a report has all of it; a hand-made recording needs only what is marked required):
//   {
//     kind?: 'fivestep/metric-watch', version?: 1,      // a report; any other kind, or a newer version, is refused
//     rules: [{                                          // required, at least one reading in all
//       name: string, query: string,                     // required: rules of the settings match by query, then name
//       samples: [{t, host?, value, reason?}],           // required: the judged hosts' readings (t: a time as
//                                                        //   readTime reads it: epoch ms or seconds, or ISO 8601;
//                                                        //   host '' or absent for a query that is not per host,
//                                                        //   value null = no data, `reason` why)
//       baselineSamples?: [{t, host, value, reason?}],   // the baseline hosts' readings (baseline: hosts)
//       baselineHistory?: {host: [{t, value}]},          // readings before the watch (baseline: before:)
//     }],
//     hosts?: {all?: string[], canary?: string[]},       // default: every host read; canaries: the hosts of
//                                                        //   `samples` that are not in `baselineSamples`
//     startedAt?: a time,                                // default: one interval before the first reading
//     ticks?: number,                                    // a report's sample count: duration = ticks × interval
//     settings?: {intervalMs?: number},                  // default: the readings' mean spacing; duration: their span
//   }
// metrics/record.ts reads the file; a replay refuses it when that reader had to skip a rule or a reading:
// a verdict replayed on part of the readings would be one no deploy had.
import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../../common/inputs.js';
import {
  WATCH_REPORT_KIND,
  WATCH_REPORT_VERSION,
  readWatchReport,
  type RuleRead,
  type SampleRead,
  type WatchReportRead,
} from '../record.js';
import {
  QueryError,
  type HistoryRequest,
  type MetricSource,
  type Reading,
  type Readings,
  type SampleRequest,
} from './types.js';
import { formatDurationInput } from '../../common/format.js';

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

type Refusal = (message: string) => InputError;

const iso = (t: number) => new Date(t).toISOString();
const SHAPE =
  `a metric-watch report ({"kind": "${WATCH_REPORT_KIND}", "rules": [...]}) or a recording ` +
  '({"rules": [{"name", "query", "samples": [{"t", "host", "value"}]}]})';

/** Reads and validates a report or recording; every error names the input `url` and what is wrong. */
export function loadRecording(path: string): Recording {
  const bad: Refusal = (message) => new InputError('url', `${path}: ${message}`);
  const { read, rules } = readReplayable(parseFile(path, bad), bad);
  const recorded = rules.map(recordedRule);
  const instants = [...new Set(recorded.flatMap((r) => [...r.series.values()].flatMap((s) => s.t)))];
  instants.sort((a, b) => a - b);
  if (instants.length === 0) throw bad('holds no samples: nothing to replay');
  const samples = rules.reduce((n, r) => n + r.samples.length + r.baselineSamples.length, 0);
  return { path, rules: recorded, ...timing(read, instants), ...hostsOf(read, rules), instants, samples };
}

function parseFile(path: string, bad: Refusal): unknown {
  let text: string;
  try {
    if (!statSync(path).isFile()) throw bad('is not a file (source replay reads a metric-watch report or a recording)');
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw bad(
      code === 'ENOENT'
        ? 'no such file (source replay reads the JSON file the report output names, or a recording)'
        : `cannot be read: ${(err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = (err as Error).message;
    throw bad(`is not JSON (${why}); source replay reads the JSON file the report output names, or a recording`);
  }
}

/** The report as read, refused unless every rule and reading in it could be read. */
function readReplayable(doc: unknown, bad: Refusal): { read: WatchReportRead; rules: RuleRead[] } {
  const read = readWatchReport(doc);
  if (!read) throw bad(`is not ${SHAPE}: it holds a JSON ${Array.isArray(doc) ? 'list' : typeof doc}`);
  if (read.otherKind) throw bad(`is not ${SHAPE}: its kind is ${read.otherKind}`);
  if (read.unknownVersion) {
    const known = `this metric-watch reads version ${WATCH_REPORT_VERSION} and older`;
    throw bad(`is a report of version ${read.unknownVersion}; ${known}`);
  }
  const rules = read.rules;
  if (!rules) throw bad(`is not ${SHAPE}: it has no 'rules' list`);
  if (rules.length === 0) throw bad("its 'rules' list is empty: nothing to replay");
  for (const rule of rules) if (rule.notes.length > 0) throw bad(rule.notes[0]);
  return { read, rules };
}

function recordedRule(rule: RuleRead): RecordedRule {
  const series = seriesOf([...rule.samples, ...rule.baselineSamples]);
  return { name: rule.name, query: rule.query, series, history: rule.baselineHistory, samples: rule.samples.length };
}

/** One series a host; of two readings at one instant, the later in the file wins. */
function seriesOf(samples: readonly SampleRead[]): Map<string, Series> {
  const points = new Map<string, { t: number; reading: Reading }[]>();
  for (const s of samples) {
    const noData = s.reason ? `${s.reason} (recorded)` : 'no data (recorded)';
    const reading: Reading = s.value === null ? { value: null, reason: noData } : { value: s.value };
    if (!points.has(s.host)) points.set(s.host, []);
    points.get(s.host)!.push({ t: s.t, reading });
  }
  const series = new Map<string, Series>();
  for (const [host, list] of points) {
    list.sort((a, b) => a.t - b.t); // stable: equal instants keep their file order
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
  return series;
}

type Timing = Pick<Recording, 'startedAt' | 'intervalMs' | 'durationMs'>;

/** Start, interval and duration: as recorded where the file says, else from the readings' instants. */
function timing(read: WatchReportRead, sorted: readonly number[]): Timing {
  const startGiven = read.startedAt;
  const fromStart = startGiven !== undefined && sorted[0] > startGiven ? sorted[0] - startGiven : undefined;
  const intervalMs = read.intervalMs ?? spacing(sorted) ?? fromStart ?? 1000;
  const startedAt = startGiven ?? sorted[0] - intervalMs;
  const durationMs =
    read.ticks !== undefined
      ? read.ticks * intervalMs
      : Math.max(1, Math.round((sorted[sorted.length - 1] - startedAt) / intervalMs)) * intervalMs;
  return { startedAt, intervalMs, durationMs };
}

/** As recorded; else every host read, the canaries being the judged hosts that are not baseline hosts. */
function hostsOf(read: WatchReportRead, rules: readonly RuleRead[]): Pick<Recording, 'hosts' | 'canaryHosts'> {
  const judged = new Set(rules.flatMap((r) => r.samples.map((s) => s.host)).filter(Boolean));
  const baseline = new Set(rules.flatMap((r) => r.baselineSamples.map((s) => s.host)).filter(Boolean));
  const hosts = read.hosts.all ?? [...new Set([...judged, ...baseline])];
  const canaryHosts = read.hosts.canary ?? (baseline.size > 0 ? [...judged].filter((h) => !baseline.has(h)) : []);
  return { hosts, canaryHosts };
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
 * onto the recorded instant the live watch sampled at, when one lies from half an interval before the
 * scheduled one to just before the next tick's, so each replayed tick reads that tick's samples. A live tick
 * is mostly a few ms late, but load (a slow scrape, a GC pause) may hold it up for most of an interval, and a
 * timer may also fire a millisecond early by the wall clock (timers run on a monotonic clock), so the nearest
 * recorded instant in that span counts, as long as it is after the clock's present. `scheduleMs` is the
 * replay's interval when the settings give one (the recorded one otherwise).
 */
export class ReplaySource implements MetricSource {
  readonly recording: Recording;
  readonly recorded: NonNullable<MetricSource['recorded']>;
  readonly clock: NonNullable<MetricSource['clock']>;
  private readonly matched = new Map<string, RecordedRule>();
  /** A reading an interval old or older is stale (a gap in the recording): no data, not an old value held. */
  private readonly staleMs: number;

  constructor(pathOrRecording: string | Recording, scheduleMs = 0) {
    const rec = typeof pathOrRecording === 'string' ? loadRecording(pathOrRecording) : pathOrRecording;
    this.recording = rec;
    this.recorded = {
      hosts: rec.hosts,
      canaryHosts: rec.canaryHosts,
      durationMs: rec.durationMs,
      intervalMs: rec.intervalMs,
    };
    this.staleMs = rec.intervalMs;
    let t = rec.startedAt;
    const snap = rec.intervalMs / 2;
    // Up to the next tick's schedule, not half an interval: a tick load held up longer keeps its recorded instant.
    const late = Math.min(scheduleMs || rec.intervalMs, rec.intervalMs);
    this.clock = {
      now: () => t,
      sleep: async (ms: number) => {
        const target = t + Math.max(0, ms);
        const i = lastAtOrBefore(rec.instants, target);
        const near = [rec.instants[i], rec.instants[i + 1]]
          .filter((x): x is number => x !== undefined && x > t && target - x < snap && x - target < late)
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
    const found =
      byQuery.find((r) => r.name === rule.name) ?? byQuery[0] ?? this.recording.rules.find((r) => r.name === rule.name);
    if (!found) {
      const recorded = this.recording.rules.map((r) => `'${r.name}' (query ${r.query})`).join(', ');
      throw new QueryError(
        `rule '${rule.name}': the recording ${this.recording.path} has no rule with its query '${rule.query}' ` +
          `nor its name; recorded rules: ${recorded}`,
      );
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
      const held =
        keys.length === 0
          ? 'no readings at all'
          : keys.includes('')
            ? 'one series that is not per host'
            : `readings of ${keys.join(', ')}`;
      const what = host ? `host ${host}` : 'a series that is not per host';
      return {
        value: null,
        reason: `the recording has no readings of ${what} for rule '${rec.name}' (it holds ${held})`,
      };
    }
    const i = lastAtOrBefore(s.t, at);
    const of = host ? ` of ${host}` : '';
    if (i < 0)
      return {
        value: null,
        reason: `no recorded reading${of} at or before ${iso(at)}: the recording starts at ${iso(s.t[0])}`,
      };
    const age = at - s.t[i];
    // The last reading serves the tick it was taken at (a live tick samples a few ms late), not the ticks after.
    if (i === s.t.length - 1 && age > this.recording.intervalMs / 2)
      return { value: null, reason: `no recorded reading${of} at ${iso(at)}: the recording ends at ${iso(s.t[i])}` };
    if (age >= this.staleMs)
      return {
        value: null,
        reason:
          `no recorded reading${of} within ${formatDurationInput(this.staleMs)} before ${iso(at)} ` +
          `(the one before is at ${iso(s.t[i])})`,
      };
    return s.readings[i];
  }

  async history(req: HistoryRequest): Promise<Map<string, number[]>> {
    const rec = this.match(req.rule);
    if (!rec.history) {
      throw new QueryError(
        `rule '${req.rule.name}': the recording holds no readings from before the watch (baselineHistory) ` +
          `for recorded rule '${rec.name}'; baseline before: needs a report recorded with baseline ` +
          `before:<duration> and a relative check`,
      );
    }
    const out = new Map<string, number[]>();
    for (const host of req.hosts.length > 0 ? req.hosts : ['']) {
      out.set(
        host,
        (rec.history.get(host) ?? []).filter((p) => p.t >= req.start && p.t <= req.end).map((p) => p.value),
      );
    }
    return out;
  }
}

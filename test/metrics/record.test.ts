// The tolerant reader of the metric-watch report: what the writer writes reads back; wrong types, missing
// keys, hostile keys, huge lists and a newer version read as far as they can, with notes, and never throw.
import { describe, expect, test } from '@jest/globals';
import {
  WATCH_REPORT_KIND,
  WATCH_REPORT_VERSION,
  buildWatchReport,
  looksLikeWatchReport,
  readBreach,
  readWatchReport,
} from '../../src/metrics/record.js';
import type { Rule, WatchResult } from '../../src/metrics/types.js';

const T = Date.parse('2026-03-01T12:00:00Z');
const iso = (t: number) => new Date(t).toISOString();
const rule: Rule = {
  name: 'errors',
  query: 'rate(errors[1m])',
  max: 0.05,
  for: 1,
  noData: 'fail',
  confidence: 0.98,
  volume: false,
};

function result(): WatchResult {
  const breach = {
    rule: 'errors',
    check: 'max' as const,
    host: 'web1',
    value: 0.09,
    bound: 0.05,
    when: iso(T + 2000),
    since: iso(T + 1000),
    detail: 'over',
  };
  return {
    verdict: 'fail',
    detail: 'errors over 0.05',
    breaches: [breach],
    rules: [
      {
        name: 'errors',
        query: rule.query,
        verdict: 'fail',
        reason: 'over',
        rule,
        breach,
        samples: [
          { t: T + 1000, host: 'web1', value: 0.09, state: 'breach' },
          { t: T + 2000, host: 'web1', value: null, reason: 'timeout', state: 'no-data' },
        ],
        baselineSamples: [{ t: T + 1000, host: 'web2', value: 0.01 }],
        baselineHistory: { web2: [{ t: T - 1000, value: 0.02 }] },
      },
    ],
    endedEarly: 'errors failed',
    startedAt: iso(T),
    endedAt: iso(T + 2500),
    ticks: 2,
    hosts: { canary: ['web1'], baseline: ['web2'], all: ['web1', 'web2'] },
    alertWarnings: [],
    settings: {
      source: 'prometheus',
      url: 'http://p',
      baseline: 'hosts',
      durationMs: 2000,
      intervalMs: 1000,
      failOn: 'fail',
      environment: '',
    },
  };
}

/** The report as the writer writes it, through JSON as a file holds it. */
const written = (): Record<string, unknown> => JSON.parse(JSON.stringify(buildWatchReport(result())));

describe('readWatchReport', () => {
  test('what the writer writes reads back: tag and version, times as epoch ms, nothing noted', () => {
    const doc = written();
    expect(doc).toMatchObject({ kind: WATCH_REPORT_KIND, version: WATCH_REPORT_VERSION });
    const r = readWatchReport(doc)!;
    expect(r).toMatchObject({ version: 1, verdict: 'fail', detail: 'errors over 0.05' });
    expect(r).toMatchObject({ startedAt: T, endedAt: T + 2500, ticks: 2, intervalMs: 1000 });
    expect(r.otherKind).toBeUndefined();
    expect(r.unknownVersion).toBeUndefined();
    expect(r.hosts).toEqual({ all: ['web1', 'web2'], canary: ['web1'] });
    const breach = { rule: 'errors', host: 'web1', value: 0.09, bound: 0.05, when: T + 2000, since: T + 1000 };
    expect(r.breaches).toEqual([{ ...breach, detail: 'over' }]);
    expect(r.rules).toEqual([
      {
        name: 'errors',
        query: rule.query,
        samples: [
          { t: T + 1000, host: 'web1', value: 0.09 },
          { t: T + 2000, host: 'web1', value: null, reason: 'timeout' },
        ],
        baselineSamples: [{ t: T + 1000, host: 'web2', value: 0.01 }],
        baselineHistory: new Map([['web2', [{ t: T - 1000, value: 0.02 }]]]),
        breach: { ...breach, detail: 'over' },
        notes: [],
      },
    ]);
    expect(r.notes).toEqual([]);
  });

  test('not an object is no report; an empty object reads as empty', () => {
    for (const doc of [null, 'report', 42, [written()]]) expect(readWatchReport(doc)).toBeUndefined();
    expect(readWatchReport({})).toEqual({ verdict: '', detail: '', hosts: {}, breaches: [], notes: [] });
  });

  test('another kind and an unknown version are told, and the rest is still read', () => {
    const r = readWatchReport({ ...written(), kind: 'fivestep/ssh-rollout', version: WATCH_REPORT_VERSION + 1 })!;
    expect(r).toMatchObject({ otherKind: '"fivestep/ssh-rollout"', unknownVersion: '2', verdict: 'fail' });
    expect(r.version).toBeUndefined();
    expect(r.rules?.[0].samples).toHaveLength(2);
    expect(readWatchReport({ version: '1' })!.unknownVersion).toBe('"1"');
    expect(readWatchReport({ kind: { evil: true } })!.otherKind).toBe('{"evil":true}');
  });

  test('wrong types are dropped, not trusted', () => {
    const r = readWatchReport({
      verdict: 3,
      detail: ['x'],
      startedAt: 'at noon',
      finishedAt: T / 1000, // an older name of endedAt, in seconds
      ticks: -4,
      settings: { intervalMs: '1000' },
      hosts: { all: 'web1', canary: ['web1', 5, ''] },
      breaches: 'many',
    })!;
    expect(r).toEqual({ verdict: '3', detail: '', endedAt: T, hosts: { canary: ['web1'] }, breaches: [], notes: [] });
    expect(readWatchReport({ hosts: [], settings: [] })!.hosts).toEqual({});
  });

  test('a rule or reading that cannot be read is skipped with a note naming it; the rest is kept', () => {
    const r = readWatchReport({
      rules: [
        'errors',
        { name: 7, query: '', samples: 'none' },
        {
          name: 'latency',
          query: 'q',
          samples: [
            { t: 'soon', value: 1 },
            { t: T, host: 3, value: 1 },
            { t: T, value: 'high' },
            5,
            { t: T, value: 2, reason: 9 },
          ],
          baselineSamples: {},
          baselineHistory: {
            web1: 'x',
            web2: [
              { t: T, value: '1' },
              { t: T, value: 3 },
            ],
          },
        },
      ],
    })!;
    expect(r.rules).toHaveLength(3);
    expect(r.rules![0]).toEqual({ name: '', query: '', samples: [], baselineSamples: [], notes: [expect.any(String)] });
    expect(r.rules![0].notes).toEqual(['rule 1 is not an object with name, query and samples']);
    const unnamed = ["rule 2 has no 'name'", "rule 2 has no 'query'", "rule 2 has no 'samples' list"];
    expect(r.rules![1].notes).toEqual(unnamed);
    const latency = r.rules![2];
    expect(latency.samples).toEqual([{ t: T, host: '', value: 2 }]);
    expect(latency.baselineHistory).toEqual(new Map([['web2', [{ t: T, value: 3 }]]]));
    expect(latency.notes).toEqual([
      "rule 3 ('latency') samples[0]: 't' must be a time (epoch ms or s, or ISO 8601), got \"soon\"",
      "rule 3 ('latency') samples[1]: 'host' must be a string",
      "rule 3 ('latency') samples[2]: 'value' must be a number or null, got \"high\"",
      "rule 3 ('latency') samples[3] is not an object {t, host, value}",
      "rule 3 ('latency'): 'baselineSamples' must be a list",
      "rule 3 ('latency'): baselineHistory['web1'] must be a list of {t, value}",
      "rule 3 ('latency'): baselineHistory['web2'][0] must be {t, value} with numbers",
    ]);
  });

  test('hostile keys: a baseline host named __proto__ is a host, not a prototype', () => {
    const history = `{"__proto__": [{"t": ${T}, "value": 1}]}`;
    const doc = JSON.parse(`{"rules": [{"name": "r", "query": "q", "samples": [], "baselineHistory": ${history}}]}`);
    const read = readWatchReport(doc)!.rules![0].baselineHistory!;
    expect([...read.keys()]).toEqual(['__proto__']);
    expect(read.get('__proto__')).toEqual([{ t: T, value: 1 }]);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  test('a long value is cut in its note', () => {
    const samples = [{ t: 'x'.repeat(1_000_000), value: 1 }];
    const r = readWatchReport({ rules: [{ name: 'r', query: 'q', samples }] })!;
    expect(r.rules![0].notes[0].length).toBeLessThan(200);
  });

  test('huge lists read in linear time; notes stay bounded', () => {
    const samples = Array.from({ length: 300_000 }, (_, i) =>
      i % 3 ? { t: T + i, host: `h${i % 7}`, value: i } : { t: 'bad', value: i },
    );
    const started = performance.now();
    const r = readWatchReport({ rules: [{ name: 'r', query: 'q', samples }], breaches: Array(100_000).fill('junk') })!;
    expect(performance.now() - started).toBeLessThan(3000);
    expect(r.rules![0].samples).toHaveLength(200_000);
    expect(r.rules![0].notes).toHaveLength(21);
    expect(r.notes).toHaveLength(21);
    expect(r.notes[20]).toBe('… and 99980 more');
  });

  test('breaches: the list, or each rule’s when the list has none (older shapes); junk skipped with a note', () => {
    const rules = [{ breach: { rule: 'a', when: T } }, { breach: 'x' }, { name: 'b', breach: { name: 'b' } }];
    const inRules = readWatchReport({ rules })!;
    expect(inRules.breaches).toEqual([{ rule: 'a', when: T }, { rule: 'b' }]);
    const listed = readWatchReport({ breaches: [{ rule: 'c' }, null], rules: [{ breach: { rule: 'a' } }] })!;
    expect(listed.breaches).toEqual([{ rule: 'c' }]);
    expect(listed.notes).toEqual(['breaches[1] is not a breach (an object with a rule name): null']);
  });
});

describe('readBreach', () => {
  test('reads the breaches output and older shapes; anything without a rule is none', () => {
    // A value given as text is kept, null is kept, an object is dropped; a detail number becomes its digits.
    const odd = { rule: 'r', host: 'h', value: 'high', bound: null, baseline: {}, when: iso(T), since: '', detail: 4 };
    expect(readBreach(odd)).toEqual({ rule: 'r', host: 'h', value: 'high', bound: null, when: T, detail: '4' });
    expect(readBreach({ name: 'old', when: T / 1000 })).toEqual({ rule: 'old', when: T });
    for (const x of [null, 'r', [], {}, { rule: '' }, { rule: { name: 'r' } }]) expect(readBreach(x)).toBeUndefined();
  });
});

describe('looksLikeWatchReport', () => {
  test('by its tag (a fork may rename the owner), else by a verdict with breaches or rules', () => {
    expect(looksLikeWatchReport({ kind: WATCH_REPORT_KIND })).toBe(true);
    expect(looksLikeWatchReport({ kind: 'acme/metric-watch' })).toBe(true);
    expect(looksLikeWatchReport({ verdict: 'fail', breaches: [] })).toBe(true);
    expect(looksLikeWatchReport({ verdict: 'fail', rules: [] })).toBe(true);
    expect(looksLikeWatchReport({ verdict: 'fail' })).toBe(false);
    expect(looksLikeWatchReport({ tool: 'fivestep/ssh-rollout', verdict: 'fail', rules: [] })).toBe(false);
  });
});

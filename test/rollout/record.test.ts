// The tolerant reader of the ssh-rollout report: what the writer writes reads back whole; wrong types,
// missing keys, huge lists, a newer version and hostile entries read as far as they can, never throw.
import { describe, expect, test } from '@jest/globals';
import type { RolloutReport } from '../../src/rollout/record.js';
import { ROLLOUT_REPORT_TOOL, looksLikeRolloutReport, readRolloutReport } from '../../src/rollout/record.js';

const T = Date.parse('2026-03-01T12:00:00Z');
const bake = { start: T + 600, end: T + 1600, verdict: 'pass', detail: 'ok' };

/** A report as the writer writes it, through JSON as a file holds it. */
function written(overrides: Partial<RolloutReport> = {}): unknown {
  const report: RolloutReport = {
    tool: 'fivestep/ssh-rollout',
    version: 1,
    release: 'v2',
    deployPath: '/srv/app',
    dryRun: false,
    result: 'reverted',
    startedAt: new Date(T).toISOString(),
    finishedAt: new Date(T + 9000).toISOString(),
    durationMs: 9000,
    artifact: { file: '/tmp/a.tar.gz', sha256: 'ab'.repeat(32), bytes: 2048 },
    plan: {
      waves: [['web1:22'], ['web2:22']],
      maxFailures: 0,
      maxParallel: 20,
      steps: { stage: {}, switch: [], finish: [], revert: [] },
    },
    waves: [
      { index: 1, hosts: ['web1:22'], start: T + 300, end: T + 600, bake },
      { index: 2, hosts: ['web2:22'], start: T + 1600, end: T + 2400 },
    ],
    hosts: [
      { host: 'web1:22', wave: 1, previous: 'v1', outcome: 'reverted', uploaded: true, steps: [] },
      { host: 'web2:22', wave: 2, previous: 'v1', outcome: 'failed', reason: 'health: 503', uploaded: true, steps: [] },
    ],
    unhealthyAtStart: [],
    stopReason: 'web2:22 failed',
    errors: [],
    ...overrides,
  };
  return JSON.parse(JSON.stringify(report));
}

describe('readRolloutReport', () => {
  test('what the writer writes reads back: times as epoch ms, nothing noted', () => {
    expect(readRolloutReport(written())).toEqual({
      version: 1,
      release: 'v2',
      result: 'reverted',
      startedAt: T,
      finishedAt: T + 9000,
      waves: [
        { index: 1, hosts: ['web1:22'], start: T + 300, end: T + 600, bake },
        { index: 2, hosts: ['web2:22'], start: T + 1600, end: T + 2400 },
      ],
      hosts: [
        { host: 'web1:22', outcome: 'reverted' },
        { host: 'web2:22', outcome: 'failed', reason: 'health: 503' },
      ],
      stopReason: 'web2:22 failed',
      notes: [],
    });
  });

  test('not an object is no report', () => {
    for (const doc of [null, 'report', 42, [written()]]) expect(readRolloutReport(doc)).toBeUndefined();
  });

  test('missing keys read as empty: text "", lists [], times absent', () => {
    expect(readRolloutReport({})).toEqual({ release: '', result: '', waves: [], hosts: [], stopReason: '', notes: [] });
  });

  test('wrong types are dropped, not trusted; entries that are not objects are skipped with a note', () => {
    const oddBake = { start: 'x', verdict: {}, detail: 3 };
    const r = readRolloutReport({
      release: { name: 'v2' },
      result: ['failed'],
      startedAt: 'soon',
      finishedAt: -1,
      stopReason: 42,
      version: '2',
      waves: [null, { index: 'one', hosts: ['web1:22', 7, null, ''], start: true, bake: oddBake }, 'w'],
      hosts: [{ host: ['h'], outcome: 1, reason: null }, 12],
    });
    expect(r).toEqual({
      release: '',
      result: '',
      stopReason: '42',
      waves: [{ index: 1, hosts: ['web1:22', '7'], bake: { detail: '3' } }],
      hosts: [{ host: '', outcome: '1' }],
      notes: ['waves[0] is not a wave: null', 'waves[2] is not a wave: "w"', 'hosts[1] is not a host: 12'],
    });
    expect(r!.waves[0].bake).toEqual({ start: undefined, end: undefined, verdict: undefined, detail: '3' });
  });

  test('times in epoch seconds read as the same instants as ISO strings and ms', () => {
    const finishedAt = new Date(T + 9000).toISOString();
    const waves = [{ start: (T + 300) / 1000, end: T + 600 }];
    const r = readRolloutReport({ startedAt: T / 1000, finishedAt, waves });
    expect(r).toMatchObject({ startedAt: T, finishedAt: T + 9000 });
    expect(r?.waves).toEqual([{ index: 1, hosts: [], start: T + 300, end: T + 600 }]);
  });

  test('a newer version reads as far as it can: new keys ignored, an unknown outcome kept as text', () => {
    const doc = { ...(written() as object), version: 7, tool: 'fivestep/ssh-rollout', regions: [{ name: 'eu' }] };
    const hosts = [{ host: 'web1:22', outcome: 'quarantined', reason: 'new in v7' }];
    const r = readRolloutReport({ ...doc, hosts });
    expect(r).toMatchObject({ version: 7, release: 'v2', hosts, notes: [] });
  });

  test('huge lists read in linear time, hostile entries noted a bounded number of times', () => {
    const hosts = Array.from({ length: 200_000 }, (_, i) =>
      i % 2 ? 'junk' : { host: `h${i}:22`, outcome: 'failed', reason: 'x' },
    );
    const started = performance.now();
    const r = readRolloutReport({ waves: [{ hosts: hosts.map((h) => (typeof h === 'string' ? h : h.host)) }], hosts })!;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(r.hosts).toHaveLength(100_000);
    expect(r.waves[0].hosts).toHaveLength(200_000);
    expect(r.notes).toHaveLength(21);
    expect(r.notes[20]).toBe('… and 99980 more');
  });
});

describe('looksLikeRolloutReport', () => {
  test('by its tag (a fork may rename the owner), else by its waves and hosts lists', () => {
    expect(ROLLOUT_REPORT_TOOL).toBe('fivestep/ssh-rollout');
    expect(looksLikeRolloutReport({ tool: ROLLOUT_REPORT_TOOL })).toBe(true);
    expect(looksLikeRolloutReport({ tool: 'acme/ssh-rollout' })).toBe(true);
    expect(looksLikeRolloutReport({ waves: [], hosts: [] })).toBe(true);
    expect(looksLikeRolloutReport({ kind: 'fivestep/metric-watch', waves: [], hosts: [] })).toBe(false);
    expect(looksLikeRolloutReport({ waves: [], hosts: {} })).toBe(false);
  });
});

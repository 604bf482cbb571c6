// source: replay and auto-revert's RCA read times by one rule: a recording in epoch seconds replays on the
// same instants as one in ms or ISO 8601 (replay used to take 1,700,000,000 as ms, the RCA as seconds).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { loadRecording } from '../../src/metrics/sources/replay.js';
import { runWatch } from '../../src/metrics/watch.js';
import { parseReport } from '../../src/revert/reports.js';

const START_S = 1_700_000_000; // 2023-11-14T22:13:20Z
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-replay-times-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Three readings a second apart, the third over the bound; `t` writes an instant (epoch seconds) the file's way. */
function recording(name: string, t: (seconds: number) => number | string, extra: object = {}): string {
  const samples = [1, 2, 3].map((k) => ({ t: t(START_S + k), value: k === 3 ? 99 : 10 }));
  const path = join(dir, `${name}.json`);
  const rules = [{ name: 'latency', query: 'latency_ms', samples }];
  writeFileSync(path, JSON.stringify({ startedAt: t(START_S), rules, ...extra }));
  return path;
}

const RULES = '- name: latency\n  query: latency_ms\n  max: 50';
const replay = (url: string) => {
  const settings = parseWatchSettings(objectInputs({ source: 'replay', url, rules: RULES }), { env: {} });
  return runWatch(settings, { logger: new MemoryLogger() });
};

describe('one time rule for replay and the RCA', () => {
  test('a recording in epoch seconds replays on the instants of the same recording in ms and in ISO 8601', async () => {
    const inSeconds = await replay(recording('seconds', (s) => s));
    const inMs = await replay(recording('ms', (s) => s * 1000));
    const inIso = await replay(recording('iso', (s) => new Date(s * 1000).toISOString()));
    const when = new Date((START_S + 3) * 1000).toISOString();
    for (const r of [inSeconds, inMs, inIso]) {
      expect(r.startedAt).toBe(new Date(START_S * 1000).toISOString());
      expect(r.rules[0].samples.map((s) => s.t)).toEqual([1, 2, 3].map((k) => (START_S + k) * 1000));
      expect(r.settings).toMatchObject({ intervalMs: 1000, durationMs: 3000 });
      expect(r.breaches).toEqual([expect.objectContaining({ rule: 'latency', value: 99, when })]);
    }
  });

  test('the RCA reads the same number as the same instant, in a rollout report and in a watch report', () => {
    const rolloutDoc = { tool: 'fivestep/ssh-rollout', startedAt: START_S, waves: [{ start: START_S + 1 }], hosts: [] };
    const breaches = [{ rule: 'latency', when: START_S + 3 }];
    const watchDoc = { kind: 'fivestep/metric-watch', verdict: 'fail', startedAt: START_S, breaches };
    const rollout = parseReport('/r.json', JSON.stringify(rolloutDoc));
    const watch = parseReport('/w.json', JSON.stringify(watchDoc));
    expect(rollout).toMatchObject({ startedAt: START_S * 1000, waves: [{ start: (START_S + 1) * 1000 }] });
    expect(watch).toMatchObject({ startedAt: START_S * 1000, breaches: [{ when: (START_S + 3) * 1000 }] });
  });
});

describe('loadRecording through the report reader', () => {
  test('hosts, canaries and counts come from the readings when the file has none', () => {
    const samples = [1, 2].flatMap((k) => ['c1', 'c2'].map((host) => ({ t: (START_S + k) * 1000, host, value: 1 })));
    const baselineSamples = [1, 2].map((k) => ({ t: (START_S + k) * 1000, host: 'b1', value: 1 }));
    const path = join(dir, 'hosts.json');
    writeFileSync(path, JSON.stringify({ rules: [{ name: 'r', query: 'q', samples, baselineSamples }] }));
    const rec = loadRecording(path);
    expect(rec).toMatchObject({ hosts: ['c1', 'c2', 'b1'], canaryHosts: ['c1', 'c2'], samples: 6, intervalMs: 1000 });
    expect(rec.rules[0]).toMatchObject({ name: 'r', samples: 4 });
    expect([...rec.rules[0].series.keys()]).toEqual(['c1', 'c2', 'b1']);
    expect(rec.startedAt).toBe(START_S * 1000);
  });

  test('breaches a replay does not use do not stop it, however odd', () => {
    const path = recording('odd-breaches', (s) => s * 1000, { breaches: ['junk', { rule: { x: 1 } }], verdict: 12 });
    expect(loadRecording(path).samples).toBe(3);
  });

  test('a time past what a Date holds is refused naming the reading, not thrown while printing', () => {
    const path = join(dir, 'far.json');
    writeFileSync(path, JSON.stringify({ rules: [{ name: 'r', query: 'q', samples: [{ t: 1e300, value: 1 }] }] }));
    expect(() => loadRecording(path)).toThrow(/input 'url'.*rule 1 \('r'\) samples\[0\]: 't' must be a time .*1e\+300/);
  });
});

// source: replay lands each tick on the instant the live watch recorded for it, however late load made that
// tick: a live watch on a loaded machine (a slow first scrape, a GC pause, a slow query, a timer firing early)
// is simulated on a virtual clock, its report replayed, and every sample must come back at its recorded instant.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { writeReport } from '../../src/metrics/report.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import type { MetricSource } from '../../src/metrics/sources/types.js';
import { runWatch } from '../../src/metrics/watch.js';

const START = 1_796_612_700_000;
const I = 250;
const RULES = '- name: users\n  query: users\n  min: 0\n  no-data: pass';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-replay-clock-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const replay = (url: string, values: Record<string, string> = {}) =>
  runWatch(parseWatchSettings(objectInputs({ source: 'replay', url, rules: RULES, ...values }), { env: {} }), {
    logger: new MemoryLogger(),
  });

/** [ms after the start, value] of each sample: a slipped tick reads as its offset. */
const shown = (samples: { t: number; value: number | null }[]) => samples.map((s) => [s.t - START, s.value]);

describe('a live watch under load replays on its recorded instants', () => {
  test('ticks held up by up to an interval (slow first scrape, GC pause, slow query) or fired 1 ms early', async () => {
    // The watch's virtual wall clock: a sleep overshoots by what the load holds it up (a timer may also fire a
    // millisecond early by the wall clock), a query takes its time.
    let now = START;
    const overshoot = [0, 1, -1, 180, 125, 0, 249, 0];
    const queryMs = [5, 5, 5, 5, 240, 10, 1, 3];
    let tick = 0;
    const source: MetricSource = {
      prime: async () => {
        now += 390; // the first scrape under load: tick 1 is due before it returns, so it is 140 ms late
      },
      sample: async () => {
        const k = tick++;
        now += queryMs[k];
        return new Map([['', { value: 100 + k }]]);
      },
    };
    const settings = parseWatchSettings(
      objectInputs({
        source: 'prometheus',
        url: 'http://prom.invalid',
        duration: '2s',
        interval: '250ms',
        rules: RULES,
      }),
      { env: {} },
    );
    const live = await runWatch(settings, {
      logger: new MemoryLogger(),
      source,
      now: () => now,
      sleep: async (ms) => {
        now += ms + overshoot[tick];
      },
    });
    const recorded = shown(live.rules[0].samples);
    // The recording under test: ticks 1, 4, 5 and 7 late by 140, 180, 125 and 249 ms, tick 3 1 ms early.
    expect(recorded.map(([t], k) => (t as number) - (k + 1) * I)).toEqual([140, 1, -1, 180, 125, 115, 249, 0]);
    const r = await replay(writeReport(live, { RUNNER_TEMP: dir }));
    expect(shown(r.rules[0].samples)).toEqual(recorded);
    expect(r.startedAt).toBe(live.startedAt);
  });

  test('a tick missing from a recording is no data at its schedule: the next tick is not pulled early', async () => {
    // Tick 3 is missing; tick 4 sampled on time is the next tick's, not a late tick 3.
    const times = [I + 3, 2 * I, 4 * I, 5 * I + 1].map((d) => START + d);
    const path = join(dir, 'gap.json');
    const samples = times.map((t, k) => ({ t, value: k }));
    writeFileSync(
      path,
      JSON.stringify({
        startedAt: START,
        settings: { intervalMs: I },
        ticks: 5,
        rules: [{ name: 'users', query: 'users', samples }],
      }),
    );
    const r = await replay(path);
    expect(shown(r.rules[0].samples)).toEqual([
      [I + 3, 0],
      [2 * I, 1],
      [3 * I, null],
      [4 * I, 2],
      [5 * I + 1, 3],
    ]);
  });

  test('a replay at a finer interval than recorded samples on its own schedule between recorded instants', async () => {
    const times = [1, 2, 3].map((k) => START + k * 1000);
    const path = join(dir, 'coarse.json');
    const samples = times.map((t, k) => ({ t, value: k }));
    writeFileSync(
      path,
      JSON.stringify({
        startedAt: START,
        settings: { intervalMs: 1000 },
        rules: [{ name: 'users', query: 'users', samples }],
      }),
    );
    const r = await replay(path, { interval: '500ms' });
    expect(shown(r.rules[0].samples)).toEqual([
      [500, null],
      [1000, 0],
      [1500, 0],
      [2000, 1],
      [2500, 1],
      [3000, 2],
    ]);
  });
});

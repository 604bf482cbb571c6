// source: replay — a report recorded from a real Prometheus watch replays to the same verdict and breaches;
// changed rules replayed on it give the verdict they would have given; a 10,000-sample recording replays;
// bad files and unknown rules fail with messages naming the input or the rule; the action end to end.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { metricWatchAction } from '../../src/metrics/action.js';
import { writeReport } from '../../src/metrics/report.js';
import { parseWatchSettings, type ParseOptions } from '../../src/metrics/settings.js';
import { createSource } from '../../src/metrics/sources/index.js';
import type { Breach, WatchResult } from '../../src/metrics/types.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { recorder } from './helpers.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';

const RULES = [
  '- name: concurrent users',
  '  query: shop_concurrent_users',
  '  max-drop: 30%',
  '  for: 2',
  '- name: users per host',
  '  query: shop_concurrent_users{instance="{host}"}',
  '  max: 100',
  '- name: revenue per minute',
  '  query: sum(rate(shop_revenue_total[10s])) * 60',
  '  min: 1000',
].join('\n');

let app: MetricsApp;
let prom: PrometheusServer;
let dir: string;
let live: WatchResult;
let reportPath: string;

const replay = (values: Record<string, string>, options: ParseOptions = {}) =>
  runWatch(
    parseWatchSettings(objectInputs({ source: 'replay', url: reportPath, ...values }), { env: {}, ...options }),
    { logger: new MemoryLogger() },
  );

const breachKeys = (b: Breach[]) =>
  b.map(({ rule, check, value, bound, host, when, since, baseline }) => ({
    rule,
    check,
    value,
    bound,
    host,
    when,
    since,
    baseline,
  }));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-replay-'));
  app = await startMetricsApp();
  app.setGauge('shop_concurrent_users', 50);
  app.setRate('shop_revenue_total', 6000);
  prom = await startPrometheus([app.host], 'shop_concurrent_users');
  // A few seconds of healthy history for before:1m, then a watch during which concurrent users drop.
  await waitForHistory(prom, 'shop_concurrent_users', 8);
  const settings = parseWatchSettings(
    objectInputs({
      source: 'prometheus',
      url: prom.url,
      hosts: app.host,
      duration: '10s',
      interval: '250ms',
      baseline: 'before:1m',
      rules: RULES,
    }),
    { env: {} },
  );
  const watching = runWatch(settings, { logger: new MemoryLogger() });
  await new Promise((r) => setTimeout(r, 1200));
  app.setGauge('shop_concurrent_users', 20);
  live = await watching;
  app.setGauge('shop_concurrent_users', 50);
  reportPath = writeReport(live, { RUNNER_TEMP: dir });
}, 60_000);

afterAll(async () => {
  await prom?.close();
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('replay of a report recorded from a real Prometheus watch', () => {
  test('the live watch failed on the drop (the recording under test)', () => {
    expect(live.verdict).toBe('fail');
    expect(live.breaches).toEqual([
      expect.objectContaining({ rule: 'concurrent users', check: 'max-drop', value: 20, bound: 35, baseline: 50 }),
    ]);
    expect(live.endedEarly).toMatch(/concurrent users/);
    expect(live.rules[1].samples.every((s) => s.host === app.host)).toBe(true);
  });

  test('the same rules replay to the same verdict, breaches and samples, on the recorded clock', async () => {
    const started = performance.now();
    const r = await replay({ baseline: 'before:1m', rules: RULES });
    expect(performance.now() - started).toBeLessThan(live.ticks * 250); // no real waiting
    expect(r.verdict).toBe(live.verdict);
    expect(breachKeys(r.breaches)).toEqual(breachKeys(live.breaches));
    expect(r.rules.map((x) => [x.name, x.verdict])).toEqual(live.rules.map((x) => [x.name, x.verdict]));
    expect(r.ticks).toBe(live.ticks);
    expect(r.startedAt).toBe(live.startedAt);
    expect(r.endedEarly).toBe(live.endedEarly);
    // Hosts (none given) come from the recording, and so does the baseline's median from before the watch.
    expect(r.hosts).toEqual(live.hosts);
    expect(r.rules[0].baselineValues).toEqual(live.rules[0].baselineValues);
    for (let i = 0; i < live.rules.length; i++) {
      const keys = (x: WatchResult) =>
        x.rules[i].samples.map((s) => ({
          t: s.t,
          host: s.host,
          value: s.value,
          state: s.state,
          check: s.check,
          bound: s.bound,
        }));
      expect(keys(r)).toEqual(keys(live));
    }
    expect(r.settings).toMatchObject({ source: 'replay', durationMs: live.ticks * 250, intervalMs: 250 });
  });

  test('a looser bound replayed on the same deploy passes; rules match by query, then by name', async () => {
    const looser = RULES.replace('max-drop: 30%', 'max-drop: 70%')
      .replace('- name: concurrent users', '- name: users (renamed, matched by query)')
      .replace('sum(rate(shop_revenue_total[10s])) * 60', 'sum(rate(shop_revenue_total[10s])) * 60 / 100'); // matched by name
    const r = await replay({ baseline: 'before:1m', rules: looser });
    expect(r.verdict).toBe('pass');
    expect(r.breaches).toEqual([]);
    expect(r.ticks).toBe(live.ticks); // the recorded span, not the live watch's 10 s
    expect(r.rules[0].samples.map((s) => s.value)).toEqual(live.rules[0].samples.map((s) => s.value));
    expect(r.rules[0].samples.some((s) => s.value === 20)).toBe(true);
    expect(r.rules[2].samples.map((s) => s.value)).toEqual(live.rules[2].samples.map((s) => s.value));
  });

  test('a stricter rule fails where it would have: at the first recorded reading under its bound', async () => {
    const r = await replay({ rules: '- name: concurrent users\n  query: shop_concurrent_users\n  min: 45' });
    const first = live.rules[0].samples.find((s) => s.value !== null && s.value < 45)!;
    expect(r.verdict).toBe('fail');
    expect(r.breaches).toEqual([
      expect.objectContaining({
        rule: 'concurrent users',
        check: 'min',
        value: 20,
        bound: 45,
        when: new Date(first.t).toISOString(),
      }),
    ]);
    expect(new Date(r.breaches[0].when).getTime()).toBeLessThanOrEqual(new Date(live.breaches[0].when).getTime());
  });

  test('metric-watch with source replay end to end: outputs, a report that itself replays, fail-on never', async () => {
    const runnerTemp = join(dir, 'runner');
    mkdirSync(runnerTemp);
    // A replayed failure pages nobody, even with an alert channel configured.
    const hook = await recorder(200, 'ok');
    const logger = new MemoryLogger();
    const out = await metricWatchAction(
      objectInputs({
        source: 'replay',
        url: reportPath,
        baseline: 'before:1m',
        rules: RULES,
        'fail-on': 'never',
        'alert-webhook': `${hook.url}/hooks/T0/B0/X`,
      }),
      logger,
      {
        env: { RUNNER_TEMP: runnerTemp },
        context: { repository: 'shop/web', runUrl: 'https://github.com/shop/web/actions/runs/5' },
      },
    );
    await hook.close();
    expect(hook.requests).toEqual([]);
    expect(logger.lines.join('\n')).toContain('source replay: no alerts are sent for a replayed watch');
    expect(out.outputs.verdict).toBe('fail');
    expect(out.failure).toBeUndefined();
    expect(breachKeys(out.outputs.breaches as Breach[])).toEqual(breachKeys(live.breaches));
    const path = String(out.outputs.report);
    expect(path.startsWith(join(runnerTemp, 'fivestep'))).toBe(true);
    const report = JSON.parse(readFileSync(path, 'utf8')) as WatchResult & { kind: string };
    expect(report.kind).toBe('fivestep/metric-watch');
    expect(report.settings.source).toBe('replay');
    expect(report.rules[0].samples.length).toBe(live.rules[0].samples.length);
    expect(out.summary).toContain('replay');
    // The replay's own report replays to the same breaches.
    const again = await runWatch(
      parseWatchSettings(objectInputs({ source: 'replay', url: path, baseline: 'before:1m', rules: RULES }), {
        env: {},
      }),
      { logger: new MemoryLogger() },
    );
    expect(breachKeys(again.breaches)).toEqual(breachKeys(live.breaches));
  });
});

/** Two hosts × 5,000 ticks a second apart, sampled a few ms late as a live watch is; `spike` puts one value on b. */
function bigRecording(spike?: { tick: number; value: number }) {
  const start = Date.parse('2025-03-01T12:00:00Z');
  const at = (k: number) => start + k * 1000 + ((k * 7) % 13);
  const samples = [];
  for (let k = 1; k <= 5000; k++) {
    for (const host of ['a', 'b']) {
      const value =
        spike && host === 'b' && k === spike.tick ? spike.value : 50 + 10 * Math.sin(k / 50) + (host === 'a' ? 1 : -1);
      samples.push({ t: at(k), host, value });
    }
  }
  return {
    doc: {
      startedAt: new Date(start).toISOString(),
      rules: [{ name: 'latency', query: 'latency_ms{host="{host}"}', samples }],
    },
    at,
  };
}

describe('a recording of 10,000 samples', () => {
  test('replays every sample, with hosts, interval and duration from the recording', async () => {
    const path = join(dir, 'big.json');
    writeFileSync(path, JSON.stringify(bigRecording().doc));
    const r = await runWatch(
      parseWatchSettings(
        objectInputs({
          source: 'replay',
          url: path,
          rules: '- name: latency\n  query: latency_ms{host="{host}"}\n  max: 100',
        }),
        { env: {} },
      ),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.verdict).toBe('pass');
    expect(r.ticks).toBe(5000);
    expect(r.rules[0].samples).toHaveLength(10_000);
    expect(r.rules[0].samples.every((s) => s.value !== null)).toBe(true);
    expect(r.hosts.all).toEqual(['a', 'b']);
    expect(r.settings).toMatchObject({ intervalMs: 1000, durationMs: 5_000_000 });
  });

  test('a tighter bound fails at the recorded instant of the spike, on its host', async () => {
    const { doc, at } = bigRecording({ tick: 4321, value: 99.5 });
    const path = join(dir, 'big-spike.json');
    writeFileSync(path, JSON.stringify(doc));
    const r = await runWatch(
      parseWatchSettings(
        objectInputs({
          source: 'replay',
          url: path,
          rules: '- name: latency\n  query: latency_ms{host="{host}"}\n  max: 99',
        }),
        { env: {} },
      ),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.verdict).toBe('fail');
    expect(r.breaches).toEqual([
      expect.objectContaining({
        rule: 'latency',
        check: 'max',
        host: 'b',
        value: 99.5,
        bound: 99,
        when: new Date(at(4321)).toISOString(),
      }),
    ]);
    expect(r.ticks).toBe(4321);
    expect(r.rules[0].samples).toHaveLength(2 * 4321);
  });
});

test('a live tick whose timer fired a millisecond early (by the wall clock) replays at its recorded instant, not 1 ms later', async () => {
  // Ticks scheduled at start + k × 250 ms; the second was sampled 1 ms before its schedule, the others late.
  const start = 1_796_622_523_000;
  const times = [start + 251, start + 499, start + 752, start + 1000];
  const path = join(dir, 'early-tick.json');
  writeFileSync(
    path,
    JSON.stringify({
      startedAt: new Date(start).toISOString(),
      settings: { intervalMs: 250 },
      ticks: 4,
      rules: [{ name: 'users', query: 'users', samples: times.map((t) => ({ t, value: 50 })) }],
    }),
  );
  const r = await runWatch(
    parseWatchSettings(
      objectInputs({ source: 'replay', url: path, rules: '- name: users\n  query: users\n  min: 10' }),
      { env: {} },
    ),
    { logger: new MemoryLogger() },
  );
  expect(r.rules[0].samples.map((x) => [x.t, x.value])).toEqual(times.map((t) => [t, 50]));
});

describe('replay errors', () => {
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const settingsFor = (url: string, values: Record<string, string> = {}) =>
    parseWatchSettings(
      objectInputs({ source: 'replay', url, rules: '- name: latency\n  query: latency_ms\n  max: 100', ...values }),
      { env: {} },
    );
  const minimal = {
    rules: [
      {
        name: 'latency',
        query: 'latency_ms',
        samples: [1, 2, 3].map((k) => ({ t: 1_700_000_000_000 + k * 1000, value: 10 })),
      },
    ],
  };

  test('a missing file, a directory or an http URL is refused at the input, naming url', () => {
    expect(() => settingsFor(join(dir, 'nope.json'))).toThrow(/input 'url'.*no such file.*report/);
    expect(() => settingsFor(dir)).toThrow(/input 'url'.*is not a file/);
    expect(() => settingsFor('https://prometheus.example.com')).toThrow(/input 'url'.*no such file/);
    // A file deleted after the settings were read is reported by the source, also naming url.
    const gone = file('gone.json', minimal);
    const settings = settingsFor(gone);
    rmSync(gone);
    expect(() => createSource(settings)).toThrow(/input 'url'.*gone\.json: no such file/);
  });

  test.each([
    ['not JSON', 'not json {', /input 'url'.*is not JSON/],
    ['a JSON list', [1, 2], /input 'url'.*is not a metric-watch report .* or a recording .*: it holds a JSON list/],
    [
      'another report kind',
      { kind: 'fivestep/ssh-rollout', rules: [] },
      /input 'url'.*its kind is "fivestep\/ssh-rollout"/,
    ],
    [
      'a newer report version',
      { kind: 'fivestep/metric-watch', version: 99, rules: [] },
      /input 'url'.*version 99; this metric-watch reads version 1/,
    ],
    ['no rules list', { verdict: 'pass' }, /input 'url'.*has no 'rules' list/],
    [
      'a rule without samples',
      { rules: [{ name: 'latency', query: 'latency_ms' }] },
      /input 'url'.*rule 1 \('latency'\) has no 'samples' list/,
    ],
    [
      'a rule without query',
      { rules: [{ name: 'latency', samples: [] }] },
      /input 'url'.*rule 1 \('latency'\) has no 'query'/,
    ],
    ['a rule without name', { rules: [{ query: 'latency_ms', samples: [] }] }, /input 'url'.*rule 1 has no 'name'/],
    [
      'a bad instant',
      { rules: [{ name: 'latency', query: 'q', samples: [{ t: 'yesterday', value: 1 }] }] },
      /rule 1 \('latency'\) samples\[0\]: 't' must be a time/,
    ],
    [
      'a bad value',
      { rules: [{ name: 'latency', query: 'q', samples: [{ t: 1, value: 'high' }] }] },
      /samples\[0\]: 'value' must be a number or null/,
    ],
    ['no samples at all', { rules: [{ name: 'latency', query: 'q', samples: [] }] }, /input 'url'.*holds no samples/],
  ])('%s', async (name, content, message) => {
    const path = file(`${name.replace(/\W+/g, '-')}.json`, content);
    await expect(runWatch(settingsFor(path), { logger: new MemoryLogger() })).rejects.toThrow(message);
  });

  test('a rule in neither query nor name in the recording fails, naming it and listing the recorded rules', async () => {
    const r = await runWatch(
      settingsFor(file('minimal.json', minimal), {
        rules: '- name: errors\n  query: error_rate\n  max: 0.01\n- name: latency\n  query: latency_ms\n  max: 100',
      }),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.verdict).toBe('fail');
    expect(r.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(
        /rule 'errors'.*no rule with its query 'error_rate' nor its name; recorded rules: 'latency' \(query latency_ms\)/,
      ),
    });
    expect(r.breaches[0]).toMatchObject({ rule: 'errors', check: 'error' });
  });

  test('baseline before: on a recording without readings from before fails the rule, saying so', async () => {
    const r = await runWatch(
      settingsFor(file('minimal.json', minimal), {
        baseline: 'before:10m',
        rules: '- name: latency\n  query: latency_ms\n  max-rise: 20%',
      }),
      { logger: new MemoryLogger() },
    );
    expect(r.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/no readings from before the watch \(baselineHistory\)/),
    });
  });

  test('past the end of the recording there is no data, with a reason, not the last value forever', async () => {
    const r = await runWatch(
      settingsFor(file('minimal.json', minimal), {
        duration: '6s',
        rules: '- name: latency\n  query: latency_ms\n  max: 100\n  no-data: inconclusive',
      }),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.rules[0].samples.map((s) => s.value)).toEqual([10, 10, 10, null, null, null]);
    expect(r.rules[0]).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringMatching(/no recorded reading at .*: the recording ends at 2023-11-14T22:13:23\.000Z/),
    });
    // A gap inside the recording is no data too (a reading an interval old is not held).
    const gap = {
      rules: [
        {
          name: 'latency',
          query: 'latency_ms',
          samples: [1, 2, 3, 6, 7].map((k) => ({ t: 1_700_000_000_000 + k * 1000, value: k })),
        },
      ],
      settings: { intervalMs: 1000 },
    };
    const g = await runWatch(
      settingsFor(file('gap.json', gap), {
        rules: '- name: latency\n  query: latency_ms\n  max: 100\n  no-data: pass',
      }),
      { logger: new MemoryLogger() },
    );
    expect(g.rules[0].samples.map((s) => s.value)).toEqual([1, 2, 3, null, null, 6, 7]);
    expect(g.rules[0].samples[3].reason).toMatch(
      /no recorded reading within 1s before .* \(the one before is at 2023-11-14T22:13:23\.000Z\)/,
    );
  });

  test('a per-host rule on a recording that is not per host, and a too short interval, are explained', async () => {
    const r = await runWatch(
      settingsFor(file('minimal.json', minimal), {
        hosts: 'web1',
        rules: '- name: latency\n  query: latency_ms{host="{host}"}\n  max: 100\n  no-data: inconclusive',
      }),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.rules[0].reason).toMatch(
      /no readings of host web1 for rule 'latency' \(it holds one series that is not per host\)/,
    );
    expect(() => settingsFor(file('minimal.json', minimal), { interval: '10ms' })).toThrow(/input 'interval'/);
    expect(() =>
      parseWatchSettings(
        objectInputs({
          source: 'replay',
          url: file('minimal.json', minimal),
          rules: '- name: x\n  query: q\n  max: 1',
        }),
        { env: {}, hostsAtRunTime: true },
      ),
    ).toThrow(/input 'source'.*rollout/);
  });
});

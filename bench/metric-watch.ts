// Benchmark: time from a breach appearing at an openmetrics endpoint to metric-watch's verdict, interval 1s.
// The breach lands at a different phase of the interval in each run, so the figures cover the whole cycle.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../src/common/logger.js';
import { objectInputs } from '../src/common/inputs.js';
import { parseWatchSettings } from '../src/metrics/settings.js';
import { runWatch } from '../src/metrics/watch.js';
import { startMetricsApp } from '../test/servers/metrics-app.js';

export interface MetricWatchBench {
  name: string;
  intervalMs: number;
  /** Milliseconds from the breach to the verdict, per run. */
  gauge: number[];
  counter: number[];
  /** Milliseconds to replay a 10,000-sample recording (source: replay), per run. */
  replay: number[];
  lines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(kind: 'gauge' | 'counter', phaseMs: number): Promise<number> {
  const app = await startMetricsApp();
  try {
    app.setGauge('shop_concurrent_users', 50);
    app.setRate('shop_revenue_total', 6000);
    const rule =
      kind === 'gauge'
        ? '- name: concurrent users\n  query: shop_concurrent_users\n  min: 10'
        : '- name: revenue per minute\n  query: shop_revenue_total\n  min: 1000';
    const settings = parseWatchSettings(
      objectInputs({ source: 'openmetrics', url: `${app.url}/metrics`, duration: '30s', interval: '1s', rules: rule }),
      { env: {} },
    );
    const watch = runWatch(settings, { logger: new MemoryLogger() });
    // Two healthy samples first, then the breach at the chosen phase of the interval.
    await sleep(2000 + phaseMs);
    const breachAt = performance.now();
    if (kind === 'gauge') app.setGauge('shop_concurrent_users', 3);
    else app.setRate('shop_revenue_total', 0);
    const result = await watch;
    if (result.verdict !== 'fail') throw new Error(`bench: expected a fail verdict, got ${result.verdict}`);
    return performance.now() - breachAt;
  } finally {
    await app.close();
  }
}

/** source: replay of a recording of 10,000 samples (2 hosts × 5,000 ticks a second apart): load, replay, verdict. */
export async function benchReplay(runs = 3): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-bench-replay-'));
  try {
    const start = Date.parse('2025-03-01T12:00:00Z');
    const samples = [];
    for (let k = 1; k <= 5000; k++) {
      for (const host of ['a', 'b'])
        samples.push({ t: start + k * 1000 + ((k * 7) % 13), host, value: 50 + 10 * Math.sin(k / 50) });
    }
    const path = join(dir, 'recording.json');
    writeFileSync(
      path,
      JSON.stringify({
        startedAt: new Date(start).toISOString(),
        rules: [{ name: 'latency', query: 'latency_ms{host="{host}"}', samples }],
      }),
    );
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const began = performance.now();
      const settings = parseWatchSettings(
        objectInputs({
          source: 'replay',
          url: path,
          rules: '- name: latency\n  query: latency_ms{host="{host}"}\n  max: 100',
        }),
        { env: {} },
      );
      const result = await runWatch(settings, { logger: new MemoryLogger() });
      times.push(performance.now() - began);
      const n = result.rules[0].samples.length;
      if (result.verdict !== 'pass' || n !== 10_000)
        throw new Error(`bench: replay gave ${result.verdict} with ${n} samples, expected pass with 10000`);
    }
    return times;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchMetricWatch(runs = 3, log: (line: string) => void = console.log): Promise<MetricWatchBench> {
  const phases = Array.from({ length: runs }, (_, i) => Math.round(((i + 0.5) * 1000) / runs));
  const gauge: number[] = [];
  const counter: number[] = [];
  for (const p of phases) gauge.push(await once('gauge', p));
  for (const p of phases) counter.push(await once('counter', p));
  const replay = await benchReplay(runs);
  const fmt = (xs: number[]) =>
    `median ${(median(xs) / 1000).toFixed(2)} s, max ${(Math.max(...xs) / 1000).toFixed(2)} s (n=${xs.length})`;
  const lines = [
    `metric-watch breach→verdict, openmetrics, interval 1s, gauge below min:         ${fmt(gauge)}`,
    `metric-watch breach→verdict, openmetrics, interval 1s, counter rate below min:  ${fmt(counter)}`,
    `metric-watch replay of a 10,000-sample recording (2 hosts × 5,000 ticks):     ${fmt(replay)} (target < 1 s)`,
  ];
  lines.forEach((l) => log(l));
  return { name: 'metric-watch', intervalMs: 1000, gauge, counter, replay, lines };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchMetricWatch();
}

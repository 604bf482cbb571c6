// Child process of judge-scale.test.ts: judges one rule of a large fleet and prints what it cost, so the
// peak memory measured is the judge's alone. Args: canary hosts, baseline hosts, readings per host.
import { judge } from '../../src/metrics/judge.js';

const [canaries, baselines, readings] = process.argv.slice(2).map(Number);
let s = 7;
const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
// Gauges on a 0.1 grid around each host's own level: ties, host-to-host differences.
const series = (level: number) => Array.from({ length: readings }, () => Math.round((level + next() * 20) * 10) / 10);
const canary = new Map(Array.from({ length: canaries }, (_, h) => [`c${h}`, series(100 + (h % 5))]));
const baseline = new Map(Array.from({ length: baselines }, (_, h) => [`b${h}`, series(100 + (h % 5))]));

const before = process.resourceUsage().maxRSS;
// A look during the watch (after every reading: no Mann-Whitney figures), then the final judgement with them.
const l0 = performance.now();
const look = { taken: readings, planned: readings };
judge({ direction: 'decrease', confidence: 0.98, canary, baseline, design: 'hosts', look, mannWhitney: false });
const lookMs = performance.now() - l0;
const t0 = performance.now();
const c = judge({ direction: 'decrease', confidence: 0.98, canary, baseline, design: 'hosts', look });
const ms = performance.now() - t0;
const grewMb = (process.resourceUsage().maxRSS - before) / 1024;
process.stdout.write(
  `${JSON.stringify({ ms, lookMs, grewMb, significant: c.significant, readings: c.readings, mannWhitney: c.mannWhitney })}\n`,
);

// Benchmark: how often the canary judge fails a healthy canary and catches a regressed one, and how early,
// over seeded simulated bakes with the noise real metrics have, side by side with release 2's judge (one test
// at the end of each bake at 1 − confidence: bench/previous-judge.ts) and the method both replace (every
// reading pooled into one Mann-Whitney test, direction from the Hodges-Lehmann shift, as Kayenta does). Then
// whole rollouts (waves 1, 25%, 100% over 8 hosts, two rules) through the real rollout watch, and the cost of
// one judgement over 1,000 hosts.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryLogger } from '../src/common/logger.js';
import { mean, variance } from '../src/metrics/stats.js';
import { judge as previousJudge } from './previous-judge.js';
import { createRolloutWatch, parseRolloutWatch } from '../src/metrics/rollout-watch.js';
import type { Readings, SampleRequest } from '../src/metrics/sources/types.js';
import type { Direction } from '../src/metrics/types.js';
import {
  hostReadings,
  NOISE_MODELS,
  pooledMannWhitneyFails,
  RULE_KINDS,
  directionOf,
  seededRandom,
  simulate,
  type NoiseModel,
} from '../test/metrics/simulated-bakes.js';

export interface CanaryJudgeBench {
  trials: number;
  healthy: { model: NoiseModel; fleet: string; kind: string; judge: number; previous: number; pooled: number }[];
  regressions: {
    what: string;
    model: NoiseModel;
    fleet: string;
    judge: number;
    medianAt: number;
    previous: number;
    pooled: number;
    /** Counts: a t test on host means at the end, its threshold set to the judge's measured false-fail rate. */
    tTest?: number;
  }[];
  rollouts: {
    what: string;
    /** Stopped at all; `byJudge`: by a compare rule (what `confidence` bounds), the rest by a bound. */
    judge: number;
    byJudge: number;
    previous: number;
    pooled: number;
    stoppedAt: Record<string, number>;
  }[];
  scale: { hosts: number; readings: number; lookMs: number; ms: number; grewMb: number };
  lines: string[];
}

const FLEETS = [1, 2, 3, 7];

const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(6);

function healthyFigures(trials: number) {
  const rows: CanaryJudgeBench['healthy'] = [];
  for (const model of NOISE_MODELS) {
    for (const baselines of FLEETS) {
      for (const { kind, rule } of RULE_KINDS) {
        const r = simulate(
          { model, canaries: 1, baselines, readings: 20, effect: 1, direction: directionOf(rule), confidence: 0.98 },
          trials,
          1000 + baselines,
        );
        rows.push({ model, fleet: `1+${baselines}`, kind, judge: r.judge, previous: r.previous, pooled: r.pooled });
      }
    }
  }
  return rows;
}

function regressionFigures(trials: number) {
  const rows: CanaryJudgeBench['regressions'] = [];
  for (const baselines of [7, 3, 2]) {
    for (const model of ['independent', 'ar1', 'offsets', 'ar1+offsets'] as const) {
      const r = simulate(
        { model, canaries: 1, baselines, readings: 20, effect: 0.7, direction: 'decrease', confidence: 0.98 },
        trials,
        2000,
      );
      rows.push({ what: '30% drop', model, fleet: `1+${baselines}`, ...r });
    }
  }
  const counts = { canaries: 1, baselines: 7, readings: 20, direction: 'increase', confidence: 0.98 } as const;
  for (const model of ['counts', 'rare'] as const) {
    const healthy = simulate({ ...counts, model, effect: 1 }, trials, 3000);
    const r = simulate({ ...counts, model, effect: 2 }, trials, 3000);
    const tTest = tTestAtRate(model, Math.max(healthy.judge, 1 / trials), trials);
    rows.push({ what: 'doubled error count', model, fleet: '1+7', ...r, tTest });
  }
  return rows;
}

/**
 * The power of a plain t test on host means (1+7, 20 intervals, one test at the end) whose threshold is set
 * so that it fails healthy canaries at `rate`, the judge's own measured rate: power at the same calibration.
 */
function tTestAtRate(model: NoiseModel, rate: number, trials: number): number {
  const t = (effect: number, random: () => number) => {
    const mc = mean(hostReadings(model, 20, effect, random));
    const mb = Array.from({ length: 7 }, () => mean(hostReadings(model, 20, 1, random)));
    const s2 = variance(mb);
    return s2 > 0 ? (mc - mean(mb)) / Math.sqrt(s2 + s2 / 7) : mc > mean(mb) ? Infinity : 0;
  };
  const healthyRandom = seededRandom(5000);
  const healthy = Array.from({ length: 4 * trials }, () => t(1, healthyRandom)).sort((a, b) => a - b);
  const threshold = healthy[Math.min(healthy.length - 1, Math.ceil((1 - rate) * healthy.length))];
  const random = seededRandom(5001);
  let caught = 0;
  for (let i = 0; i < trials; i++) if (t(2, random) > threshold) caught++;
  return caught / trials;
}

const HOSTS = Array.from({ length: 8 }, (_, i) => `10.0.0.${i + 1}`);
const WAVES = [[0], [1, 2], [3, 4, 5, 6, 7]];
const TICKS = 20;
const RULES =
  'rules:\n  - name: revenue\n    query: revenue{host="{host}"}\n    max-drop: 50%\n    for: 2\n    compare: true\n  - name: errors\n    query: errors{host="{host}"}\n    max-rise: 5\n    compare: true\n';
const settings = parseRolloutWatch(
  `url: http://{host}:9100/metrics\nsource: openmetrics\ninterval: 1s\nbaseline: hosts\n${RULES}`,
  {},
);

/** One rollout's readings: per host, the whole rollout's series (AR(1) + offsets revenue, 0..3 error counts). */
function rolloutSeries(random: () => number, revenueEffect: number, revenueNoise: NoiseModel) {
  const total = TICKS * WAVES.length;
  const switchedAt = new Map<number, number>();
  WAVES.forEach((w, i) => w.forEach((h) => switchedAt.set(h, i * TICKS)));
  return HOSTS.map((_, h) => {
    const revenue = hostReadings(revenueNoise, total, 1, random);
    const errors = hostReadings('counts', total, 1, random);
    // The regression starts when the host switches and stays.
    for (let t = switchedAt.get(h)!; t < total; t++) revenue[t] *= revenueEffect;
    return { revenue, errors };
  });
}

/** The rollout as the watch runs it now; 'fail' at the first wave whose bake fails, or 'pass'. */
async function judgeRollout(series: ReturnType<typeof rolloutSeries>): Promise<string> {
  let t = 0;
  const t0 = 1_700_000_000_000;
  const source = {
    async sample(req: SampleRequest): Promise<Readings> {
      const tick = Math.round((req.at - t0) / 1000) - 1;
      return new Map(
        req.hosts.map((host) => [
          host,
          { value: series[HOSTS.indexOf(host)][req.rule.name === 'revenue' ? 'revenue' : 'errors'][tick] },
        ]),
      );
    },
  };
  const clock = { now: () => t0 + t, sleep: async (ms: number) => void (t += ms) };
  const watch = createRolloutWatch(settings, {
    logger: new MemoryLogger(),
    allHosts: HOSTS,
    extra: { source, ...clock },
  });
  for (const [i, wave] of WAVES.entries()) {
    t = i * TICKS * 1000;
    // The bench bakes after every wave, the last one included (against its own readings before): 3 bakes.
    const result = await watch(
      wave.map((h) => HOSTS[h]),
      TICKS * 1000,
      undefined,
      { bakes: WAVES.length },
    );
    // Which stopped it: the judge (a compare breach) or a rule's bound on a single reading.
    if (result.verdict === 'fail')
      return `wave ${i + 1} ${result.breaches.some((b) => b.check === 'compare') ? 'judge' : 'bound'}`;
  }
  return 'pass';
}

/** Release 2's judge: each bake's rules tested once at its end at 1 − confidence; the last wave against its bake before. */
function previousRollout(series: ReturnType<typeof rolloutSeries>): string {
  const rules: { name: 'revenue' | 'errors'; direction: Direction }[] = [
    { name: 'revenue', direction: 'decrease' },
    { name: 'errors', direction: 'increase' },
  ];
  const window = (h: number, name: 'revenue' | 'errors', i: number) =>
    series[h][name].slice(i * TICKS, (i + 1) * TICKS);
  const switched = new Set<number>();
  for (const [i, wave] of WAVES.entries()) {
    const others = HOSTS.map((_, h) => h).filter((h) => !wave.includes(h) && !switched.has(h));
    for (const r of rules) {
      const canary = new Map(wave.map((h) => [`h${h}`, window(h, r.name, i)]));
      const c =
        others.length > 0
          ? previousJudge({
              direction: r.direction,
              confidence: 0.98,
              canary,
              baseline: new Map(others.map((h) => [`h${h}`, window(h, r.name, i)])),
              design: 'hosts',
              mannWhitney: false,
            })
          : previousJudge({
              direction: r.direction,
              confidence: 0.98,
              canary,
              baseline: new Map(wave.map((h) => [`h${h}`, window(h, r.name, i - 1)])),
              design: 'before',
              mannWhitney: false,
            });
      if (c.significant) return `wave ${i + 1}`;
    }
    wave.forEach((h) => switched.add(h));
  }
  return 'pass';
}

/** The method replaced: each wave against every host outside it (switched ones included), pooled Mann-Whitney. */
function pooledRollout(series: ReturnType<typeof rolloutSeries>): string {
  const rules: { name: 'revenue' | 'errors'; direction: Direction }[] = [
    { name: 'revenue', direction: 'decrease' },
    { name: 'errors', direction: 'increase' },
  ];
  for (const [i, wave] of WAVES.entries()) {
    const window = (h: number, name: 'revenue' | 'errors') => series[h][name].slice(i * TICKS, (i + 1) * TICKS);
    const others = HOSTS.map((_, h) => h).filter((h) => !wave.includes(h));
    for (const r of rules) {
      if (
        pooledMannWhitneyFails(
          wave.map((h) => window(h, r.name)),
          others.map((h) => window(h, r.name)),
          r.direction,
          0.98,
        )
      )
        return `wave ${i + 1}`;
    }
  }
  return 'pass';
}

export async function rolloutFigures(trials: number) {
  const rows: CanaryJudgeBench['rollouts'] = [];
  for (const [what, effect, noise] of [
    ['healthy, revenue independent', 1, 'independent'],
    ['healthy, revenue AR(1)', 1, 'ar1'],
    ['healthy, revenue offsets', 1, 'offsets'],
    ['healthy, revenue AR(1)+offsets', 1, 'ar1+offsets'],
    ['losing 30% revenue, AR(1)+offsets', 0.7, 'ar1+offsets'],
  ] as const) {
    const random = seededRandom(4000 + Math.round(effect * 10));
    let judged = 0;
    let byJudge = 0;
    let previous = 0;
    let pooled = 0;
    const stoppedAt: Record<string, number> = {};
    for (let k = 0; k < trials; k++) {
      const series = rolloutSeries(random, effect, noise);
      const verdict = await judgeRollout(series);
      if (verdict !== 'pass') {
        judged++;
        if (verdict.endsWith('judge')) byJudge++;
        stoppedAt[verdict] = (stoppedAt[verdict] ?? 0) + 1;
      }
      if (previousRollout(series) !== 'pass') previous++;
      if (pooledRollout(series) !== 'pass') pooled++;
    }
    rows.push({
      what,
      judge: judged / trials,
      byJudge: byJudge / trials,
      previous: previous / trials,
      pooled: pooled / trials,
      stoppedAt,
    });
  }
  return rows;
}

/** One judgement over 1,000 hosts × 20 readings (250 canaries, a 25% wave), in a child process: its own memory. */
function scaleFigures(): CanaryJudgeBench['scale'] {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(here, '..', 'test', 'metrics', 'judge-scale.ts'), '250', '750', '20'],
    { encoding: 'utf8', cwd: join(here, '..') },
  );
  const cost = JSON.parse(child.stdout) as { ms: number; lookMs: number; grewMb: number };
  return { hosts: 1000, readings: 20, lookMs: cost.lookMs, ms: cost.ms, grewMb: cost.grewMb };
}

const cell = (r: { judge: number; previous: number; pooled: number }) =>
  `${pct(r.judge)} |${pct(r.previous)} |${pct(r.pooled)}`;

export async function benchCanaryJudge(
  trials = 1000,
  log: (line: string) => void = console.log,
): Promise<CanaryJudgeBench> {
  const healthy = healthyFigures(trials);
  const regressions = regressionFigures(trials);
  const rollouts = await rolloutFigures(trials);
  const scale = scaleFigures();
  const lines: string[] = [
    `canary judge, ${trials} seeded bakes a scenario, 20 readings a host, confidence 0.98, looked at after every ` +
      'reading: share of bakes failed, judge | release 2 (one test at the end) | pooled Mann-Whitney (Kayenta)',
    `  healthy canary        fleet  ${RULE_KINDS.map((k) => k.kind.padEnd(26)).join('')}`,
  ];
  for (const model of NOISE_MODELS) {
    for (const fleet of FLEETS.map((b) => `1+${b}`)) {
      const cells = RULE_KINDS.map((k) =>
        healthy.find((r) => r.model === model && r.fleet === fleet && r.kind === k.kind)!,
      ).map((r) => `${cell(r)}  `);
      lines.push(`  ${model.padEnd(22)}${fleet.padEnd(7)}${cells.join('')}`);
    }
  }
  const worst = Math.max(...healthy.map((r) => r.judge));
  const worstPrevious = Math.max(...healthy.map((r) => r.previous));
  const worstPooled = Math.max(...healthy.map((r) => r.pooled));
  lines.push(
    `  worst healthy false-failure rate: judge ${pct(worst).trim()} (at most 2% promised), release 2 ` +
      `${pct(worstPrevious).trim()}, pooled Mann-Whitney ${pct(worstPooled).trim()}`,
  );
  lines.push("  regressed canary (share caught; median look of the judge's verdict, as a share of the bake):");
  for (const r of regressions) {
    const t = r.tTest === undefined ? '' : ` | t test on host means at the judge's false-fail rate ${pct(r.tTest)}`;
    const at = Number.isNaN(r.medianAt) ? '  -  ' : `${Math.round(100 * r.medianAt)}%`.padStart(5);
    lines.push(
      `  ${`${r.what}, ${r.model}, ${r.fleet}`.padEnd(38)}judge ${pct(r.judge)} at ${at} | release 2 ` +
        `${pct(r.previous)} | pooled ${pct(r.pooled)}${t}`,
    );
  }
  lines.push(
    `whole rollouts, waves 1, 25%, 100% over 8 hosts (a bake after each, 3 in all), rules revenue (max-drop 50% + ` +
      `compare) and errors (Poisson 0.72, max-rise 5 + compare), ${trials} each:`,
  );
  for (const r of rollouts) {
    const where =
      Object.entries(r.stoppedAt)
        .sort()
        .map(([w, n]) => `${w} ${n}`)
        .join(', ') || 'none';
    lines.push(
      `  ${r.what.padEnd(34)}stopped: ${pct(r.judge)}, by the judge ${pct(r.byJudge)} (at ${where}) | ` +
        `release 2's judge ${pct(r.previous)} | pooled Mann-Whitney ${pct(r.pooled)}`,
    );
  }
  lines.push(
    `one judgement over ${scale.hosts} hosts × ${scale.readings} readings (250 canaries): a look during the ` +
      `watch ${scale.lookMs.toFixed(1)} ms, the final one with Mann-Whitney ${scale.ms.toFixed(1)} ms, memory ` +
      `+${scale.grewMb.toFixed(1)} MB`,
  );
  lines.forEach((l) => log(l));
  return { trials, healthy, regressions, rollouts, scale, lines };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchCanaryJudge(Number(process.argv[2] ?? 1000));
}

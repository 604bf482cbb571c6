// Benchmark: how often the canary judge fails a healthy canary and catches a regressed one, over seeded
// simulated bakes with the noise real metrics have, side by side with the method it replaces (every
// reading pooled into one Mann-Whitney test, direction from the Hodges-Lehmann shift, as Kayenta does).
// Then whole rollouts (waves 1, 25%, 100% over 8 hosts, two rules) through the real rollout watch.
import { MemoryLogger } from '../src/common/logger.js';
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
  healthy: { model: NoiseModel; fleet: string; kind: string; judge: number; pooled: number }[];
  regressions: { what: string; model: NoiseModel; judge: number; pooled: number }[];
  rollouts: { what: string; judge: number; pooled: number; stoppedAt: Record<string, number> }[];
  lines: string[];
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(6);

function healthyFigures(trials: number) {
  const rows: CanaryJudgeBench['healthy'] = [];
  for (const model of NOISE_MODELS) {
    for (const baselines of [3, 7]) {
      for (const { kind, rule } of RULE_KINDS) {
        const r = simulate(
          { model, canaries: 1, baselines, readings: 20, effect: 1, direction: directionOf(rule), confidence: 0.98 },
          trials,
          1000 + baselines,
        );
        rows.push({ model, fleet: `1+${baselines}`, kind, judge: r.judge, pooled: r.pooled });
      }
    }
  }
  return rows;
}

function regressionFigures(trials: number) {
  const rows: CanaryJudgeBench['regressions'] = [];
  for (const model of ['independent', 'ar1', 'offsets', 'ar1+offsets'] as const) {
    const r = simulate(
      { model, canaries: 1, baselines: 7, readings: 20, effect: 0.7, direction: 'decrease', confidence: 0.98 },
      trials,
      2000,
    );
    rows.push({ what: '30% drop', model, judge: r.judge, pooled: r.pooled });
  }
  for (const model of ['counts', 'rare'] as const) {
    const r = simulate(
      { model, canaries: 1, baselines: 7, readings: 20, effect: 2, direction: 'increase', confidence: 0.98 },
      trials,
      3000,
    );
    rows.push({ what: 'doubled error count', model, judge: r.judge, pooled: r.pooled });
  }
  return rows;
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
function rolloutSeries(random: () => number, revenueEffect: number) {
  const total = TICKS * WAVES.length;
  const switchedAt = new Map<number, number>();
  WAVES.forEach((w, i) => w.forEach((h) => switchedAt.set(h, i * TICKS)));
  return HOSTS.map((_, h) => {
    const revenue = hostReadings('ar1+offsets', total, 1, random);
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
    const result = await watch(
      wave.map((h) => HOSTS[h]),
      TICKS * 1000,
    );
    if (result.verdict === 'fail') return `wave ${i + 1}`;
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

async function rolloutFigures(trials: number) {
  const rows: CanaryJudgeBench['rollouts'] = [];
  for (const [what, effect] of [
    ['healthy release', 1],
    ['release losing 30% revenue', 0.7],
  ] as const) {
    const random = seededRandom(4000 + Math.round(effect * 10));
    let judged = 0;
    let pooled = 0;
    const stoppedAt: Record<string, number> = {};
    for (let k = 0; k < trials; k++) {
      const series = rolloutSeries(random, effect);
      const verdict = await judgeRollout(series);
      if (verdict !== 'pass') {
        judged++;
        stoppedAt[verdict] = (stoppedAt[verdict] ?? 0) + 1;
      }
      if (pooledRollout(series) !== 'pass') pooled++;
    }
    rows.push({ what, judge: judged / trials, pooled: pooled / trials, stoppedAt });
  }
  return rows;
}

export async function benchCanaryJudge(
  trials = 1000,
  log: (line: string) => void = console.log,
): Promise<CanaryJudgeBench> {
  const healthy = healthyFigures(trials);
  const regressions = regressionFigures(trials);
  const rollouts = await rolloutFigures(trials);
  const lines: string[] = [
    `canary judge, ${trials} seeded bakes a scenario, 20 readings a host, confidence 0.98: share of bakes failed, judge (host means) | pooled Mann-Whitney (Kayenta's method)`,
    `  healthy canary        fleet  ${RULE_KINDS.map((k) => k.kind.padEnd(15)).join('')}`,
  ];
  for (const model of NOISE_MODELS) {
    for (const fleet of ['1+3', '1+7']) {
      const cells = RULE_KINDS.map((k) =>
        healthy.find((r) => r.model === model && r.fleet === fleet && r.kind === k.kind)!,
      ).map((r) => `${pct(r.judge)} |${pct(r.pooled)}  `);
      lines.push(`  ${model.padEnd(22)}${fleet.padEnd(7)}${cells.join('')}`);
    }
  }
  const worst = Math.max(...healthy.map((r) => r.judge));
  const worstPooled = Math.max(...healthy.map((r) => r.pooled));
  lines.push(
    `  worst healthy false-failure rate: judge ${pct(worst).trim()} (target at most 3%), pooled Mann-Whitney ${pct(worstPooled).trim()}`,
  );
  lines.push('  regressed canary, 1+7 hosts (share caught):');
  for (const r of regressions)
    lines.push(`  ${`${r.what}, ${r.model}`.padEnd(34)}judge ${pct(r.judge)} | pooled ${pct(r.pooled)}`);
  lines.push(
    `whole rollouts, waves 1, 25%, 100% over 8 hosts, rules revenue (AR(1)+offsets, max-drop 50% + compare) and errors (0..3, max-rise 5 + compare), ${trials} each:`,
  );
  for (const r of rollouts) {
    const where =
      Object.entries(r.stoppedAt)
        .sort()
        .map(([w, n]) => `${w} ${n}`)
        .join(', ') || 'none';
    lines.push(
      `  ${r.what.padEnd(28)}stopped: judge ${pct(r.judge)} (at ${where}) | pooled Mann-Whitney ${pct(r.pooled)}`,
    );
  }
  lines.forEach((l) => log(l));
  return { trials, healthy, regressions, rollouts, lines };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchCanaryJudge(Number(process.argv[2] ?? 1000));
}

// Benchmark: how soon production alerting pages, from the rules `fivestep rules` writes. A real Prometheus (Debian's)
// scrapes an exporter every 15 s and evaluates the generated rule file every 15 s (a rule with `for: 1` sample at a
// watch interval of 15s: `for: 15s`); a real Alertmanager (Debian's, 0.25) runs the generated configuration as
// written (group_wait 10s for pages) and pages a PagerDuty Events API v2 stand-in. Measured: from the moment the
// exporter's value changes (the breach) to the trigger event arriving at the stand-in.
//
// Each trial has its own rule and gauge, so each page is a new Alertmanager group (group_wait applies, as for a
// real first page); the trials run side by side, their breaches spread over the scrape interval (a breach just
// after a scrape waits a whole interval to be seen, one just before it none). They share one Prometheus, so the
// offset between its scrapes and its evaluations is the same for all: a different server start gives another.
//
// Beside it, the scheduled-workflow fallback (.github/workflows/watch-production.yml), which is not measured: its
// figures come from the workflow's schedule and the watch's own duration, with GitHub's documented caveats quoted.
//
//   npx tsx bench/alerting.ts        (FIVESTEP_BENCH_ALERTING_RUNS=N trials, default 3; about 1.5 minutes)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { alertmanagerConfig, ROUTE_TIMINGS } from '../src/alerting/alertmanager-config.js';
import { prometheusRules } from '../src/alerting/prometheus-rules.js';
import { objectInputs, parseDuration } from '../src/common/inputs.js';
import { parseWatchSettings } from '../src/metrics/settings.js';
import { startAlertmanager } from '../test/servers/alertmanager.js';
import { startMetricsApp } from '../test/servers/metrics-app.js';
import { startPagerDuty } from '../test/servers/pagerduty.js';
import { startPrometheus } from '../test/servers/prometheus.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const INTERVAL = '15s';
const ROUTING_KEY = 'bench0bench0bench0bench0bench0be';

/** GitHub's own words on scheduled workflows ("Events that trigger workflows", schedule), quoted, not measured. */
export const GITHUB_SCHEDULE_CAVEATS = [
  'The shortest interval you can run scheduled workflows is once every 5 minutes.',
  'The schedule event can be delayed during periods of high loads of GitHub Actions workflow runs. High load times ' +
    'include the start of every hour. If the load is sufficiently high enough, some queued jobs may be dropped.',
  'In a public repository, scheduled workflows are automatically disabled when no repository activity has ' +
    'occurred in 60 days.',
];

export interface ScheduledFallback {
  workflow: string;
  cron: string;
  /** The shortest schedule GitHub runs: every 5 minutes. */
  scheduleMs: number;
  watchDurationMs: number;
  /** A rule failing hard ends the watch early: its `for` × interval into the watch (the largest of its rules). */
  earliestVerdictMs: number;
  /** On schedule: a breach waits up to one schedule period for a run, then the watch's duration to its verdict. */
  boundMs: number;
  caveats: string[];
}

export interface AlertingBench {
  name: 'alerting';
  scrapeIntervalMs: number;
  evaluationIntervalMs: number;
  forMs: number;
  groupWaitMs: number;
  /** for + 2 evaluation intervals + group_wait: the longest a page should take. */
  targetMs: number;
  /** Milliseconds from the breach to the trigger at the PagerDuty stand-in, per trial. */
  breachToPageMs: number[];
  /** When, after a scrape, each trial's breach happened. */
  breachPhaseMs: number[];
  /** When, after a scrape, Prometheus evaluated the rules in this run (fixed for one server start). */
  evaluationAfterScrapeMs: number;
  scheduled: ScheduledFallback;
  wallMs: number;
  lines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const min = (ms: number) => `${+(ms / 60_000).toFixed(1)} min`;

/** The scheduled watch's figures, from the workflow file itself. */
export function scheduledFallback(workflow = '.github/workflows/watch-production.yml'): ScheduledFallback {
  const doc = parseYaml(readFileSync(join(REPO, workflow), 'utf8')) as {
    on: { schedule: { cron: string }[] };
    jobs: Record<string, { steps: { uses?: string; with?: Record<string, string> }[] }>;
  };
  const cron = doc.on.schedule[0].cron;
  const step = Object.values(doc.jobs)
    .flatMap((j) => j.steps)
    .find((st) => st.uses?.includes('metric-watch'));
  const watch = step?.with ?? {};
  const watchDurationMs = parseDuration('duration', watch.duration ?? '5m');
  const intervalMs = parseDuration('interval', watch.interval ?? '30s');
  const fors = [...String(watch.rules ?? '').matchAll(/^\s*for:\s*(\d+)/gm)].map((m) => Number(m[1]));
  // `*/5 * * * *` or less often: the period is the minute step (at least GitHub's 5 minutes).
  const step5 = /^\*\/(\d+) /.exec(cron);
  const scheduleMs = Math.max(5, step5 ? Number(step5[1]) : 5) * 60_000;
  return {
    workflow,
    cron,
    scheduleMs,
    watchDurationMs,
    earliestVerdictMs: Math.max(1, ...fors) * intervalMs,
    boundMs: scheduleMs + watchDurationMs,
    caveats: GITHUB_SCHEDULE_CAVEATS,
  };
}

export async function benchAlerting(
  runs = Number(process.env.FIVESTEP_BENCH_ALERTING_RUNS ?? 3),
  log: (line: string) => void = console.log,
): Promise<AlertingBench> {
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`FIVESTEP_BENCH_ALERTING_RUNS must be a whole number ≥ 1`);
  const began = performance.now();
  const intervalMs = parseDuration('interval', INTERVAL);
  const app = await startMetricsApp();
  const pagerduty = await startPagerDuty({ routingKeys: [ROUTING_KEY] });
  const gauge = (i: number) => `bench_errors_${i}`;
  const ruleName = (i: number) => `breach ${i + 1}`;
  for (let i = 0; i < runs; i++) app.setGauge(gauge(i), 0);
  const settings = parseWatchSettings(
    objectInputs({
      url: 'http://prometheus.internal:9090',
      interval: INTERVAL,
      duration: '5m',
      environment: 'bench',
      // no-data: pass, as in test/alerting/end-to-end.test.ts: absent() before the first scrape is not the breach.
      rules: Array.from(
        { length: runs },
        (_, i) => `- name: ${ruleName(i)}\n  query: ${gauge(i)}\n  max: 5\n  no-data: pass`,
      ).join('\n'),
      'pagerduty-routing-key': ROUTING_KEY,
    }),
    { env: { FIVESTEP_PAGERDUTY_URL: pagerduty.url } },
  );
  const rules = prometheusRules(settings);
  const forMs = rules.alerts[0].forMs;
  const groupWaitMs = parseDuration('group_wait', ROUTE_TIMINGS.page.group_wait);
  const am = await startAlertmanager(alertmanagerConfig(settings, {}).text);
  const prom = await startPrometheus({
    targets: [app.host],
    rules: rules.text,
    alertmanager: am.address,
    scrapeInterval: INTERVAL,
    evaluationInterval: INTERVAL,
    readyQuery: `count(fivestep:rule_value) == ${runs}`,
    timeoutMs: 90_000,
  }).catch(async (err: unknown) => {
    await am.close();
    throw err;
  });
  try {
    // A scrape's moment, seen from the exporter: the breaches are placed after it.
    const scraped = app.scrapes;
    while (app.scrapes === scraped) await sleep(2);
    const scrapeAt = performance.now();
    const scrapeWall = Date.now();
    const breachPhaseMs = Array.from({ length: runs }, (_, i) => Math.round(((i + 0.5) * intervalMs) / runs));
    const breachToPageMs = await Promise.all(
      breachPhaseMs.map(async (phase, i) => {
        await sleep(Math.max(0, scrapeAt + phase - performance.now()));
        const breachAt = performance.now();
        app.setGauge(gauge(i), 50);
        const page = await pagerduty.waitFor(
          (e) => e.event.event_action === 'trigger' && e.event.payload?.summary.includes(ruleName(i)) === true,
          forMs + 3 * intervalMs + groupWaitMs + 30_000,
        );
        return page.at - breachAt;
      }),
    );
    if (pagerduty.rejected.length > 0)
      throw new Error(`bench: PagerDuty refused ${JSON.stringify(pagerduty.rejected)}`);
    // How long after a scrape the rules are evaluated: fixed for one Prometheus start, anywhere in 0–15 s.
    const lastEvaluation = Date.parse((await prom.groups())[0].rules[0].lastEvaluation);
    const evaluationAfterScrapeMs = (((lastEvaluation - scrapeWall) % intervalMs) + intervalMs) % intervalMs;
    const targetMs = forMs + 2 * intervalMs + groupWaitMs;
    const scheduled = scheduledFallback();
    const fmt = (xs: number[]) => `median ${s(median(xs))}, max ${s(Math.max(...xs))} (n=${xs.length})`;
    const lines = [
      `alerting breach→page, Prometheus + Alertmanager (scrape and evaluation ${INTERVAL}, for ${s(forMs)}, ` +
        `group_wait ${s(groupWaitMs)}): ${fmt(breachToPageMs)}; each: ${breachToPageMs.map(s).join(', ')} ` +
        `(breach ${breachPhaseMs.map(s).join(', ')} after a scrape; evaluations ${s(evaluationAfterScrapeMs)} ` +
        'after each scrape in this run)',
      `alerting target: ≤ ${s(targetMs)} (for ${s(forMs)} + 2 evaluation intervals ${s(2 * intervalMs)} + ` +
        `group_wait ${s(groupWaitMs)}); ${breachToPageMs.every((x) => x <= targetMs) ? 'met' : 'MISSED'} by every trial`,
      `scheduled-workflow fallback (${scheduled.workflow}, cron '${scheduled.cron}'; not measured): on schedule, up to ` +
        `${min(scheduled.boundMs)} (${min(scheduled.scheduleMs)}, GitHub's shortest schedule, + the watch's ` +
        `${min(scheduled.watchDurationMs)}; a rule failing hard ends the watch ${min(scheduled.earliestVerdictMs)} ` +
        `into it), plus the runner's start`,
      ...scheduled.caveats.map((c) => `  GitHub on scheduled workflows: "${c}"`),
    ];
    lines.forEach((l) => log(l));
    return {
      name: 'alerting',
      scrapeIntervalMs: intervalMs,
      evaluationIntervalMs: intervalMs,
      forMs,
      groupWaitMs,
      targetMs,
      breachToPageMs,
      breachPhaseMs,
      evaluationAfterScrapeMs,
      scheduled,
      wallMs: performance.now() - began,
      lines,
    };
  } finally {
    await prom.close();
    await am.close();
    await Promise.all([app.close(), pagerduty.close()]);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const result = await benchAlerting();
  console.log(`bench alerting: ${s(result.wallMs)} of wall time`);
}

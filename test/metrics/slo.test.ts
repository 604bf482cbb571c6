// SLO rules in a bake: the burn rate over the watch so far against the page threshold. The window filling is
// tested pure and through the watch loop (what each source request holds); the verdicts against Debian's real
// Prometheus scraping exporters whose request counters grow at the rates the tests set.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseRules, parseWatchSettings } from '../../src/metrics/settings.js';
import type { HistoryRequest, MetricSource, Readings, SampleRequest } from '../../src/metrics/sources/types.js';
import { ruleAt, runWatch, sloWindowMs } from '../../src/metrics/watch.js';
import { summaryMarkdown, writeReport } from '../../src/metrics/report.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrometheus, type PrometheusServer } from '../servers/prometheus.js';
import { virtualClock } from './helpers.js';

const ERRORS = (host = '') => {
  const instance = host ? `,instance="${host}"` : '';
  return {
    errors: `sum(rate(http_requests_total{code=~"5.."${instance}}[{window}]))`,
    good: `sum(rate(http_requests_total{code!~"5.."${instance}}[{window}]))`,
    total: `sum(rate(http_requests_total{code=~".*"${instance}}[{window}]))`,
  };
};

/** An SLO rule in YAML: `errors:` or `good:` spelling, over the given host's series (or `{host}`). */
function sloRule(spelling: 'errors' | 'good', host = '', extra = ''): string {
  const q = ERRORS(host);
  return (
    `- name: checkout availability\n  slo: 99.9%\n  ${spelling}: '${q[spelling]}'\n  total: '${q.total}'\n` +
    (extra ? `  ${extra}\n` : '')
  );
}

describe('the window an SLO rule is read over', () => {
  test('the watch so far, at least one interval; a --once watch takes the page alert’s short window, 5m', () => {
    const t0 = 1_700_000_000_000;
    expect(sloWindowMs(t0, t0, 30_000, false)).toBe(30_000);
    expect(sloWindowMs(t0, t0 + 29_000, 30_000, false)).toBe(30_000);
    expect(sloWindowMs(t0, t0 + 90_400, 30_000, false)).toBe(90_400);
    expect(sloWindowMs(t0, t0, 30_000, true)).toBe(300_000);
  });

  test('ruleAt fills every {window} as a PromQL duration; a rule that is not an SLO rule is left as it is', () => {
    const [slo, plain] = parseRules(`${sloRule('errors')}- name: users\n  query: sum(rate(x[1m]))\n  min: 1\n`);
    expect(slo.query).toBe(
      '((sum(rate(http_requests_total{code=~"5.."}[{window}]))) / (sum(rate(http_requests_total{code=~".*"}' +
        '[{window}])))) / 0.001',
    );
    expect(ruleAt(slo, 90_400).query).toBe(
      '((sum(rate(http_requests_total{code=~"5.."}[91s]))) / (sum(rate(http_requests_total{code=~".*"}[91s])))) ' +
        '/ 0.001',
    );
    expect(ruleAt(slo, 300_000).query).toContain('[5m]');
    expect(ruleAt(slo, 7_200_000).query).toContain('[2h]');
    expect(slo.query).toContain('{window}'); // the settings' rule is not changed
    expect(ruleAt(plain, 90_000)).toBe(plain);
  });
});

/** A source that records the query of every request (sample, history, prime) and answers `value`. */
function recordingSource(value: (query: string) => number) {
  const seen: { kind: string; rule: string; query: string }[] = [];
  const answer = (req: SampleRequest): Readings =>
    new Map((req.hosts.length ? req.hosts : ['']).map((h) => [h, { value: value(req.rule.query) }]));
  const source: MetricSource = {
    async sample(req) {
      seen.push({ kind: 'sample', rule: req.rule.name, query: req.rule.query });
      return answer(req);
    },
    async prime(req) {
      seen.push({ kind: 'prime', rule: req.rule.name, query: req.rule.query });
    },
    async history(req: HistoryRequest) {
      seen.push({ kind: 'history', rule: req.rule.name, query: req.rule.query });
      return new Map((req.hosts.length ? req.hosts : ['']).map((h) => [h, [100, 100, 100]]));
    },
  };
  return { source, seen };
}

const scripted = (values: Record<string, string>) =>
  parseWatchSettings(objectInputs({ url: 'http://prom.invalid', duration: '30s', interval: '10s', ...values }), {
    env: {},
  });

describe('the watch fills {window} before every read of an SLO rule', () => {
  test('samples are read over 10s, 20s, 30s; no request (prime, history, sample) ever holds {window}', async () => {
    const { source, seen } = recordingSource((query) => (query.includes('orders_total') ? 100 : 0.5));
    const logger = new MemoryLogger();
    const s = scripted({
      baseline: 'before:1m',
      rules: `${sloRule('errors')}- name: orders\n  query: sum(rate(orders_total[1m]))\n  max-drop: 50%\n`,
    });
    const r = await runWatch(s, { logger, source, ...virtualClock() });
    expect(r.verdict).toBe('pass');
    expect(seen.every((x) => !x.query.includes('{window}'))).toBe(true);
    // The history of before:1m is asked for the relative rule only: an SLO rule has no relative bound.
    expect(seen.filter((x) => x.kind === 'history').map((x) => x.rule)).toEqual(['orders']);
    expect(seen.find((x) => x.kind === 'prime' && x.rule === 'checkout availability')?.query).toContain('[10s]');
    const ranges = seen
      .filter((x) => x.kind === 'sample' && x.rule === 'checkout availability')
      .map((x) => /\[(\w+)\]/.exec(x.query)?.[1]);
    expect(ranges).toEqual(['10s', '20s', '30s']);
    expect(logger.lines).toContain(
      "rule 'checkout availability': SLO 99.9% over 30d; fails when its burn rate over the watch so far is " +
        'above 14.4 (the page threshold)',
    );
    expect(logger.lines).toContain('[2/3] checkout availability: burn rate over 20s: 0.5');
    // The report keeps the rule's query as written, with its {window}.
    expect(r.rules[0].query).toContain('[{window}]');
  });

  test('a --once watch reads the burn rate over 5m', async () => {
    const { source, seen } = recordingSource(() => 20);
    const r = await runWatch(scripted({ rules: sloRule('good') }), {
      logger: new MemoryLogger(),
      source,
      once: true,
      ...virtualClock(),
    });
    expect(seen.filter((x) => x.kind === 'sample').map((x) => x.query)).toEqual([
      '(1 - (sum(rate(http_requests_total{code!~"5.."}[5m]))) / (sum(rate(http_requests_total{code=~".*"}[5m])))) ' +
        '/ 0.001',
    ]);
    expect(r.verdict).toBe('fail');
  });

  test('`for` and no-data work as for any rule; the breach reads as a burn rate', async () => {
    const values = [20, 0.3, 20, 30];
    let i = 0;
    const { source } = recordingSource(() => values[i++]);
    const logger = new MemoryLogger();
    const r = await runWatch(scripted({ duration: '40s', rules: sloRule('errors', '', 'for: 2') }), {
      logger,
      source,
      ...virtualClock(1_700_000_000_000),
    });
    expect(r.verdict).toBe('fail');
    expect(r.breaches).toEqual([
      {
        rule: 'checkout availability',
        check: 'max',
        value: 30,
        bound: 14.4,
        when: '2023-11-14T22:14:00.000Z',
        since: '2023-11-14T22:13:50.000Z',
        detail: 'burn rate above 14.4, the page threshold of the 99.9% SLO over 30d',
      },
    ]);
    expect(logger.lines).toContain('[4/4] checkout availability: burn rate over 40s: 30 BREACH max 14.4');
    // The job summary: the bound as a burn rate of the SLO, the chart's axis a burn rate (not the long query).
    const summary = summaryMarkdown(r);
    expect(summary).toContain('| SLO 99.9% over 30d: burn rate max 14.4, for 2 |');
    expect(summary).toContain('  y-axis "burn rate" ');

    const { source: empty } = recordingSource(() => NaN);
    const gap = await runWatch(scripted({ rules: sloRule('errors', '', 'no-data: inconclusive') }), {
      logger: new MemoryLogger(),
      source: empty,
      ...virtualClock(),
    });
    expect(gap.rules[0]).toMatchObject({ verdict: 'inconclusive', reason: expect.stringMatching(/^no data since/) });
  });
});

describe('replay', () => {
  test("an SLO rule's recorded burn rates replay to the same verdict (matched by name: the query read had a range)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fivestep-slo-'));
    try {
      const values = [5, 20, 30];
      let i = 0;
      const { source } = recordingSource(() => values[i++]);
      const rules = sloRule('errors', '', 'for: 2');
      const live = await runWatch(scripted({ rules }), { logger: new MemoryLogger(), source, ...virtualClock() });
      const path = writeReport(live, { RUNNER_TEMP: dir });
      const replayed = await runWatch(
        parseWatchSettings(objectInputs({ source: 'replay', url: path, rules }), { env: {} }),
        { logger: new MemoryLogger() },
      );
      expect(replayed.verdict).toBe('fail');
      expect(replayed.breaches).toEqual(live.breaches);
      // A looser page threshold (a 7-day SLO: 2% of the budget in an hour is a burn of 3.36) fails sooner.
      const week = await runWatch(
        parseWatchSettings(objectInputs({ source: 'replay', url: path, rules: `${rules}  window: 7d\n` }), { env: {} }),
        { logger: new MemoryLogger() },
      );
      expect(week.rules[0].samples.map((x) => x.state)).toEqual(['breach', 'breach']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A tiny exporter: `http_requests_total{code="200"}` and `{code="500"}`, growing at the rates per second set. */
interface Exporter {
  host: string;
  setRates(okPerSecond: number, errorsPerSecond: number): void;
  close(): Promise<void>;
}

async function startExporter(bind: string): Promise<Exporter> {
  // Large starting values: rate()'s extrapolation is then the same for both series (never cut at zero), so the
  // error ratio Prometheus computes is the one set.
  const counters = { ok: { base: 1e6, perSecond: 0 }, errors: { base: 1e6, perSecond: 0 } };
  let since = Date.now();
  const at = (c: { base: number; perSecond: number }, now: number) => c.base + (c.perSecond * (now - since)) / 1000;
  const server: Server = createServer((_req, res) => {
    const now = Date.now();
    const body = [
      '# TYPE http_requests_total counter',
      `http_requests_total{code="200"} ${at(counters.ok, now).toFixed(3)}`,
      `http_requests_total{code="500"} ${at(counters.errors, now).toFixed(3)}`,
      '',
    ].join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, bind, resolve));
  return {
    host: `${bind}:${(server.address() as AddressInfo).port}`,
    setRates(ok, errors) {
      const now = Date.now();
      counters.ok = { base: at(counters.ok, now), perSecond: ok };
      counters.errors = { base: at(counters.errors, now), perSecond: errors };
      since = now;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('SLO rules against a real Prometheus (99.9%: the budget is 0.1% errors)', () => {
  let healthy: Exporter;
  let bad: Exporter;
  let prom: PrometheusServer;

  beforeAll(async () => {
    // Two loopback addresses: the watch matches canaries by host name, so the hosts need names of their own.
    healthy = await startExporter('127.0.0.1');
    bad = await startExporter('127.0.0.2');
    healthy.setRates(9995, 5); // 0.05% errors: burn rate 0.5
    bad.setRates(950, 50); // 5% errors: burn rate 50
    prom = await startPrometheus([healthy.host, bad.host], 'http_requests_total');
  }, 40_000);
  afterAll(async () => {
    await prom?.close();
    await Promise.all([healthy?.close(), bad?.close()]);
  });

  const watch = (values: Record<string, string>, once = false) =>
    runWatch(
      parseWatchSettings(objectInputs({ url: prom.url, duration: '6s', interval: '3s', ...values }), { env: {} }),
      { logger: new MemoryLogger(), once },
    );

  test.each(['errors', 'good'] as const)(
    '%s: a healthy canary (burn 0.5) passes; one at 5%% errors (burn 50) fails naming the rule, burn rate and bound',
    async (spelling) => {
      const [ok, failing] = await Promise.all([
        watch({ rules: sloRule(spelling, healthy.host) }),
        watch({ rules: sloRule(spelling, bad.host) }),
      ]);
      expect(ok.verdict).toBe('pass');
      for (const s of ok.rules[0].samples) expect(s.value).toBeCloseTo(0.5, 1);

      expect(failing.verdict).toBe('fail');
      const breach = failing.breaches[0];
      expect(breach).toMatchObject({ rule: 'checkout availability', check: 'max', bound: 14.4 });
      expect(breach.value).toBeCloseTo(50, 0);
      expect(failing.rules[0].reason).toMatch(
        /^burn rate above 14\.4, the page threshold of the 99\.9% SLO over 30d \((49\.\d+|50(\.\d+)?) vs bound 14\.4\)/,
      );
      expect(failing.endedEarly).toMatch(/rule 'checkout availability' failed: burn rate above 14\.4/);
    },
    20_000,
  );

  test('per host ({host}) with canary-hosts: only the bad host fails; a healthy canary alone passes', async () => {
    const both = `${healthy.host}\n${bad.host}`;
    const [all, onlyHealthy] = await Promise.all([
      watch({ hosts: both, 'canary-hosts': both, rules: sloRule('errors', '{host}') }),
      watch({ hosts: both, 'canary-hosts': healthy.host, rules: sloRule('errors', '{host}') }),
    ]);
    expect(all.verdict).toBe('fail');
    expect(all.breaches).toEqual([expect.objectContaining({ host: bad.host, bound: 14.4 })]);
    const healthySamples = all.rules[0].samples.filter((s) => s.host === healthy.host);
    expect(healthySamples.length).toBeGreaterThan(0);
    expect(healthySamples.every((s) => s.state === 'ok')).toBe(true);

    expect(onlyHealthy.detail).toBe('all 1 rule(s) passed');
    expect(new Set(onlyHealthy.rules[0].samples.map((s) => s.host))).toEqual(new Set([healthy.host]));
  }, 20_000);

  test('a --once watch takes the last 5m (Prometheus has held the counters only seconds: the ratio still holds)', async () => {
    const r = await watch({ rules: sloRule('errors', bad.host) }, true);
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0].value).toBeCloseTo(50, 0);
  }, 20_000);
});

import { describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { hostName, matchHosts, runWatch } from '../../src/metrics/watch.js';
import { createRolloutWatch, parseRolloutWatch } from '../../src/metrics/rollout-watch.js';
import { ruleChart, summaryMarkdown, writeReport } from '../../src/metrics/report.js';
import { QueryError, scriptedSource, virtualClock } from './helpers.js';

const settings = (values: Record<string, string>) =>
  parseWatchSettings(
    objectInputs({ source: 'prometheus', url: 'http://prom.invalid', duration: '10s', interval: '1s', ...values }),
    { env: {} },
  );

describe('runWatch with a scripted source and a virtual clock', () => {
  test('a hard failure ends the watch early, with when and since', async () => {
    const clock = virtualClock();
    const src = scriptedSource((_r, _h, tick) => (tick >= 3 ? 40 : 120));
    const s = settings({ rules: '- name: revenue\n  query: revenue\n  min: 100\n  for: 2' });
    const r = await runWatch(s, { logger: new MemoryLogger(), source: src, ...clock });
    expect(r.verdict).toBe('fail');
    expect(src.ticks).toBe(4); // of 10
    expect(r.endedEarly).toMatch(/rule 'revenue' failed: below min 100/);
    expect(r.breaches).toEqual([
      expect.objectContaining({
        rule: 'revenue',
        check: 'min',
        value: 40,
        bound: 100,
        since: new Date(1_700_000_003_000).toISOString(),
        when: new Date(1_700_000_004_000).toISOString(),
      }),
    ]);
    expect(r.detail).toMatch(/revenue: fail/);
  });

  test('a full watch that stays within bounds passes with one sample per interval', async () => {
    const clock = virtualClock();
    const src = scriptedSource(() => 150);
    const r = await runWatch(settings({ rules: '- name: revenue\n  query: revenue\n  min: 100' }), {
      logger: new MemoryLogger(),
      source: src,
      ...clock,
    });
    expect(r).toMatchObject({ verdict: 'pass', ticks: 10, endedEarly: '' });
    expect(r.rules[0].samples).toHaveLength(10);
  });

  test('baseline hosts: canaries judged against the others; a compare rule fails as soon as the evidence is there', async () => {
    const clock = virtualClock();
    // web1 is the canary and serves 30% fewer orders than web2..web4 from tick 1.
    const level: Record<string, number> = { 'web1:9100': 70, 'web2:9100': 100, 'web3:9100': 99, 'web4:9100': 101 };
    const src = scriptedSource((_r, host, tick) => level[host] + (tick % 3));
    const s = settings({
      hosts: 'web1:9100\nweb2:9100\nweb3:9100\nweb4:9100',
      'canary-hosts': 'web1',
      baseline: 'hosts',
      rules:
        '- name: orders\n  query: sum(rate(orders_total{instance="{host}"}[1m]))\n  max-drop: 50%\n- name: orders-compared\n  query: orders{instance="{host}"}\n  compare: true\n  max-drop: 50%',
    });
    const r = await runWatch(s, { logger: new MemoryLogger(), source: src, ...clock });
    expect(r.hosts).toEqual({
      canary: ['web1:9100'],
      baseline: ['web2:9100', 'web3:9100', 'web4:9100'],
      all: ['web1:9100', 'web2:9100', 'web3:9100', 'web4:9100'],
    });
    const orders = r.rules[0];
    expect(orders.verdict).toBe('pass'); // a 30% drop is inside 50%, and this rule does not compare
    expect(orders.samples.every((x) => x.host === 'web1:9100' && typeof x.baseline === 'number')).toBe(true);
    // The compare rule's look at tick 6 is past its bound (tick 5, the judge's minimum of readings, had too
    // little information for its tighter bound): the watch ends there instead of waiting the regression out.
    expect(r).toMatchObject({ ticks: 6 });
    expect(r.endedEarly).toMatch(/^rule 'orders-compared' is worse than the baseline \(p=/);
    expect(orders.baselineSamples).toHaveLength(18);
    expect(orders.comparison).toMatchObject({
      method: 'host-means',
      significant: true,
      units: { canary: 1, baseline: 3 },
    });
    expect(orders.comparison!.fraction).toBeCloseTo(0.6, 12);
    expect(orders.comparison!.alpha).toBeCloseTo(0.02, 12);
    const compared = r.rules[1];
    expect(compared.verdict).toBe('fail');
    expect(compared.breach).toMatchObject({ check: 'compare', value: 71 });
    expect(compared.comparison!.relative).toBeLessThan(-25);
    expect(compared.comparison!.mannWhitney!.shift).toBeLessThan(-25);
    expect(r.verdict).toBe('fail');
  });

  test("volume rules are restated at each host's measured share of requests; a host sent nothing has no data", async () => {
    // The canary gets 10% of the requests, each of 3 peers 30%: it earns a third of what a peer earns.
    const src = scriptedSource((_r, host) => (host === 'web1' ? 100 : 300));
    const s = (volume: boolean) =>
      settings({
        hosts: 'web1\nweb2\nweb3\nweb4',
        'canary-hosts': 'web1',
        baseline: 'hosts',
        rules: `- name: orders\n  query: orders{instance="{host}"}\n  max-drop: 50%\n  for: 2\n  volume: ${volume}`,
      });
    let shares: Map<string, number> | null = new Map([
      ['web1:22', 0.1],
      ['web2:22', 0.3],
      ['web3:22', 0.3],
      ['web4:22', 0.3],
    ]);
    const trafficShares = async () => shares && new Map([...shares].map(([k, v]) => [k.split(':')[0], v]));
    const scaled = await runWatch(s(true), {
      logger: new MemoryLogger(),
      source: src,
      ...virtualClock(),
      trafficShares,
    });
    expect(scaled.verdict).toBe('pass');
    // 100 / (0.1 × 4) = 250 against 300 / (0.3 × 4) = 250.
    expect(scaled.rules[0].samples[0]).toMatchObject({ value: 250, raw: 100, share: 0.1, baseline: 250 });
    const unscaled = await runWatch(s(false), {
      logger: new MemoryLogger(),
      source: src,
      ...virtualClock(),
      trafficShares,
    });
    expect(unscaled.rules[0]).toMatchObject({ verdict: 'fail', breach: { check: 'max-drop', value: 100 } });
    shares = new Map([
      ['web1:22', 0],
      ['web2:22', 0.4],
      ['web3:22', 0.3],
      ['web4:22', 0.3],
    ]);
    const unsent = await runWatch(s(true), {
      logger: new MemoryLogger(),
      source: src,
      ...virtualClock(),
      trafficShares,
    });
    expect(unsent.rules[0].samples[0]).toMatchObject({
      value: null,
      reason: 'no request reached it at the load balancer yet (read 100)',
    });
  });

  test('NaN and ±Inf readings are no data: they reach neither a bound nor the judge', async () => {
    const clock = virtualClock();
    const src = scriptedSource((_r, host, tick) =>
      host === 'web1' && tick % 2
        ? [NaN, Infinity][tick % 4 === 1 ? 0 : 1]
        : 100 + (tick % 3) + (host === 'web1' ? 0 : Number(host.slice(3))),
    );
    const s = settings({
      hosts: 'web1\nweb2\nweb3\nweb4',
      'canary-hosts': 'web1',
      baseline: 'hosts',
      rules: '- name: users\n  query: users{instance="{host}"}\n  max: 1000\n  compare: true\n  no-data: pass',
    });
    const r = await runWatch(s, { logger: new MemoryLogger(), source: src, ...clock });
    const gaps = r.rules[0].samples.filter((x) => x.value === null);
    expect(gaps).toHaveLength(5);
    expect(gaps.map((g) => g.reason)).toEqual(
      expect.arrayContaining(['the reading is NaN (not a number)', 'the reading is Infinity (not a number)']),
    );
    expect(r.rules[0].comparison!.readings.canary).toBe(5);
    expect(r.verdict).toBe('pass');
  });

  test('baseline before: the median of the window before the watch', async () => {
    const clock = virtualClock();
    const src = scriptedSource((_r, _h, tick) => (tick < 5 ? 98 : 70), { '': [90, 100, 110, 100, 95] });
    const r = await runWatch(
      settings({ baseline: 'before:10m', rules: '- name: users\n  query: users\n  max-drop: 20%\n  for: 2' }),
      {
        logger: new MemoryLogger(),
        source: src,
        ...clock,
      },
    );
    expect(r.rules[0].baselineValues).toEqual({ '': 100 });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'max-drop', bound: 80, baseline: 100, value: 70 });
  });

  test('a query that cannot work fails its rule closed and names it; other rules are still judged', async () => {
    const clock = virtualClock();
    const src = scriptedSource((rule) =>
      rule === 'bad' ? new QueryError("rule 'bad': query 'x' returned 2 series") : 5,
    );
    const r = await runWatch(
      settings({ rules: '- name: good\n  query: y\n  max: 10\n- name: bad\n  query: x\n  max: 10' }),
      { logger: new MemoryLogger(), source: src, ...clock },
    );
    expect(r.verdict).toBe('fail');
    expect(r.rules.map((x) => x.verdict)).toEqual(['pass', 'fail']);
    expect(r.rules[1].reason).toMatch(/rule 'bad'.*2 series/);
    expect(r.breaches[0]).toMatchObject({ rule: 'bad', check: 'error' });
    expect(src.ticks).toBe(1);
  });

  test('an unreachable source is no-data for the rules that read it', async () => {
    const clock = virtualClock();
    const src = scriptedSource((_r, _h, tick) => (tick > 2 ? new Error('ECONNREFUSED') : 5));
    const r = await runWatch(settings({ rules: '- name: up\n  query: up\n  min: 1\n  for: 3' }), {
      logger: new MemoryLogger(),
      source: src,
      ...clock,
    });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'no-data', detail: expect.stringMatching(/ECONNREFUSED/) });
  });

  test('an abort ends the watch with a verdict from the samples so far', async () => {
    const clock = virtualClock();
    const controller = new AbortController();
    const src = scriptedSource((_r, _h, tick) => {
      if (tick === 2) controller.abort();
      return 5;
    });
    const r = await runWatch(settings({ rules: '- name: up\n  query: up\n  min: 1\n  for: 3' }), {
      logger: new MemoryLogger(),
      source: src,
      ...clock,
      signal: controller.signal,
    });
    expect(r).toMatchObject({ endedEarly: 'aborted', ticks: 2, verdict: 'inconclusive' });
  });
});

describe('hosts', () => {
  test('canaries match by name or exactly', () => {
    expect(hostName('deploy@web1.example.com:22')).toBe('web1.example.com');
    expect(hostName('[::1]:9100')).toBe('::1');
    expect(matchHosts(['web1:9100', 'web2:9100', '127.0.0.2:9100'], ['web2:22', '127.0.0.2'])).toEqual([
      'web2:9100',
      '127.0.0.2:9100',
    ]);
  });

  test('ssh-rollout: the baseline is the hosts still on the previous release, so a regression that spread is still caught', async () => {
    const clock = virtualClock();
    // The release halves the orders of every host it reaches; each watch reads the hosts switched so far.
    const switched = new Set<string>();
    const src = scriptedSource(
      (_r, host, tick) => (switched.has(host) ? 50 : 100) + (tick % 3) + Number(host.slice(-1)),
    );
    const s = parseRolloutWatch(
      'url: http://{host}:9100/metrics\nsource: openmetrics\ninterval: 1s\nbaseline: hosts\nrules:\n  - name: orders\n    query: orders\n    max-drop: 45%\n    for: 2\n',
      {},
    );
    const hosts = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'];
    const watch = createRolloutWatch(s, {
      logger: new MemoryLogger(),
      allHosts: hosts.map((h) => `${h}:22`),
      extra: { source: src, ...clock },
    });
    // Wave 1 slipped through (pretend the bound was not crossed): the canary is switched anyway.
    switched.add('10.0.0.1');
    await watch(['10.0.0.1:22'], 5000);
    switched.add('10.0.0.2');
    const second = await watch(['10.0.0.2:22'], 5000);
    expect(second.hosts.baseline).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5']);
    // 10.0.0.2 reads ~53 against a bound of ~58 (55% of ~105); were 10.0.0.1 (~52) in the baseline, its mean
    // would be ~92 and the bound ~50.5: the regression would pass.
    expect(second.verdict).toBe('fail');
    expect(second.rules[0].breach).toMatchObject({ check: 'max-drop', host: '10.0.0.2' });
  });

  test('ssh-rollout: the wave hosts are canaries, {host} is the host name, the bake time is the duration', async () => {
    const clock = virtualClock();
    const asked: string[][] = [];
    const src = scriptedSource((_r, host) => (host === '10.0.0.1' ? 500 : 100));
    const sample = src.sample.bind(src);
    src.sample = (req) => (asked.push(req.hosts), sample(req));
    const s = parseRolloutWatch(
      'url: http://{host}:9100/metrics\nsource: openmetrics\ninterval: 1s\nbaseline: hosts\nrules:\n  - name: latency\n    query: latency_ms\n    max-rise: 100%\n',
      {},
    );
    const watch = createRolloutWatch(s, {
      logger: new MemoryLogger(),
      allHosts: ['10.0.0.1:22', '10.0.0.2:22', '10.0.0.3:2222'],
      extra: { source: src, ...clock },
    });
    const outcome = await watch([{ host: '10.0.0.1', port: 22 }], 5000);
    expect(asked[0].sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(outcome.verdict).toBe('fail');
    expect(outcome.detail).toMatch(
      /latency: fail: rose more than 100% above the baseline \(500 vs bound 200\) on 10.0.0.1/,
    );
    expect(outcome.hosts.canary).toEqual(['10.0.0.1']);
    // The last wave leaves no host on the previous release: its hosts are compared with their own readings
    // from the bake before, when they were the baseline (100 then, 100 now).
    const last = await watch(['10.0.0.2:22', '10.0.0.3:2222'], 3000);
    expect(last.verdict).toBe('pass');
    expect(last.settings.baseline).toBe('before:wave');
    expect(last.rules[0].baselineValues).toEqual({ '10.0.0.2': 100, '10.0.0.3': 100 });
  });
});

describe('SLO rules and runbooks in a watch', () => {
  test("ssh-rollout: an SLO rule's burn rate is read over each bake so far, never with {window} left in", async () => {
    const clock = virtualClock();
    const asked: { hosts: string[]; query: string }[] = [];
    const src = scriptedSource((_r, host) => (host === '10.0.0.2' ? 30 : 0.5));
    const sample = src.sample.bind(src);
    src.sample = (req) => (asked.push({ hosts: req.hosts, query: req.rule.query }), sample(req));
    const s = parseRolloutWatch(
      [
        'url: http://prom:9090',
        'interval: 1s',
        'baseline: hosts',
        'rules:',
        '  - name: checkout',
        '    slo: 99.9%',
        `    errors: 'sum(rate(http_requests_total{code=~"5..",instance="{host}"}[{window}]))'`,
        `    total: 'sum(rate(http_requests_total{instance="{host}"}[{window}]))'`,
        '    runbook: https://wiki.example/runbooks/checkout',
      ].join('\n'),
      {},
    );
    const watch = createRolloutWatch(s, {
      logger: new MemoryLogger(),
      allHosts: ['10.0.0.1:22', '10.0.0.2:22'],
      extra: { source: src, ...clock },
    });
    const first = await watch(['10.0.0.1:22'], 3000);
    expect(first.verdict).toBe('pass');
    const last = await watch(['10.0.0.2:22'], 2000);
    const ranges = asked.map((a) => /\[(\w+)\]/.exec(a.query)?.[1]);
    // Each bake reads from its own start: 1s, 2s, 3s, then 1s again (and the last bake fails at its first).
    expect(ranges).toEqual(['1s', '2s', '3s', '1s']);
    expect(asked.some((a) => a.query.includes('{window}'))).toBe(false);
    expect(last.verdict).toBe('fail');
    expect(last.breaches).toEqual([
      expect.objectContaining({
        rule: 'checkout',
        host: '10.0.0.2',
        value: 30,
        bound: 14.4,
        runbook: 'https://wiki.example/runbooks/checkout',
      }),
    ]);
  });
});

describe('report and summary', () => {
  test('every sample in the JSON report; a Mermaid xychart with the bound and a table in the summary', async () => {
    const clock = virtualClock();
    const src = scriptedSource((_r, _h, tick) => (tick === 4 ? null : 100 + tick));
    const r = await runWatch(
      settings({
        duration: '6s',
        rules:
          '- name: revenue per minute\n  query: sum(rate(shop_revenue_total[1m])) * 60\n  min: 100\n  max: 200\n  no-data: pass',
      }),
      {
        logger: new MemoryLogger(),
        source: src,
        ...clock,
      },
    );
    const chart = ruleChart(r.rules[0])!;
    expect(chart).toContain('xychart-beta');
    expect(chart).toContain('title "revenue per minute"');
    expect(chart).toContain('line [101, 102, 103, 103, 105, 106]'); // the gap repeats the last value
    expect(chart).toContain('line [100, 100, 100, 100, 100, 100]');
    expect(chart).toContain('line [200, 200, 200, 200, 200, 200]');
    const md = summaryMarkdown(r);
    expect(md).toContain('| revenue per minute | 106 | min 100, max 200 | — | 6 (1 no data) | ✅ pass |');
    const path = writeReport(r, { RUNNER_TEMP: '/tmp/fivestep-test-report' });
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc).toMatchObject({ kind: 'fivestep/metric-watch', verdict: 'pass' });
    expect(doc.rules[0].samples).toHaveLength(6);
    rmSync('/tmp/fivestep-test-report', { recursive: true, force: true });
    expect(existsSync(path)).toBe(false);
  });
});

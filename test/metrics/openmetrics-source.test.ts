// openmetrics and http-json against real HTTP endpoints on loopback, one per host, with the real clock.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';

let apps: MetricsApp[];

beforeAll(async () => {
  apps = await Promise.all([startMetricsApp(), startMetricsApp(), startMetricsApp()]);
});
afterAll(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

function healthy() {
  for (const a of apps) {
    a.failWith(0);
    a.setRate('shop_revenue_total', 6000);
    a.setGauge('shop_concurrent_users', 50);
  }
}

const settings = (values: Record<string, string>) =>
  parseWatchSettings(
    objectInputs({
      source: 'openmetrics',
      url: 'http://{host}/metrics',
      hosts: apps.map((a) => a.host).join('\n'),
      duration: '2s',
      interval: '200ms',
      ...values,
    }),
    { env: {} },
  );

describe('openmetrics source', () => {
  test('counters become per-minute rates; a revenue drop on the canary fails against baseline hosts, early', async () => {
    healthy();
    const s = settings({
      'canary-hosts': apps[0].host,
      baseline: 'hosts',
      rules:
        '- name: revenue per minute\n  query: shop_revenue_total\n  min: 1000\n  max-drop: 30%\n  for: 2\n- name: concurrent users\n  query: shop_concurrent_users\n  min: 10',
    });
    const breakAt = setTimeout(() => apps[0].setRate('shop_revenue_total', 0), 700);
    const started = Date.now();
    const r = await runWatch(s, { logger: new MemoryLogger() });
    clearTimeout(breakAt);
    expect(r.verdict).toBe('fail');
    expect(Date.now() - started).toBeLessThan(1900); // ended early, before the 2 s duration
    const revenue = r.rules[0];
    const before = revenue.samples.filter((x) => x.t < started + 650 && x.value !== null);
    expect(before.length).toBeGreaterThan(0);
    for (const x of before) expect(x.value).toBeGreaterThan(5000); // ~6000 a minute
    expect(revenue.breach).toMatchObject({ host: apps[0].host, value: expect.any(Number) });
    expect(revenue.breach!.value!).toBeLessThan(2000);
    expect(revenue.baselineSamples.every((x) => x.host !== apps[0].host)).toBe(true);
    expect(r.rules[1].verdict).toBe('pass');
  });

  test('a selector matching several series is an error naming the rule', async () => {
    healthy();
    apps[1].addShards('queue_depth');
    apps[1].setGauge('queue_depth', 3);
    const r = await runWatch(
      settings({
        hosts: apps[1].host,
        rules:
          '- name: queue\n  query: queue_depth\n  max: 10\n- name: queue total\n  query: sum(queue_depth)\n  max: 10',
      }),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'queue'.*matches 2 series.*shard="a"/),
    });
    expect(r.rules[1].samples[0].value).toBe(6);
  });

  test('an endpoint that stays down is no-data (retried first)', async () => {
    healthy();
    apps[2].failWith(503);
    const before = apps[2].scrapes;
    const r = await runWatch(
      settings({
        hosts: apps[2].host,
        duration: '1s',
        rules: '- name: users\n  query: shop_concurrent_users\n  min: 1\n  for: 2',
      }),
      {
        logger: new MemoryLogger(),
      },
    );
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'no-data', detail: expect.stringMatching(/HTTP 503/) });
    expect(apps[2].scrapes - before).toBeGreaterThanOrEqual(6); // 3 attempts for each of at least 2 samples
    apps[2].failWith(0);
  });
});

describe('http-json source', () => {
  test('a dotted path per host; missing is no-data, an object is an error', async () => {
    healthy();
    apps[0].setGauge('shop_concurrent_users', 42);
    const s = parseWatchSettings(
      objectInputs({
        source: 'http-json',
        url: 'http://{host}/status.json',
        hosts: `${apps[0].host}\n${apps[1].host}`,
        duration: '600ms',
        interval: '200ms',
        rules:
          '- name: users\n  query: shop.users.concurrent\n  min: 10\n- name: first\n  query: list[0].value\n  max: 100\n- name: missing\n  query: shop.orders\n  min: 1\n  no-data: inconclusive',
      }),
      { env: {} },
    );
    const r = await runWatch(s, { logger: new MemoryLogger() });
    const [users, first, missing] = r.rules;
    expect(users.verdict).toBe('pass');
    expect(users.samples.filter((x) => x.host === apps[0].host).map((x) => x.value)).toEqual([42, 42, 42]);
    expect(first.samples[0].value).toBe(42);
    expect(missing).toMatchObject({ verdict: 'inconclusive', reason: expect.stringMatching(/no 'shop.orders'/) });
    // A path at an object can never be a number: the rule fails closed at once and ends the watch.
    const bad = await runWatch(
      {
        ...s,
        rules: parseWatchSettings(
          objectInputs({ url: s.url, hosts: apps[0].host, rules: '- name: object\n  query: shop.users\n  min: 1' }),
          { env: {} },
        ).rules,
      },
      {
        logger: new MemoryLogger(),
      },
    );
    expect(bad.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'object'.*points at an object/),
    });
    expect(bad.ticks).toBe(1);
  });
});

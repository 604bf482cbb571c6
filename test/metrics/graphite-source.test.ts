// The graphite source against a stand-in answering as graphite-web's render API documents.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startGraphite, type GraphiteServer } from '../servers/graphite.js';

const ctx = { repository: 'shop/web', runUrl: 'https://github.com/shop/web/actions/runs/11' };
let graphite: GraphiteServer;
let startedAt: number;

beforeAll(async () => {
  graphite = await startGraphite(1);
  startedAt = Math.floor(Date.now() / 1000);
  // Revenue was 600/min until the watch, then falls to 300/min; users has gaps on odd seconds.
  graphite.setSeries('shop.revenue.per_minute', (t) => (t < startedAt ? 600 : 300));
  graphite.setSeries('shop.users.web1', (t) => (t % 2 ? null : 80));
  graphite.setSeries('shop.users.web2', () => 90);
});
afterAll(async () => {
  await graphite.close();
});

const watch = (values: Record<string, string>) =>
  runWatch(parseWatchSettings(objectInputs({ source: 'graphite', url: graphite.url, duration: '600ms', interval: '200ms', ...values }), { env: {} }), {
    logger: new MemoryLogger(),
    context: ctx,
    alerts: false,
  });

describe('graphite source', () => {
  test('the newest non-null point of a target; per host with {host}', async () => {
    const r = await watch({ hosts: 'web1\nweb2', rules: '- name: users\n  query: shop.users.{host}\n  min: 50' });
    expect(r.verdict).toBe('pass');
    expect(r.rules[0].samples.filter((s) => s.host === 'web1').every((s) => s.value === 80)).toBe(true);
    expect(r.rules[0].samples.filter((s) => s.host === 'web2').every((s) => s.value === 90)).toBe(true);
    const q = graphite.requests[graphite.requests.length - 1];
    expect(q.get('format')).toBe('json');
    expect(q.get('from')).toBe('-60s');
    expect(q.get('until')).toBe('now');
  });

  test('baseline before:<duration> asks for absolute Unix seconds and takes the median', async () => {
    graphite.requests.length = 0;
    const r = await watch({ baseline: 'before:5m', rules: '- name: revenue per minute\n  query: shop.revenue.per_minute\n  max-drop: 20%' });
    expect(r.rules[0].baselineValues).toEqual({ '': 600 });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'max-drop', value: 300, bound: 480 });
    const history = graphite.requests[0];
    expect(Number(history.get('until')) - Number(history.get('from'))).toBeGreaterThanOrEqual(300);
  });

  test('a glob matching several series is an error naming the rule; nothing matching is no-data', async () => {
    const r = await watch({ rules: '- name: all users\n  query: shop.users.*\n  min: 1' });
    expect(r.rules[0]).toMatchObject({ verdict: 'fail', reason: expect.stringMatching(/rule 'all users'.*returned 2 series.*sumSeries/) });
    const none = await watch({ rules: '- name: ghost\n  query: shop.ghost\n  min: 1\n  no-data: pass' });
    expect(none.rules[0]).toMatchObject({ verdict: 'pass' });
    expect(none.rules[0].samples[0].reason).toMatch(/no points/);
  });
});

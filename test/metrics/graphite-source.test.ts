// The graphite source against Debian's real graphite-web 1.1.8 and carbon-cache 1.1.7 (test/servers/graphite-web.ts):
// each test writes its series into carbon with explicit timestamps (past points for a before: window, points
// up to now for the watch) and waits until graphite-web serves them, so what the watch reads is fixed.
// The stand-in (test/servers/graphite.ts) is kept only for answers a real graphite-web cannot be made to
// give on demand: a 500, a body that is not JSON, JSON that is not a render result (last describe).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startGraphite, type GraphiteServer } from '../servers/graphite.js';
import { startRealGraphite, type CarbonPoint, type RealGraphite, type RenderSeries } from '../servers/graphite-web.js';

const nowSec = () => Math.floor(Date.now() / 1000);
const range = (from: number, to: number, step = 1) =>
  Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);
const valueAt = (s: RenderSeries | undefined, t: number) => s?.datapoints.find(([, at]) => at === t)?.[0];

const watchAt = (url: string, values: Record<string, string>) =>
  runWatch(
    parseWatchSettings(objectInputs({ source: 'graphite', url, duration: '600ms', interval: '200ms', ...values }), {
      env: {},
    }),
    {
      logger: new MemoryLogger(),
    },
  );

describe('graphite source (real graphite-web 1.1.8 + carbon-cache)', () => {
  let graphite: RealGraphite;
  beforeAll(async () => {
    graphite = await startRealGraphite();
  }, 60_000);
  afterAll(async () => {
    await graphite?.close();
  });
  const watch = (values: Record<string, string>) => watchAt(graphite.url, values);
  const rendersOf = (target: string) => graphite.requests.filter((r) => r.params.get('target') === target);

  test('the newest non-null point of a target; per host with {host}', async () => {
    const now = nowSec();
    const newest = now - 2;
    // web1 reports every other second (gaps), 70 until its newest point, 80; nothing after it. web2: 90 each second.
    const points: CarbonPoint[] = [
      ...range(newest - 40, newest, 2).map((t): CarbonPoint => ['shop.users.web1', t === newest ? 80 : 70, t]),
      ...range(now - 40, now).map((t): CarbonPoint => ['shop.users.web2', 90, t]),
    ];
    await graphite.sendMany(points);
    const [web1] = await graphite.waitFor('shop.users.web1', (s) => valueAt(s[0], newest) === 80, { from: '-60s' });
    await graphite.waitFor('shop.users.web2', (s) => valueAt(s[0], now) === 90, { from: '-60s' });
    // What the real server answers: a point per second, null in the gaps and in the trailing seconds.
    expect(valueAt(web1, newest - 1)).toBeNull();
    expect(web1.datapoints[web1.datapoints.length - 1][0]).toBeNull();

    const r = await watch({ hosts: 'web1\nweb2', rules: '- name: users\n  query: shop.users.{host}\n  min: 50' });
    expect(r.verdict).toBe('pass');
    const web1Samples = r.rules[0].samples.filter((s) => s.host === 'web1');
    expect(web1Samples.length).toBeGreaterThanOrEqual(2);
    expect(web1Samples.every((s) => s.value === 80)).toBe(true);
    expect(r.rules[0].samples.filter((s) => s.host === 'web2').every((s) => s.value === 90)).toBe(true);
    // graphite-web took the relative window as sent and answered 200.
    const q = rendersOf('shop.users.web1').at(-1)!;
    expect(q.status).toBe(200);
    expect(q.params.get('format')).toBe('json');
    expect(q.params.get('from')).toBe('-60s');
    expect(q.params.get('until')).toBe('now');
  });

  test('baseline before:<duration> asks for absolute Unix seconds and takes the median', async () => {
    const now = nowSec();
    // Revenue was 600/min for the last minutes, then fell to 300/min in the last 10 s before the watch.
    await graphite.sendMany([
      ...range(now - 400, now - 10).map((t): CarbonPoint => ['shop.revenue.per_minute', 600, t]),
      ...range(now - 9, now).map((t): CarbonPoint => ['shop.revenue.per_minute', 300, t]),
    ]);
    await graphite.waitFor(
      'shop.revenue.per_minute',
      (s) => valueAt(s[0], now - 400) === 600 && valueAt(s[0], now) === 300,
      { from: `${now - 401}`, until: `${now}` },
    );

    const r = await watch({
      baseline: 'before:5m',
      rules: '- name: revenue per minute\n  query: shop.revenue.per_minute\n  max-drop: 20%',
    });
    expect(r.rules[0].baselineValues).toEqual({ '': 600 });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'max-drop', value: 300, bound: 480 });
    const history = rendersOf('shop.revenue.per_minute').find((q) => q.params.get('until') !== 'now')!;
    expect(history.status).toBe(200);
    expect(history.params.get('from')).toMatch(/^\d{10}$/);
    expect(history.params.get('until')).toMatch(/^\d{10}$/);
    expect(Number(history.params.get('until')) - Number(history.params.get('from'))).toBeGreaterThanOrEqual(300);
  });

  test('a glob matching several series is an error naming the rule; an aggregate of it works', async () => {
    const now = nowSec();
    await graphite.sendMany(
      range(now - 5, now).flatMap((t): CarbonPoint[] => [
        ['shop.sessions.web1', 5, t],
        ['shop.sessions.web2', 7, t],
      ]),
    );
    await graphite.waitFor(
      'shop.sessions.*',
      (s) => s.length === 2 && s.every((x) => valueAt(x, now) !== undefined && valueAt(x, now) !== null),
      { from: '-60s' },
    );

    const r = await watch({ rules: '- name: all sessions\n  query: shop.sessions.*\n  min: 1' });
    expect(r.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'all sessions'.*returned 2 series.*sumSeries/),
    });
    // What the error suggests, and a target with a comma, quotes and a space: graphite-web must get it verbatim.
    const fixed = await watch({
      rules:
        '- name: sessions\n  query: sumSeries(shop.sessions.*)\n  min: 10\n- name: web one\n  query: "alias(shop.sessions.web1, \'web one\')"\n  max: 6',
    });
    expect(fixed.verdict).toBe('pass');
    expect(fixed.rules[0].samples.every((s) => s.value === 12)).toBe(true);
    expect(fixed.rules[1].samples.every((s) => s.value === 5)).toBe(true);
    expect(rendersOf("alias(shop.sessions.web1, 'web one')").every((q) => q.status === 200)).toBe(true);
  });

  test('nothing matching, or a series with only older points, is no-data', async () => {
    const now = nowSec();
    // An old series: its whisper file exists, so graphite-web answers it, but with nulls in the last 60 s.
    await graphite.sendMany(range(now - 300, now - 200, 10).map((t): CarbonPoint => ['shop.stale', 1, t]));
    await graphite.waitFor('shop.stale', (s) => valueAt(s[0], now - 200) === 1, {
      from: `${now - 301}`,
      until: `${now}`,
    });
    expect(await graphite.render('shop.stale', '-60s', 'now')).toEqual([
      { target: 'shop.stale', tags: { name: 'shop.stale' }, datapoints: expect.any(Array) },
    ]);
    expect(await graphite.render('shop.ghost', '-60s', 'now')).toEqual([]);

    const r = await watch({
      rules:
        '- name: ghost\n  query: shop.ghost\n  min: 1\n  no-data: pass\n- name: stale\n  query: shop.stale\n  min: 1\n  no-data: pass',
    });
    expect(r.rules[0]).toMatchObject({ verdict: 'pass' });
    expect(r.rules[0].samples[0].reason).toMatch(/target 'shop.ghost' has no points in the last 60s/);
    expect(r.rules[1]).toMatchObject({ verdict: 'pass' });
    expect(r.rules[1].samples[0].reason).toMatch(/target 'shop.stale' has no points in the last 60s/);
  });

  test("a target graphite-web rejects (HTTP 400) fails the rule at once, with graphite's words", async () => {
    const before = graphite.requests.length;
    const r = await watch({ rules: '- name: typo\n  query: sumSerie(shop.sessions.*)\n  max: 1' });
    expect(r.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'typo'.*HTTP 400.*unknown function: sumSerie/),
    });
    // Not retried: one request (runserver logs it just after answering).
    const typos = () =>
      graphite.requests.slice(before).filter((q) => q.params.get('target') === 'sumSerie(shop.sessions.*)');
    for (const t0 = Date.now(); typos().length === 0 && Date.now() - t0 < 2000;)
      await new Promise((r) => setTimeout(r, 20));
    expect(typos().map((q) => q.status)).toEqual([400]);
  });
});

// Failure modes a real graphite-web does not produce on demand: a 500 from its backend, an HTML error page or
// other non-JSON body from a proxy in front of it, JSON that is not a render result.
describe('graphite source (stand-in: broken answers)', () => {
  let standIn: GraphiteServer;
  beforeAll(async () => {
    standIn = await startGraphite(1);
  });
  afterAll(async () => {
    await standIn?.close();
  });
  const watch = (values: Record<string, string>) => watchAt(standIn.url, values);

  test('a 500 is retried, then no-data naming the status', async () => {
    standIn.answerWith({ status: 500, body: 'Internal Server Error' });
    standIn.requests.length = 0;
    const r = await watch({ rules: '- name: users\n  query: shop.users\n  min: 1\n  no-data: inconclusive' });
    standIn.answerWith(null);
    expect(r.rules[0].verdict).toBe('inconclusive');
    expect(r.rules[0].samples[0]).toMatchObject({
      value: null,
      reason: expect.stringMatching(/unreachable: HTTP 500/),
    });
    expect(standIn.requests.length).toBeGreaterThanOrEqual(3); // 1 + 2 retries for the first sample
  });

  test('a body that is not JSON is no-data; JSON that is not a render result fails the rule', async () => {
    standIn.answerWith({ status: 200, body: '<html>502 Bad Gateway</html>' });
    const html = await watch({ rules: '- name: users\n  query: shop.users\n  min: 1\n  no-data: inconclusive' });
    standIn.answerWith({ status: 200, body: '{"error": "no such target"}' });
    const object = await watch({ rules: '- name: users\n  query: shop.users\n  min: 1' });
    standIn.answerWith(null);
    expect(html.rules[0].samples[0].reason).toMatch(/not JSON: <html>502 Bad Gateway/);
    expect(object.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'users'.*not a render result/),
    });
  });
});

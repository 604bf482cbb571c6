// A 3-VM fleet against Debian's real Prometheus: 1 canary and 2 other hosts, steadily apart. The watch reads
// each host's history over the watch's length before it (query_range) and judges the canary's change against
// the others' (difference in differences). A site-wide move is left to the pure test (small-fleet.test.ts):
// Prometheus scrapes each target at its own offset, so a step taken by every host at once reaches the
// readings of one instant at different times. The rule asks confidence 0.9999 so that a healthy run is
// failed at most once in 10,000 (a test must not fail by design), which a 30% drop still passes at once.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';
import { gaussian, seededRandom } from './simulated-bakes.js';

const GAUGE = 'shop_revenue_per_minute';
// Each host's steady level: the canary (first) sells 15% less than its peers even on the same release.
const LEVELS = [85, 100, 110];

let apps: MetricsApp[] = [];
let prom: PrometheusServer;
let timer: NodeJS.Timeout;
/** Multiplies the canary's level. */
const scale = { canary: 1 };

beforeAll(async () => {
  // Three addresses, as three VMs have: canary-hosts names a host, whatever its port.
  apps = await Promise.all(LEVELS.map((_, i) => startMetricsApp(`127.0.0.${i + 1}`)));
  // Readings vary a little from one scrape to the next, as real revenue does.
  const normal = gaussian(seededRandom(26));
  const set = () =>
    apps.forEach((app, i) => app.setGauge(GAUGE, LEVELS[i] * (i === 0 ? scale.canary : 1) + 1.5 * normal()));
  set();
  timer = setInterval(set, 200);
  prom = await startPrometheus(
    apps.map((a) => a.host),
    GAUGE,
  );
  // The watch compares with the 15 s before it: wait until every host has that much history.
  await waitForHistory(prom, GAUGE, 15, '16s', 40_000, 3);
}, 90_000);

afterAll(async () => {
  clearInterval(timer);
  await prom?.close();
  await Promise.all(apps.map((a) => a.close()));
});

const settings = () =>
  parseWatchSettings(
    objectInputs({
      source: 'prometheus',
      url: prom.url,
      hosts: apps.map((a) => a.host).join('\n'),
      'canary-hosts': apps[0].host,
      baseline: 'hosts',
      duration: '15s',
      interval: '1s',
      rules:
        `- name: revenue\n  query: ${GAUGE}{instance="{host}"}\n  max-drop: 90%\n  compare: true\n` +
        '  confidence: 0.9999',
    }),
  );

describe('1 canary + 2 baseline hosts on a real Prometheus', () => {
  test('a healthy canary selling 15% less than its peers, as it always has: pass, not a regression', async () => {
    scale.canary = 1;
    const logger = new MemoryLogger();
    const r = await runWatch(settings(), { logger });
    expect(logger.lines.join('\n')).toMatch(/2 baseline host\(s\): each host is also compared with its own readings/);
    expect(r.rules[0].comparison).toMatchObject({ method: 'differences', significant: false, fraction: 1 });
    expect(r.verdict).toBe('pass');
  }, 60_000);

  test('the canary losing 30%: fail during the watch, well before its end', async () => {
    scale.canary = 0.7;
    const r = await runWatch(settings(), { logger: new MemoryLogger() });
    expect(r.verdict).toBe('fail');
    expect(r.rules[0].comparison).toMatchObject({ method: 'differences', significant: true });
    expect(r.endedEarly).toMatch(/^rule 'revenue' is worse than the baseline/);
    expect(r.ticks).toBeLessThan(15);
  }, 60_000);
});

// ssh-rollout with canary-weight: each volume reading is restated at the shares of requests over the span its
// own rate covers ([at − range, at]; one interval without a range), asked of the balancer by that span.
import { MemoryLogger } from '../../src/common/logger.js';
import { createRolloutWatch, parseRolloutWatch } from '../../src/metrics/rollout-watch.js';
import { scriptedSource, virtualClock } from './helpers.js';

test("each volume rule's reading is restated at the shares over its own window, by host name", async () => {
  const clock = virtualClock();
  const t0 = clock.now();
  const asked: { from: number; to: number }[] = [];
  // The balancer: over a minute the canary had a quarter of the requests (most of it before the bake), over the
  // last second a tenth.
  const trafficShares = async (window?: { from: number; to: number }) => {
    if (!window) return null;
    asked.push(window);
    const canary = window.to - window.from > 1000 ? 0.25 : 0.1;
    const rest = (1 - canary) / 3;
    return new Map([
      ['10.0.0.1:22', canary],
      ['10.0.0.2:22', rest],
      ['10.0.0.3:22', rest],
      ['10.0.0.4:2222', rest],
    ]);
  };
  // What each host reads is what its share of each window earns: restated at an equal share, 100 everywhere.
  const src = scriptedSource((rule, host) => {
    if (rule === 'per minute') return 100;
    return host === '10.0.0.1' ? 40 : 120;
  });
  const s = parseRolloutWatch(
    [
      'url: http://prom:9090',
      'interval: 1s',
      'baseline: hosts',
      'rules:',
      '  - name: per minute',
      '    query: sum(rate(orders_total{instance="{host}"}[1m]))',
      '    max-drop: 20%',
      '    volume: true',
      '  - name: per scrape',
      '    query: orders{instance="{host}"}',
      '    max-drop: 20%',
      '    volume: true',
      '  - name: latency',
      '    query: latency{instance="{host}"}',
      '    max: 1000',
    ].join('\n'),
    {},
  );
  const watch = createRolloutWatch(s, {
    logger: new MemoryLogger(),
    allHosts: ['10.0.0.1:22', '10.0.0.2:22', '10.0.0.3:22', '10.0.0.4:2222'],
    extra: { source: src, ...clock },
  });
  const r = await watch(['10.0.0.1:22'], 2000, undefined, { trafficShares });
  // One window per volume rule and reading; the latency rule asks for none.
  const at = [t0 + 1000, t0 + 2000];
  expect(asked.sort((a, b) => a.to - b.to || a.from - b.from)).toEqual([
    { from: at[0] - 60_000, to: at[0] },
    { from: at[0] - 1000, to: at[0] },
    { from: at[1] - 60_000, to: at[1] },
    { from: at[1] - 1000, to: at[1] },
  ]);
  const [minute, scrape] = r.rules;
  expect(minute.samples[0]).toMatchObject({ host: '10.0.0.1', value: 100, raw: 100, share: 0.25, baseline: 100 });
  expect(scrape.samples[0]).toMatchObject({ host: '10.0.0.1', value: 100, raw: 40, share: 0.1 });
  expect(scrape.samples[0].baseline).toBeCloseTo(100, 9);
  expect(r.verdict).toBe('pass');
});

// 3-VM fleets: 1 canary and 2 baseline hosts are too few for host means, so each host's readings before the
// watch are its own control (difference in differences): steady host offsets and site-wide moves cancel.
import { describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { createRolloutWatch, parseRolloutWatch } from '../../src/metrics/rollout-watch.js';
import { scriptedSource, virtualClock } from './helpers.js';
import { gaussian, seededRandom } from './simulated-bakes.js';

const settings = parseWatchSettings(
  objectInputs({
    url: 'http://prom:9090',
    hosts: 'web1\nweb2\nweb3',
    'canary-hosts': 'web1',
    baseline: 'hosts',
    duration: '20s',
    interval: '1s',
    rules: '- name: revenue\n  query: revenue{instance="{host}"}\n  max-drop: 90%\n  compare: true',
  }),
);

// Hosts steadily apart (web1 runs 15% below its peers), noisy, and the whole site sliding down 20% during
// the watch (an evening): neither may look like a regression.
const OFFSET: Record<string, number> = { web1: 85, web2: 100, web3: 110 };
function fleet(canaryEffect: number, seed: number) {
  const normal = gaussian(seededRandom(seed));
  const history = Object.fromEntries(
    Object.keys(OFFSET).map((h) => [h, Array.from({ length: 20 }, () => OFFSET[h] + 2 * normal())]),
  );
  const during = (host: string, tick: number) =>
    (OFFSET[host] - tick) * (host === 'web1' ? canaryEffect : 1) + 2 * normal();
  return scriptedSource((_r, host, tick) => during(host, tick), history);
}

describe('1 canary + 2 baseline hosts', () => {
  test('a healthy canary below its peers, with the whole site falling, passes by difference in differences', async () => {
    const r = await runWatch(settings, { logger: new MemoryLogger(), source: fleet(1, 1), ...virtualClock() });
    const c = r.rules[0].comparison!;
    expect(c).toMatchObject({ method: 'differences', significant: false, fraction: 1 });
    expect(r.verdict).toBe('pass');
  });

  test('a canary losing 30% fails during the watch, before its end; the old minimum said inconclusive', async () => {
    const logger = new MemoryLogger();
    const r = await runWatch(settings, { logger, source: fleet(0.7, 2), ...virtualClock() });
    expect(r.verdict).toBe('fail');
    expect(r.rules[0].comparison).toMatchObject({ method: 'differences', significant: true });
    expect(r.ticks).toBeLessThan(20);
    expect(r.endedEarly).toMatch(/^rule 'revenue' is worse than the baseline/);
    expect(logger.lines.join('\n')).toMatch(/2 baseline host\(s\): each host is also compared with its own readings/);
  });

  test('a source with no history leaves the comparison inconclusive, saying why', async () => {
    const source = scriptedSource((_r, host, tick) => OFFSET[host] - tick);
    const logger = new MemoryLogger();
    const r = await runWatch(settings, { logger, source, ...virtualClock() });
    expect(r.rules[0].verdict).toBe('inconclusive');
    expect(r.rules[0].reason).toMatch(/too little to compare: .*and none before/);
    expect(logger.lines.join('\n')).toMatch(/keeps no history to compare each host with its own readings before/);
  });
});

describe('error control across a rollout', () => {
  test("each bake's compare rules spend (1 − confidence) ÷ (rules × bakes)", async () => {
    const watch = parseRolloutWatch(
      'url: http://prom:9090\ninterval: 1s\nbaseline: hosts\nrules:\n' +
        '  - {name: a, query: "a{instance=\\"{host}\\"}", compare: true}\n' +
        '  - {name: b, query: "b{instance=\\"{host}\\"}", compare: true}\n',
      {},
    );
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5'];
    const clock = virtualClock();
    const run = createRolloutWatch(watch, {
      logger: new MemoryLogger(),
      allHosts: hosts,
      extra: { source: scriptedSource((_r, h, tick) => 100 + (tick % 3) + Number(h.slice(1))), ...clock },
    });
    const r = await run(['h1'], 10_000, undefined, { bakes: 2 });
    expect(r.rules.map((x) => x.comparison!.alpha)).toEqual([0.005, 0.005].map((a) => expect.closeTo(a, 12)));
    expect(r.verdict).toBe('pass');
  });
});

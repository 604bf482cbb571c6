// The pure planner: waves (Ansible `serial` semantics), the failure budget, each host's steps.
import type { Count } from '../../src/common/inputs.js';
import { failureBudget, planRollout, type PlanOptions } from '../../src/engine/plan.js';

const n = (value: number): Count => ({ kind: 'count', value });
const pct = (value: number): Count => ({ kind: 'percent', value });
const hosts = (k: number) => Array.from({ length: k }, (_, i) => `h${i + 1}:22`);
const options = (o: Partial<PlanOptions> = {}): PlanOptions => ({
  release: 'v2',
  waves: [n(1), pct(25), pct(100)],
  maxFailures: n(0),
  maxParallel: 20,
  sharedPaths: false,
  setup: false,
  reload: false,
  health: false,
  drain: false,
  canary: false,
  waveWaitMs: 0,
  watch: false,
  staging: 'full',
  ...o,
});
const sizes = (k: number, waves: Count[]) => planRollout(hosts(k), options({ waves })).waves.map((w) => w.hosts.length);

describe('wave sizes', () => {
  test('the default 1, 25%, 100%', () => {
    expect(sizes(1, [n(1), pct(25), pct(100)])).toEqual([1]);
    expect(sizes(5, [n(1), pct(25), pct(100)])).toEqual([1, 2, 2]);
    expect(sizes(20, [n(1), pct(25), pct(100)])).toEqual([1, 5, 14]);
  });
  test('the last size repeats until every host is done', () => {
    expect(sizes(7, [n(2)])).toEqual([2, 2, 2, 1]);
    expect(sizes(10, [n(1), n(3)])).toEqual([1, 3, 3, 3]);
  });
  test('a percent is of all hosts, rounded up, at least 1', () => {
    expect(sizes(10, [pct(15)])).toEqual([2, 2, 2, 2, 2]);
    expect(sizes(3, [pct(1)])).toEqual([1, 1, 1]);
    expect(sizes(4, [pct(100)])).toEqual([4]);
  });
  test('a size larger than what is left takes the rest; hosts keep their order', () => {
    const plan = planRollout(hosts(4), options({ waves: [n(3), n(10)] }));
    expect(plan.waves.map((w) => w.hosts)).toEqual([['h1:22', 'h2:22', 'h3:22'], ['h4:22']]);
    expect(plan.waves.map((w) => w.index)).toEqual([1, 2]);
  });
});

describe('failure budget', () => {
  test('a count is taken as it is', () => {
    expect(failureBudget(n(0), 10)).toBe(0);
    expect(failureBudget(n(3), 10)).toBe(3);
    expect(failureBudget(n(30), 10)).toBe(30);
  });
  test('a percent is of all hosts, rounded up, and 0% is 0', () => {
    expect(failureBudget(pct(10), 20)).toBe(2);
    expect(failureBudget(pct(10), 25)).toBe(3);
    expect(failureBudget(pct(0), 25)).toBe(0);
    expect(failureBudget(pct(100), 7)).toBe(7);
    expect(planRollout(hosts(25), options({ maxFailures: pct(10) })).budget).toBe(3);
  });
});

describe('steps', () => {
  test('only what is configured, in order', () => {
    const bare = planRollout(hosts(2), options());
    expect(bare.stage).toEqual({ 'h1:22': ['upload', 'unpack'], 'h2:22': ['upload', 'unpack'] });
    expect([bare.switch, bare.finish, bare.revert]).toEqual([['switch'], ['record'], ['revert']]);
    const full = planRollout(
      hosts(1),
      options({ sharedPaths: true, setup: true, reload: true, health: true, drain: true }),
    );
    expect(full.stage['h1:22']).toEqual(['upload', 'unpack', 'link', 'setup']);
    expect(full.switch).toEqual(['drain', 'switch', 'reload', 'health', 'rotation']);
    // Behind a balancer a reverted host is back in rotation only once healthy on the release it went back to.
    expect(full.revert).toEqual(['drain', 'revert', 'health', 'rotation']);
  });
  test('a host that already holds this upload (same checksum) is not uploaded to again', () => {
    const plan = planRollout(hosts(2), options(), new Map([['h2:22', { uploaded: true, current: true }]]));
    expect(plan.stage).toEqual({ 'h1:22': ['upload', 'unpack'], 'h2:22': ['unpack'] });
  });
  test('delta: hosts with a current release compare manifests (the missing files go with the unpack); a fresh host gets the whole artifact', () => {
    const found = new Map([
      ['h1:22', { uploaded: false, current: true }],
      ['h2:22', { uploaded: false, current: false }],
      ['h3:22', { uploaded: true, current: true }],
    ]);
    expect(planRollout(hosts(3), options({ staging: 'delta' }), found).stage).toEqual({
      'h1:22': ['compare', 'unpack'],
      'h2:22': ['upload', 'unpack'],
      'h3:22': ['unpack'],
    });
  });
  test('artifact-url: every host that lacks the release downloads it', () => {
    const found = new Map([['h2:22', { uploaded: true, current: true }]]);
    expect(planRollout(hosts(2), options({ staging: 'url' }), found).stage).toEqual({
      'h1:22': ['download', 'unpack'],
      'h2:22': ['unpack'],
    });
  });
  test('bakes after every wave but the last, only with wave-wait; the canary weight on wave 1 only', () => {
    expect(planRollout(hosts(5), options()).waves.map((w) => w.bake)).toEqual([null, null, null]);
    const baked = planRollout(hosts(5), options({ waveWaitMs: 30_000, watch: true, canary: true }));
    expect(baked.waves.map((w) => w.bake)).toEqual([
      { ms: 30_000, watch: true, canary: true },
      { ms: 30_000, watch: true, canary: false },
      null,
    ]);
  });
});

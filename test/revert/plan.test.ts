import { planHost, latestRolledOut, type PlanOptions } from '../../src/revert/plan.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import { hostState } from '../release/builders.js';

const state = hostState;
/** The run auto-revert runs in (every attempt shares this URL), and an earlier one. */
const RUN = 'https://github.com/acme/shop/actions/runs/2';
const EARLIER = 'https://github.com/acme/shop/actions/runs/1';
const line = (
  release: string,
  previous: string,
  result: string,
  action: 'rollout' | 'revert' = 'rollout',
  run = RUN,
): DeployLogEntry => ({ time: 't', action, release, previous, run, result });
/** One whole rollout as the ledger records it (by this run unless `run` says otherwise). */
const rolled = (
  release: string,
  previous: string,
  end: 'healthy' | 'failed' | '' = 'healthy',
  run = RUN,
): DeployLogEntry[] => [
  line(release, previous, 'staged', 'rollout', run),
  line(release, previous, 'switched', 'rollout', run),
  ...(end ? [line(release, previous, end, 'rollout', run)] : []),
];
const log = [...rolled('v1', '', 'healthy', EARLIER), ...rolled('v2', 'v1')];
const none: PlanOptions = { badRelease: '', toRelease: '', run: RUN };
const opts = (o: Partial<PlanOptions>): PlanOptions => ({ ...none, ...o });

describe('planHost', () => {
  test('default: the latest rollout of this run is bad, back to the newest healthy release', () => {
    expect(planHost(state('v2', ['v1', 'v2'], log), none)).toEqual({
      action: 'switch',
      current: 'v2',
      bad: 'v2',
      to: 'v1',
      markBad: true,
      reached: true,
      why: 'newest healthy release v1',
    });
  });

  test('v1 healthy, v2 reverted, v3 never finished: back to v1, not v2', () => {
    const l = [...rolled('v1', ''), ...rolled('v2', 'v1', 'failed'), ...rolled('v3', 'v1', '')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l), none)).toMatchObject({ action: 'switch', bad: 'v3', to: 'v1' });
  });

  test('after the revert: nothing to do, nothing to mark (idempotent)', () => {
    const after = [
      ...log,
      line('v2', '', 'bad', 'revert'),
      line('v1', 'v2', 'switched', 'revert'),
      line('v1', 'v2', 'healthy', 'revert'),
    ];
    expect(planHost(state('v1', ['v1', 'v2'], after, ['v2']), none)).toMatchObject({
      action: 'nothing-to-do',
      bad: 'v2',
      markBad: false,
    });
  });

  test('a host not on the bad release is left alone, but the release gets its marker', () => {
    const p = planHost(state('v1', ['v1', 'v2'], [...rolled('v1', ''), ...rolled('v2', 'v1', 'failed')]), none);
    expect(p).toMatchObject({ action: 'nothing-to-do', bad: 'v2', markBad: true });
  });

  test('explicit bad-release that is not current: nothing to do', () => {
    expect(planHost(state('v2', ['v1', 'v2', 'v3'], log), opts({ badRelease: 'v3' }))).toMatchObject({
      action: 'nothing-to-do',
      bad: 'v3',
    });
  });

  test('explicit to-release, even one the ledger does not call healthy', () => {
    const l = [...log, ...rolled('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l), opts({ toRelease: 'v1' }))).toMatchObject({
      action: 'switch',
      to: 'v1',
      bad: 'v3',
    });
    expect(planHost(state('v3', ['v0', 'v3'], l), opts({ toRelease: 'v0' }))).toMatchObject({
      action: 'switch',
      to: 'v0',
    });
  });

  test('explicit to-release that is missing or marked bad: no good release', () => {
    expect(planHost(state('v2', ['v1', 'v2'], log), opts({ toRelease: 'v0' }))).toMatchObject({
      action: 'no-good-release',
      markBad: true,
    });
    expect(planHost(state('v2', ['v1', 'v2'], log, ['v1']), opts({ toRelease: 'v1' })).action).toBe('no-good-release');
  });

  test('the newest healthy release deleted: the next healthy one that exists', () => {
    const l = [...log, ...rolled('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v3'], l), none)).toMatchObject({ action: 'switch', to: 'v1', bad: 'v3' });
  });

  test('never lands on a release marked bad', () => {
    const l = [...log, ...rolled('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l, ['v2']), none)).toMatchObject({ action: 'switch', to: 'v1' });
    const p = planHost(state('v3', ['v1', 'v2', 'v3'], l, ['v1', 'v2']), none);
    expect(p).toMatchObject({ action: 'no-good-release', markBad: true });
    expect(p.why).toContain('v1 (bad), v2 (bad)');
  });

  test('no healthy release in the ledger (first release ever, or only failed ones): left as it is, named why', () => {
    expect(planHost(state('v1', ['v1'], rolled('v1', '', '')), none)).toMatchObject({
      action: 'no-good-release',
      bad: 'v1',
    });
    const p = planHost(state('v2', ['v1', 'v2'], [...rolled('v1', '', 'failed'), ...rolled('v2', 'v1', '')]), none);
    expect(p.action).toBe('no-good-release');
    expect(p.why).toBe(
      "no healthy release in this host's ledger to go back to: v1 (failed); set to-release to choose one",
    );
  });

  test('releases the log does not know are not revert targets', () => {
    expect(planHost(state('v3', ['v1', 'v2', 'v3', 'v4'], []), opts({ badRelease: 'v3' }))).toMatchObject({
      action: 'no-good-release',
    });
  });

  test('no log: nothing known to revert; absent deploy path', () => {
    expect(planHost(state('v1', ['v1'], []), none)).toMatchObject({ action: 'nothing-to-do', bad: '', reached: false });
    expect(planHost({ ...state('', [], []), exists: false }, opts({ badRelease: 'v1' })).action).toBe('nothing-to-do');
  });

  test('logs written before the ledger: a rollout `success` counts as healthy, `reverted` as failed', () => {
    const legacy = [
      line('v1', '', 'switched'),
      line('v1', '', 'success'),
      line('v2', 'v1', 'switched'),
      line('v2', 'v1', 'reverted'),
      line('v3', 'v1', 'switched'),
      line('v3', 'v1', 'success'),
    ];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], legacy), none)).toMatchObject({
      action: 'switch',
      to: 'v1',
      bad: 'v3',
    });
  });
});

describe('latestRolledOut', () => {
  test("the latest rollout line of the given run, finished or not; revert lines and other runs' lines ignored", () => {
    expect(latestRolledOut([...log, line('v1', 'v2', 'switched', 'revert')], RUN)).toBe('v2');
    expect(latestRolledOut([...log, line('v3', 'v2', 'staged')], RUN)).toBe('v3');
    expect(
      latestRolledOut(
        [...log, line('v3', 'v2', 'staged', 'rollout', 'https://github.com/acme/shop/actions/runs/3')],
        RUN,
      ),
    ).toBe('v2');
    expect(latestRolledOut(log, EARLIER)).toBe('v1');
    expect(latestRolledOut([], RUN)).toBe('');
  });

  test('outside a workflow run (run empty) nothing is found, even lines written outside a run', () => {
    expect(latestRolledOut([...log, line('v3', 'v2', 'switched', 'rollout', '')], '')).toBe('');
  });
});

describe('bad-release empty: only what an ssh-rollout of THIS workflow run put there', () => {
  // The issue: hosts on a healthy v1 (v0 before it), both rolled out by run 1. Run 2's rollout of v2
  // failed on an input typo before touching any host; its auto-revert step runs with bad-release empty.
  const history = [...rolled('v0', '', 'healthy', EARLIER), ...rolled('v1', 'v0', 'healthy', EARLIER)];

  test('a release an earlier run put there is left alone: nothing to do, nothing marked, and it says why', () => {
    expect(planHost(state('v1', ['v0', 'v1'], history), none)).toEqual({
      action: 'nothing-to-do',
      current: 'v1',
      bad: '',
      markBad: false,
      reached: false,
      why: `no ssh-rollout of this workflow run (${RUN}) reached this host; set bad-release to name a release`,
    });
    // to-release says where to go, not what to take off: still nothing.
    expect(planHost(state('v1', ['v0', 'v1'], history), opts({ toRelease: 'v0' }))).toMatchObject({
      action: 'nothing-to-do',
      bad: '',
      markBad: false,
    });
  });

  test('named, the same release is taken off: a release put there by an earlier run only goes when named', () => {
    expect(planHost(state('v1', ['v0', 'v1'], history), opts({ badRelease: 'v1' }))).toMatchObject({
      action: 'switch',
      bad: 'v1',
      to: 'v0',
      markBad: true,
      reached: true,
    });
  });

  test('outside a workflow run an empty bad-release finds nothing (settings refuse it before this)', () => {
    const p = planHost(state('v1', ['v0', 'v1'], [...history, ...rolled('v2', 'v1', '', '')]), opts({ run: '' }));
    expect(p).toMatchObject({ action: 'nothing-to-do', bad: '', markBad: false, reached: false });
    expect(p.why).toContain('set bad-release');
  });

  test('this run staged v2 but switched nothing here: v1 stays, v2 is marked bad where it is on disk', () => {
    const l = [...history, line('v2', 'v1', 'staged')];
    expect(planHost(state('v1', ['v0', 'v1', 'v2'], l), none)).toMatchObject({
      action: 'nothing-to-do',
      bad: 'v2',
      markBad: true,
      reached: true,
      why: 'current is v1, not the bad release v2',
    });
  });

  test('this run switched v2 (any attempt: the ledger has no attempt number): v2 goes, back to v1', () => {
    const l = [...history, ...rolled('v2', 'v1', 'failed')];
    expect(planHost(state('v2', ['v0', 'v1', 'v2'], l), none)).toMatchObject({
      action: 'switch',
      bad: 'v2',
      to: 'v1',
      markBad: true,
      reached: true,
    });
  });

  test("a later run's release on the host: this run's release is not current, the later one is left alone", () => {
    const l = [
      ...history,
      ...rolled('v2', 'v1'),
      ...rolled('v3', 'v2', 'healthy', 'https://github.com/acme/shop/actions/runs/3'),
    ];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l), none)).toMatchObject({
      action: 'nothing-to-do',
      current: 'v3',
      bad: 'v2',
      markBad: true,
    });
  });

  test('reached, for a named release: current, on disk, marked bad or in the ledger; otherwise not', () => {
    const reached = (st: ReturnType<typeof state>) => planHost(st, opts({ badRelease: 'v9' })).reached;
    expect(reached(state('v1', ['v0', 'v1'], history))).toBe(false);
    expect(reached(state('v1', ['v0', 'v1', 'v9'], history))).toBe(true);
    expect(reached(state('v1', ['v0', 'v1'], history, ['v9']))).toBe(true);
    expect(reached(state('v1', ['v0', 'v1'], [...history, line('v9', 'v1', 'failed', 'rollout', EARLIER)]))).toBe(true);
    expect(planHost({ ...state('', [], []), exists: false }, opts({ badRelease: 'v9' })).reached).toBe(false);
  });
});

describe('a rollback on purpose (to-release, bad-release empty, mark-bad false)', () => {
  const planned = opts({ toRelease: 'v1', markBad: false, planned: true });

  test('a host on any other release goes to to-release, whatever run put it there, and nothing is marked bad', () => {
    const l = [...rolled('v1', '', 'healthy', EARLIER), ...rolled('v2', 'v1', 'healthy', EARLIER)];
    expect(planHost(state('v2', ['v1', 'v2'], l), planned)).toEqual({
      action: 'switch',
      current: 'v2',
      bad: 'v2',
      to: 'v1',
      markBad: false,
      reached: true,
      why: 'to-release v1',
    });
  });

  test('a host on to-release already, or with no release, is left alone; to-release missing or bad is refused', () => {
    expect(planHost(state('v1', ['v1', 'v2'], log), planned)).toMatchObject({
      action: 'nothing-to-do',
      why: 'already on to-release v1',
      markBad: false,
      reached: false,
    });
    expect(planHost(state('', ['v1'], []), planned)).toMatchObject({ action: 'nothing-to-do', reached: false });
    expect(planHost(state('v2', ['v2'], log), planned)).toMatchObject({
      action: 'no-good-release',
      why: 'to-release v1 does not exist on this host',
    });
    expect(planHost(state('v2', ['v1', 'v2'], log, ['v1']), planned)).toMatchObject({
      action: 'no-good-release',
      why: 'to-release v1 is marked bad on this host',
    });
  });

  test('mark-bad false with a named bad release: taken off, not marked', () => {
    const p = planHost(state('v2', ['v1', 'v2'], log), opts({ badRelease: 'v2', markBad: false }));
    expect(p).toMatchObject({ action: 'switch', bad: 'v2', to: 'v1', markBad: false });
  });
});

import { planHost, latestRolledOut } from '../../src/revert/plan.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import { hostState } from '../release/builders.js';

const state = hostState;
const line = (release: string, previous: string, result: string, action: 'rollout' | 'revert' = 'rollout'): DeployLogEntry => ({ time: 't', action, release, previous, run: 'r', result });
/** One whole rollout as the ledger records it. */
const rolled = (release: string, previous: string, end: 'healthy' | 'failed' | '' = 'healthy'): DeployLogEntry[] => [
  line(release, previous, 'staged'),
  line(release, previous, 'switched'),
  ...(end ? [line(release, previous, end)] : []),
];
const log = [...rolled('v1', ''), ...rolled('v2', 'v1')];
const none = { badRelease: '', toRelease: '' };

describe('planHost', () => {
  test('default: the latest rollout is bad, back to the newest healthy release', () => {
    expect(planHost(state('v2', ['v1', 'v2'], log), none)).toEqual({ action: 'switch', current: 'v2', bad: 'v2', to: 'v1', markBad: true, why: 'newest healthy release v1' });
  });

  test('v1 healthy, v2 reverted, v3 never finished: back to v1, not v2', () => {
    const l = [...rolled('v1', ''), ...rolled('v2', 'v1', 'failed'), ...rolled('v3', 'v1', '')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l), none)).toMatchObject({ action: 'switch', bad: 'v3', to: 'v1' });
  });

  test('after the revert: nothing to do, nothing to mark (idempotent)', () => {
    const after = [...log, line('v2', '', 'bad', 'revert'), line('v1', 'v2', 'switched', 'revert'), line('v1', 'v2', 'healthy', 'revert')];
    expect(planHost(state('v1', ['v1', 'v2'], after, ['v2']), none)).toMatchObject({ action: 'nothing-to-do', bad: 'v2', markBad: false });
  });

  test('a host not on the bad release is left alone, but the release gets its marker', () => {
    const p = planHost(state('v1', ['v1', 'v2'], [...rolled('v1', ''), ...rolled('v2', 'v1', 'failed')]), none);
    expect(p).toMatchObject({ action: 'nothing-to-do', bad: 'v2', markBad: true });
  });

  test('explicit bad-release that is not current: nothing to do', () => {
    expect(planHost(state('v2', ['v1', 'v2', 'v3'], log), { badRelease: 'v3', toRelease: '' })).toMatchObject({ action: 'nothing-to-do', bad: 'v3' });
  });

  test('explicit to-release, even one the ledger does not call healthy', () => {
    const l = [...log, ...rolled('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], l), { badRelease: '', toRelease: 'v1' })).toMatchObject({ action: 'switch', to: 'v1', bad: 'v3' });
    expect(planHost(state('v3', ['v0', 'v3'], l), { badRelease: '', toRelease: 'v0' })).toMatchObject({ action: 'switch', to: 'v0' });
  });

  test('explicit to-release that is missing or marked bad: no good release', () => {
    expect(planHost(state('v2', ['v1', 'v2'], log), { badRelease: '', toRelease: 'v0' })).toMatchObject({ action: 'no-good-release', markBad: true });
    expect(planHost(state('v2', ['v1', 'v2'], log, ['v1']), { badRelease: '', toRelease: 'v1' }).action).toBe('no-good-release');
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
    expect(planHost(state('v1', ['v1'], rolled('v1', '', '')), none)).toMatchObject({ action: 'no-good-release', bad: 'v1' });
    const p = planHost(state('v2', ['v1', 'v2'], [...rolled('v1', '', 'failed'), ...rolled('v2', 'v1', '')]), none);
    expect(p.action).toBe('no-good-release');
    expect(p.why).toBe("no healthy release in this host's ledger to go back to: v1 (failed); set to-release to choose one");
  });

  test('releases the log does not know are not revert targets', () => {
    expect(planHost(state('v3', ['v1', 'v2', 'v3', 'v4'], []), { badRelease: 'v3', toRelease: '' })).toMatchObject({ action: 'no-good-release' });
  });

  test('no log: nothing known to revert; absent deploy path', () => {
    expect(planHost(state('v1', ['v1'], []), none)).toMatchObject({ action: 'nothing-to-do', bad: '' });
    expect(planHost({ ...state('', [], []), exists: false }, { badRelease: 'v1', toRelease: '' }).action).toBe('nothing-to-do');
  });

  test('logs written before the ledger: a rollout `success` counts as healthy, `reverted` as failed', () => {
    const legacy = [line('v1', '', 'switched'), line('v1', '', 'success'), line('v2', 'v1', 'switched'), line('v2', 'v1', 'reverted'), line('v3', 'v1', 'switched'), line('v3', 'v1', 'success')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], legacy), none)).toMatchObject({ action: 'switch', to: 'v1', bad: 'v3' });
  });
});

describe('latestRolledOut', () => {
  test('the latest rollout line, finished or not; revert lines ignored', () => {
    expect(latestRolledOut([...log, line('v1', 'v2', 'switched', 'revert')])).toBe('v2');
    expect(latestRolledOut([...log, line('v3', 'v2', 'staged')])).toBe('v3');
    expect(latestRolledOut([])).toBe('');
  });
});

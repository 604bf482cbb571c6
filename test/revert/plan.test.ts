import { planHost, latestRolledOut, previousCandidates } from '../../src/revert/plan.js';
import type { DeployLogEntry, HostState } from '../../src/release/commands.js';

const state = (current: string, releases: string[], bad: string[] = []): HostState => ({
  exists: true,
  current,
  releases: releases.map((id, i) => ({ id, mtime: 1000 + i })),
  bad,
  checksum: '',
});
const rollout = (release: string, previous: string, result = 'success'): DeployLogEntry => ({ time: 't', action: 'rollout', release, previous, run: 'r', result });
const log = [rollout('v1', '', 'switched'), rollout('v1', ''), rollout('v2', 'v1', 'switched'), rollout('v2', 'v1')];
const none = { badRelease: '', toRelease: '' };

describe('planHost', () => {
  test('default: the latest rollout is bad, back to its previous release', () => {
    expect(planHost(state('v2', ['v1', 'v2']), log, none)).toEqual({ action: 'switch', current: 'v2', bad: 'v2', to: 'v1', markBad: true, why: 'previous release v1' });
  });

  test('after the revert: nothing to do, nothing to mark (idempotent)', () => {
    const after = [...log, { time: 't', action: 'revert' as const, release: 'v1', previous: 'v2', run: 'r', result: 'reverted' }];
    const p = planHost(state('v1', ['v1', 'v2'], ['v2']), after, none);
    expect(p).toMatchObject({ action: 'nothing-to-do', bad: 'v2', markBad: false });
  });

  test('a host not on the bad release is left alone, but the release gets its marker', () => {
    const p = planHost(state('v1', ['v1', 'v2']), [...log, rollout('v2', 'v1', 'reverted')], none);
    expect(p).toMatchObject({ action: 'nothing-to-do', bad: 'v2', markBad: true });
  });

  test('explicit bad-release that is not current: nothing to do', () => {
    expect(planHost(state('v2', ['v1', 'v2', 'v3']), log, { badRelease: 'v3', toRelease: '' })).toMatchObject({ action: 'nothing-to-do', bad: 'v3' });
  });

  test('explicit to-release', () => {
    const l = [...log, rollout('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3']), l, { badRelease: '', toRelease: 'v1' })).toMatchObject({ action: 'switch', to: 'v1', bad: 'v3' });
  });

  test('explicit to-release that is missing or marked bad: no good release', () => {
    expect(planHost(state('v2', ['v1', 'v2']), log, { badRelease: '', toRelease: 'v0' })).toMatchObject({ action: 'no-good-release', markBad: true });
    expect(planHost(state('v2', ['v1', 'v2'], ['v1']), log, { badRelease: '', toRelease: 'v1' }).action).toBe('no-good-release');
  });

  test('previous release deleted: the latest earlier one that exists', () => {
    const l = [...log, rollout('v3', 'v2')];
    const p = planHost(state('v3', ['v1', 'v3']), l, none);
    expect(p).toMatchObject({ action: 'switch', to: 'v1', bad: 'v3' });
    expect(p.why).toContain('v2 is deleted');
  });

  test('never lands on a release marked bad', () => {
    const l = [...log, rollout('v3', 'v2')];
    expect(planHost(state('v3', ['v1', 'v2', 'v3'], ['v2']), l, none)).toMatchObject({ action: 'switch', to: 'v1' });
    const p = planHost(state('v3', ['v1', 'v2', 'v3'], ['v1', 'v2']), l, none);
    expect(p).toMatchObject({ action: 'no-good-release', markBad: true });
    expect(p.why).toContain('v2 (marked bad)');
  });

  test('first release ever: nothing earlier, left as it is', () => {
    expect(planHost(state('v1', ['v1']), [rollout('v1', '')], none).action).toBe('no-good-release');
  });

  test('no log: nothing known to revert; absent deploy path', () => {
    expect(planHost(state('v1', ['v1']), [], none)).toMatchObject({ action: 'nothing-to-do', bad: '' });
    expect(planHost({ ...state('', []), exists: false }, [], { badRelease: 'v1', toRelease: '' }).action).toBe('nothing-to-do');
  });

  test('without a log, on-disk releases older than the bad one are candidates, newest first', () => {
    expect(planHost(state('v3', ['v1', 'v2', 'v3', 'v4']), [], { badRelease: 'v3', toRelease: '' })).toMatchObject({ action: 'switch', to: 'v2' });
  });
});

describe('log helpers', () => {
  test('latestRolledOut ignores revert lines', () => {
    expect(latestRolledOut([...log, { time: 't', action: 'revert', release: 'v1', previous: 'v2', run: '', result: 'reverted' }])).toBe('v2');
    expect(latestRolledOut([])).toBe('');
  });
  test('previousCandidates skips releases a rollout put back itself', () => {
    const l = [rollout('v1', ''), rollout('v2', 'v1'), rollout('vX', 'v2', 'reverted'), rollout('v3', 'v2')];
    expect(previousCandidates(state('v3', ['v1', 'v2', 'vX', 'v3']), l, 'v3')).toEqual(['v2', 'v1']);
  });
});

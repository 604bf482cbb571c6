// The release ledger, pure: statuses from the deploy log, the revert target, "never became healthy", prune.
import type { DeployLogEntry } from '../../src/release/commands.js';
import { hostState } from './builders.js';
import {
  ledgerEvent,
  neverHealthy,
  newestHealthy,
  planPrune,
  readLedger,
  revertTarget,
} from '../../src/release/ledger.js';

const line = (release: string, result: string, action: 'rollout' | 'revert' = 'rollout'): DeployLogEntry => ({
  time: 't',
  action,
  release,
  previous: '',
  run: 'r',
  result,
});
const state = hostState;
// v1 healthy, v2 reverted, v3 never finished (its run died after the switch).
const history = [
  line('v1', 'staged'),
  line('v1', 'switched'),
  line('v1', 'healthy'),
  line('v2', 'staged'),
  line('v2', 'switched'),
  line('v2', 'failed'),
  line('v3', 'staged'),
  line('v3', 'switched'),
];

describe('readLedger', () => {
  test('each release has its latest event; healthy ones newest first', () => {
    const l = readLedger(history);
    expect(['v1', 'v2', 'v3', 'v9'].map((id) => l.status(id))).toEqual(['healthy', 'failed', 'switched', 'unknown']);
    expect(l.healthy()).toEqual(['v1']);
    const later = readLedger([...history, line('v3', 'healthy'), line('v1', 'healthy', 'revert')]);
    expect(later.healthy()).toEqual(['v1', 'v3']);
  });

  test('bad is final, from a ledger line or a marker file', () => {
    expect(readLedger([...history, line('v1', 'bad', 'revert'), line('v1', 'healthy')]).status('v1')).toBe('bad');
    expect(readLedger(history, ['v1']).healthy()).toEqual([]);
  });

  test('lines written before the ledger keep their meaning', () => {
    expect(ledgerEvent(line('v1', 'success'))).toBe('healthy');
    expect(ledgerEvent(line('v1', 'reverted'))).toBe('failed');
    expect(ledgerEvent(line('v1', 'reverted', 'revert'))).toBe('healthy');
    expect(ledgerEvent(line('v1', 'unhealthy', 'revert'))).toBe('failed');
    expect(ledgerEvent(line('v1', 'something-else'))).toBeNull();
  });

  test('never became healthy: staged, switched or failed; unknown is not named', () => {
    expect((['staged', 'switched', 'failed', 'healthy', 'bad', 'unknown'] as const).map(neverHealthy)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});

describe('newestHealthy and revertTarget', () => {
  test('newest healthy on disk, excluding some', () => {
    const l = readLedger([...history, line('v3', 'healthy')]);
    expect(newestHealthy(state('v3', ['v1', 'v2', 'v3']), l)).toBe('v3');
    expect(newestHealthy(state('v3', ['v1', 'v2', 'v3']), l, ['v3'])).toBe('v1');
    expect(newestHealthy(state('v3', ['v2', 'v3']), l, ['v3'])).toBe('');
  });

  test('a failed rollout goes back to the release before it when that one was healthy or unknown', () => {
    expect(revertTarget(state('v1', ['v1']), readLedger(history), 'v4')).toBe('v1');
    expect(revertTarget(state('v0', ['v0']), readLedger([]), 'v4')).toBe('v0');
    expect(revertTarget(state('', []), readLedger([]), 'v1')).toBe('');
  });

  test('after a run that died midway, to the newest healthy release instead', () => {
    const s = state('v3', ['v1', 'v2', 'v3'], history);
    expect(revertTarget(s, readLedger(history), 'v4')).toBe('v1');
    // The same release again (a re-run): it never became healthy, so not back onto it either.
    expect(revertTarget(s, readLedger(history), 'v3')).toBe('v1');
    // No healthy release at all: the one it ran is still better than none.
    expect(
      revertTarget(state('v3', ['v3'], [line('v3', 'switched')]), readLedger([line('v3', 'switched')]), 'v4'),
    ).toBe('v3');
    // Marked bad but still current (auto-revert found nothing to go to): not back onto it if anything healthy is there.
    expect(
      revertTarget(
        state('v1', ['v0', 'v1'], [line('v0', 'healthy')], ['v1']),
        readLedger([line('v0', 'healthy')], ['v1']),
        'v2',
      ),
    ).toBe('v0');
  });
});

describe('planPrune: keep-releases counts healthy releases', () => {
  test('keeps the newest N healthy (unknown counts as healthy); failed and bad ones go', () => {
    const log = [
      line('v1', 'healthy'),
      line('v2', 'failed'),
      line('v3', 'healthy'),
      line('v4', 'healthy'),
      line('v5', 'healthy'),
    ];
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5']), readLedger(log), 2, ['v4'])).toEqual([
      'v1',
      'v2',
      'v3',
    ]);
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5']), readLedger(log), 3, ['v4'])).toEqual(['v1', 'v2']);
    expect(planPrune(state('v5', ['v0', 'v1', 'v2', 'v3', 'v4', 'v5']), readLedger(log), 5, [])).toEqual(['v2']);
    expect(planPrune(state('v5', ['v1', 'v2', 'v3', 'v4', 'v5']), readLedger(log, ['v3']), 1, ['v4'])).toEqual([
      'v1',
      'v2',
      'v3',
    ]);
  });

  test('never the newest healthy one besides current, nor current or previous', () => {
    // v1 healthy, v2 failed, v3 never finished, v4 healthy now: keep 1 keeps v4, v3 (previous) and v1 (the revert target).
    const log = [...history, line('v4', 'healthy')];
    expect(planPrune(state('v4', ['v1', 'v2', 'v3', 'v4']), readLedger(log), 1, ['v3'])).toEqual(['v2']);
    // current is old (a rollback): still kept
    expect(planPrune(state('v1', ['v1', 'v2', 'v3']), readLedger([]), 1, [])).toEqual(['v2']);
    expect(planPrune(state('', ['v1']), readLedger([]), 1, [''])).toEqual([]);
  });
});

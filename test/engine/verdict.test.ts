// The pure judge: from each host's outcome and the budget, go on or stop, and who goes back.
import { judgeProgress, type HostProgress } from '../../src/engine/verdict.js';

const h = (host: string, outcome: HostProgress['outcome'], switched = false): HostProgress => ({
  host,
  outcome,
  switched,
});

test('all well: go on, nobody goes back', () => {
  expect(judgeProgress([h('a', 'updated', true), h('b', 'pending')], 0)).toEqual({ go: true, revert: [] });
});

test('a failure within the budget: go on, but that host goes back if it was switched', () => {
  expect(judgeProgress([h('a', 'updated', true), h('b', 'failed', true), h('c', 'pending')], 1)).toEqual({
    go: true,
    revert: ['b'],
  });
  // Failed before its switch (staging, drain): nothing to put back.
  expect(judgeProgress([h('a', 'updated', true), h('b', 'failed', false)], 1)).toEqual({ go: true, revert: [] });
});

test('more failures than the budget: stop, every switched host goes back', () => {
  expect(
    judgeProgress([h('a', 'updated', true), h('b', 'failed', true), h('c', 'failed'), h('d', 'pending')], 1),
  ).toEqual({
    go: false,
    reason: '2 host(s) failed, more than max-failures (1)',
    revert: ['a', 'b'],
  });
});

test('a host that could not be put back counts as a failure', () => {
  expect(judgeProgress([h('a', 'revert-failed', true), h('b', 'updated', true)], 0)).toMatchObject({
    go: false,
    revert: ['a', 'b'],
  });
});

test('a reason from outside the hosts (metric watch, signal, lost lock) stops with that reason', () => {
  expect(judgeProgress([h('a', 'updated', true), h('b', 'pending')], 5, 'metric watch failed')).toEqual({
    go: false,
    reason: 'metric watch failed',
    revert: ['a'],
  });
});

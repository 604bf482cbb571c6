import { describe, expect, test } from '@jest/globals';
import { harmfulDirection, judge } from '../../src/metrics/judge.js';
import {
  advanceRule,
  checkSample,
  failRule,
  failsStep,
  initialRuleState,
  overallVerdict,
  ruleOutcome,
  type RuleState,
} from '../../src/metrics/rules.js';
import { parseRules } from '../../src/metrics/settings.js';
import type { Comparison, Observation, Rule } from '../../src/metrics/types.js';

const rule = (yaml: string): Rule => parseRules(`- name: r\n  query: q\n${yaml.replace(/^/gm, '  ')}`)[0];
const feed = (r: Rule, values: (number | null)[], opts: { host?: string; baseline?: number | null } = {}): RuleState =>
  values.reduce<RuleState>(
    (st, value, i) =>
      advanceRule(r, st, [
        {
          t: 1_700_000_000_000 + i * 1000,
          host: opts.host ?? '',
          value,
          ...(opts.baseline !== undefined ? { baseline: opts.baseline } : {}),
          ...(value === null ? { reason: 'down' } : {}),
        } as Observation,
      ]),
    initialRuleState(),
  );
/** When the watch ends: a minute after the first sample. */
const END = 1_700_000_060_000;
const outcome = (r: Rule, st: RuleState, comparison?: Comparison) => ruleOutcome(r, st, comparison, END);

describe('checkSample: each rule kind', () => {
  test('min and max', () => {
    const r = rule('min: 10\nmax: 20');
    expect(checkSample(r, 9)).toEqual({ state: 'breach', check: 'min', bound: 10 });
    expect(checkSample(r, 10).state).toBe('ok');
    expect(checkSample(r, 21)).toEqual({ state: 'breach', check: 'max', bound: 20 });
  });
  test('max-drop and max-rise, percent and absolute', () => {
    expect(checkSample(rule('max-drop: 20%'), 79, 100)).toEqual({ state: 'breach', check: 'max-drop', bound: 80 });
    expect(checkSample(rule('max-drop: 20%'), 80, 100).state).toBe('ok');
    expect(checkSample(rule('max-drop: 5'), 94, 100)).toEqual({ state: 'breach', check: 'max-drop', bound: 95 });
    expect(checkSample(rule('max-rise: 50%'), 151, 100)).toEqual({ state: 'breach', check: 'max-rise', bound: 150 });
    expect(checkSample(rule('max-rise: 2'), 3, 1).state).toBe('ok');
    expect(checkSample(rule('max-rise: 2'), 3.5, 1)).toEqual({ state: 'breach', check: 'max-rise', bound: 3 });
  });
  test('no value, and a relative bound without a baseline value, are no-data', () => {
    expect(checkSample(rule('min: 1'), null, undefined, 'down')).toEqual({
      state: 'no-data',
      check: 'no-data',
      reason: 'down',
    });
    expect(checkSample(rule('max-drop: 10%'), 5, null).state).toBe('no-data');
    // No baseline at all (every host a canary): only absolute bounds apply.
    expect(checkSample(rule('min: 1\nmax-drop: 10%'), 5, undefined).state).toBe('ok');
  });
});

describe('for: debouncing into a hard state', () => {
  test('two breaches in a row are needed; a good sample in between resets', () => {
    const r = rule('min: 10\nfor: 2');
    expect(feed(r, [5, 12, 5, 12, 5]).hardFail).toBeUndefined();
    const st = feed(r, [12, 5, 5, 12]);
    expect(st.hardFail).toMatchObject({
      rule: 'r',
      check: 'min',
      value: 5,
      bound: 10,
      since: '2023-11-14T22:13:21.000Z',
      when: '2023-11-14T22:13:22.000Z',
    });
    expect(outcome(r, st).verdict).toBe('fail');
  });
  test('streaks are per host', () => {
    const r = rule('max: 1\nfor: 2');
    let st = initialRuleState();
    st = advanceRule(r, st, [
      { t: 0, host: 'a', value: 2 },
      { t: 0, host: 'b', value: 0 },
    ]);
    st = advanceRule(r, st, [
      { t: 1, host: 'a', value: 0 },
      { t: 1, host: 'b', value: 2 },
    ]);
    expect(st.hardFail).toBeUndefined();
    st = advanceRule(r, st, [
      { t: 2, host: 'a', value: 0 },
      { t: 2, host: 'b', value: 2 },
    ]);
    expect(st.hardFail).toMatchObject({ host: 'b' });
  });
});

describe('no-data', () => {
  test('fail (default): no data counts as breaching', () => {
    const st = feed(rule('min: 1\nfor: 2'), [5, null, null]);
    expect(st.hardFail).toMatchObject({ check: 'no-data', detail: 'no data: down' });
    expect(outcome(rule('min: 1\nfor: 2'), st).verdict).toBe('fail');
  });
  test('pass: no data is healthy', () => {
    const r = rule('min: 1\nno-data: pass');
    expect(outcome(r, feed(r, [null, null, null])).verdict).toBe('pass');
  });
  test('inconclusive: `for` empty samples in a row make the rule inconclusive, fewer do not', () => {
    const r = rule('min: 1\nfor: 2\nno-data: inconclusive');
    expect(outcome(r, feed(r, [5, null, 5, null, 5])).verdict).toBe('pass');
    const o = outcome(r, feed(r, [5, null, null, 5]));
    expect(o.verdict).toBe('inconclusive');
    expect(o.reason).toMatch(/no data since/);
  });
  test('too few samples is inconclusive', () => {
    const r = rule('min: 1\nfor: 3');
    expect(outcome(r, feed(r, [5, 5])).reason).toMatch(/too few samples: 2 of the 3/);
  });
});

describe("compare: the judge decides, in the rule's harmful direction", () => {
  // Four hosts' means a side: the canaries clearly lower than the baseline hosts.
  const hostsOf = (level: number, n: number) =>
    new Map(
      Array.from({ length: n }, (_, i) =>
        ((m) => [`h${level}-${i}`, [m + 0.1, m - 0.1, m, m + 0.05, m - 0.05]] as const)(
          level + (i - (n - 1) / 2) * 0.3,
        ),
      ),
    );
  const lower = (r: Rule) =>
    judge({
      direction: harmfulDirection(r),
      confidence: r.confidence,
      canary: hostsOf(5, 1),
      baseline: hostsOf(8, 4),
      design: 'hosts',
    });
  const higher = (r: Rule) =>
    judge({
      direction: harmfulDirection(r),
      confidence: r.confidence,
      canary: hostsOf(8, 1),
      baseline: hostsOf(5, 4),
      design: 'hosts',
    });
  test('a significant drop fails a rule that guards drops; the breach names the levels', () => {
    const r = rule('compare: true\nmax-drop: 90%');
    const o = outcome(r, feed(r, [5, 5, 5, 5, 5], { baseline: 8 }), lower(r));
    expect(o.verdict).toBe('fail');
    expect(o.breach).toMatchObject({ check: 'compare', value: 5, baseline: 8 });
    expect(o.reason).toMatch(
      /canary 5 vs baseline 8 \(-37\.5%\).*one-sided, decrease is worse, bound 0\.020 at 100% of the information \(0\.020 to spend\) \[host-means, 1 vs 4 host\(s\)\]/,
    );
  });
  test('a significant rise does not fail a drop-only rule; the first spelling mann-whitney still works', () => {
    const r = rule('compare: mann-whitney\nmax-drop: 90%');
    expect(r.compare).toBe('baseline');
    expect(outcome(r, feed(r, [8, 8, 8, 8, 8], { baseline: 5 }), higher(r)).verdict).toBe('pass');
  });
  test('too little to compare is inconclusive, never a pass; confidence is per rule', () => {
    const r = rule('compare: true');
    const few = judge({
      direction: 'either',
      confidence: 0.98,
      canary: new Map([['c', [1, 2, 3, 4]]]),
      baseline: hostsOf(8, 4),
      design: 'hosts',
    });
    expect(outcome(r, feed(r, [1, 2, 3, 4]), few)).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringMatching(/too little to compare: the judge needs 5 readings/),
    });
    expect(outcome(r, feed(r, [1, 2, 3, 4, 5])).verdict).toBe('inconclusive');
    const strict = rule('compare: true\nconfidence: 0.999');
    expect(outcome(strict, feed(strict, [5, 5, 5, 5, 5]), lower(strict)).verdict).toBe('pass');
  });
});

describe("the clock is the caller's", () => {
  test('a query error fails the rule with a breach dated when the watch ended, as given', () => {
    const st = failRule(feed(rule('min: 1'), [5]), 'bad query');
    const end = '2023-11-14T22:14:20.000Z';
    const { breach } = ruleOutcome(rule('min: 1'), st, undefined, END);
    expect(breach).toMatchObject({ check: 'error', when: end, since: end });
  });
});

describe('verdict and fail-on', () => {
  test('fail beats inconclusive beats pass', () => {
    expect(overallVerdict([{ verdict: 'pass' }, { verdict: 'inconclusive' }])).toBe('inconclusive');
    expect(overallVerdict([{ verdict: 'fail' }, { verdict: 'inconclusive' }])).toBe('fail');
    expect(overallVerdict([{ verdict: 'pass' }])).toBe('pass');
  });
  test('fail-on', () => {
    expect(failsStep('fail', 'fail')).toBe(true);
    expect(failsStep('inconclusive', 'fail')).toBe(false);
    expect(failsStep('inconclusive', 'inconclusive')).toBe(true);
    expect(failsStep('fail', 'never')).toBe(false);
    expect(failsStep('pass', 'inconclusive')).toBe(false);
  });
});

describe('runbook: every breach carries its rule’s', () => {
  const RUNBOOK = 'https://wiki.example/runbooks/checkout#errors';
  test('a bound’s breach, a no-data breach, a query error’s and a comparison’s', () => {
    const r = rule(`min: 10\nrunbook: ${RUNBOOK}`);
    expect(outcome(r, feed(r, [5])).breach).toMatchObject({ check: 'min', value: 5, runbook: RUNBOOK });
    expect(outcome(r, feed(r, [null])).breach).toMatchObject({ check: 'no-data', runbook: RUNBOOK });
    expect(ruleOutcome(r, failRule(feed(r, [20]), 'bad query'), undefined, END).breach).toMatchObject({
      check: 'error',
      runbook: RUNBOOK,
    });
    const c = rule(`compare: true\nmax-drop: 90%\nrunbook: see the checkout dashboard`);
    const hosts = (level: number, n: number) =>
      new Map(
        Array.from({ length: n }, (_, i) => [
          `h${level}-${i}`,
          [0.1, -0.1, 0, 0.05, -0.05].map((d) => level + i * 0.3 + d),
        ]),
      );
    const worse = judge({
      direction: 'decrease',
      confidence: 0.98,
      canary: hosts(5, 1),
      baseline: hosts(8, 4),
      design: 'hosts',
    });
    expect(outcome(c, feed(c, [5, 5, 5, 5, 5], { baseline: 8 }), worse).breach).toMatchObject({
      check: 'compare',
      runbook: 'see the checkout dashboard',
    });
  });
  test('a rule without one gives breaches without the key', () => {
    const r = rule('min: 10');
    expect(outcome(r, feed(r, [5])).breach).not.toHaveProperty('runbook');
  });
});

describe('an SLO rule is judged on its burn rate against the page threshold', () => {
  const slo = parseRules(
    '- name: checkout\n  slo: 99.9%\n  errors: sum(rate(e[{window}]))\n  total: sum(rate(t[{window}]))\n  for: 2',
  )[0];
  test('above 14.4 twice in a row fails, naming the burn rate and the threshold', () => {
    expect(slo.max).toBe(14.4);
    const o = outcome(slo, feed(slo, [20.5, 50]));
    expect(o.verdict).toBe('fail');
    expect(o.breach).toMatchObject({ rule: 'checkout', check: 'max', value: 50, bound: 14.4 });
    expect(o.reason).toBe(
      'burn rate above 14.4, the page threshold of the 99.9% SLO over 30d (50 vs bound 14.4) for 2 sample(s) ' +
        'since 2023-11-14T22:13:20.000Z',
    );
  });
  test('a burst shorter than `for` passes; no data follows no-data', () => {
    expect(outcome(slo, feed(slo, [0.5, 20, 0.4])).verdict).toBe('pass');
    expect(outcome(slo, feed(slo, [null, null])).verdict).toBe('fail');
  });
});

// The rule keys that serve alerting in production: warn (fivestep check's WARNING), severity, runbook, and the SLO
// rule kind. Each mistake is an input error naming the rule and the key.
import { InputError, objectInputs } from '../../src/common/inputs.js';
import { parseRules, parseWatchSettings } from '../../src/metrics/settings.js';

const one = (yaml: string) => parseRules(yaml)[0];
const error = (yaml: string) => {
  try {
    parseRules(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('no error');
};

const SLO = [
  '- name: checkout availability',
  '  slo: 99.9%',
  '  errors: sum(rate(http_requests_total{code=~"5.."}[{window}]))',
  '  total: sum(rate(http_requests_total[{window}]))',
].join('\n');

test('an SLO rule: its query is the burn rate over {window}, its bound the page threshold (14.4 over 30 days)', () => {
  const r = one(SLO);
  expect(r.slo).toEqual({
    objective: 0.999,
    errors: 'sum(rate(http_requests_total{code=~"5.."}[{window}]))',
    total: 'sum(rate(http_requests_total[{window}]))',
    windowMs: 30 * 86_400_000,
  });
  expect(r.query).toBe(
    '((sum(rate(http_requests_total{code=~"5.."}[{window}]))) / (sum(rate(http_requests_total[{window}])))) / 0.001',
  );
  expect(r.max).toBe(14.4);
  const good = one(
    '- name: a\n  slo: 99.5%\n  good: sum(rate(ok[{window}]))\n  total: sum(rate(all[{window}]))\n  window: 7d',
  );
  expect(good.query).toBe('(1 - (sum(rate(ok[{window}]))) / (sum(rate(all[{window}])))) / 0.005');
  // 2% of a 7-day budget in an hour.
  expect(good.max).toBe(3.36);
});

test.each([
  [`${SLO}\n  min: 1`, "rule 'checkout availability': 'min' does not go with slo"],
  [`${SLO}\n  query: up`, "rule 'checkout availability': 'query' does not go with slo"],
  [`${SLO}\n  good: sum(rate(ok[{window}]))`, 'needs one of good and errors (the events counted), not both'],
  [SLO.replace('99.9%', '100%'), 'slo must be a percentage below 100%, like 99.9%, got "100%"'],
  [SLO.replace('[{window}]))\n  total', '[5m]))\n  total'), 'errors must hold {window} where the rate'],
  [`${SLO}\n  window: 30m`, "window is the SLO period (e.g. 30d, 7d); '30m' is under an hour"],
  ['- name: a\n  slo: 99%\n  errors: x[{window}]', 'an SLO rule needs total'],
])('SLO mistakes are named: %#', (yaml, message) => {
  expect(error(yaml)).toContain(message);
});

test('an SLO rule needs PromQL: another source is an input error naming the rule', () => {
  const inputs = { url: 'http://graphite.example', source: 'graphite', rules: SLO };
  expect(() => parseWatchSettings(objectInputs(inputs))).toThrow(
    "rule 'checkout availability' is an SLO rule: its queries are PromQL rates, so it needs source prometheus " +
      '(this is graphite)',
  );
});

test('warn: one number on the rule’s one side, or min and max; it lies inside the bound', () => {
  expect(one('- name: a\n  query: x\n  max: 0.05\n  warn: 0.02').warn).toEqual({ max: 0.02 });
  expect(one('- name: a\n  query: x\n  min: 100\n  warn: 150').warn).toEqual({ min: 150 });
  expect(one('- name: a\n  query: x\n  min: 1\n  max: 9\n  warn: {min: 2, max: 8}').warn).toEqual({ min: 2, max: 8 });
  expect(error('- name: a\n  query: x\n  min: 1\n  max: 9\n  warn: 5')).toContain(
    'warn: N needs a rule with one of min and max; write warn: {min: .., max: ..}',
  );
  expect(error('- name: a\n  query: x\n  max: 0.05\n  warn: 0.1')).toContain(
    "rule 'a': warn max 0.1 must lie inside the rule's max 0.05",
  );
  expect(error('- name: a\n  query: x\n  max: 5\n  warn: {min: 1}')).toContain("warn.min needs the rule's own min");
  expect(error('- name: a\n  query: x\n  max: 5\n  warn: {above: 1}')).toContain("warn takes min and max, not 'above'");
});

test('severity is page or ticket; a runbook is one line', () => {
  expect(one('- name: a\n  query: x\n  max: 1\n  severity: ticket').severity).toBe('ticket');
  expect(one('- name: a\n  query: x\n  max: 1\n  severity: page').severity).toBeUndefined();
  expect(error('- name: a\n  query: x\n  max: 1\n  severity: urgent')).toContain("'urgent' is not one of page, ticket");
  expect(one('- name: a\n  query: x\n  max: 1\n  runbook: https://wiki/r#a').runbook).toBe('https://wiki/r#a');
  expect(error('- name: a\n  query: x\n  max: 1\n  runbook: "a\\nb"')).toContain('runbook must be one line');
});

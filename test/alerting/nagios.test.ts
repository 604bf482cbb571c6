// The plugin output of `fivestep check` (alerting/nagios.ts), exact to the byte: each rule read once by the real
// watch (runWatch with once) from a source whose readings each test sets, then judged as a Nagios plugin.
import { objectInputs } from '../../src/common/inputs.js';
import { silentLogger } from '../../src/common/logger.js';
import { labelOf, nagiosResult, perfNumber, pluginUnknown, range, textOf } from '../../src/alerting/nagios.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { QueryError, type MetricSource, type Readings, type SampleRequest } from '../../src/metrics/sources/types.js';
import { runWatch } from '../../src/metrics/watch.js';

/** A reading: a number, no data with its reason (a string), or an error the source throws. */
type Given = number | string | Error;

/** A source answering each rule (and host) with what the test gives; '' is the key of a query not per host. */
function givenSource(readings: Record<string, Record<string, Given>>): MetricSource {
  return {
    async sample(req: SampleRequest): Promise<Readings> {
      const out: Readings = new Map();
      for (const host of req.hosts.length ? req.hosts : ['']) {
        const v = readings[req.rule.name]?.[host] ?? 'not given';
        if (v instanceof Error) throw v;
        out.set(host, typeof v === 'number' ? { value: v } : { value: null, reason: v });
      }
      return out;
    },
  };
}

/** The plugin's answer for `rules` (YAML) read once with these readings. */
async function check(
  rules: string,
  readings: Record<string, Record<string, Given>>,
  inputs: Record<string, string> = {},
) {
  const settings = parseWatchSettings(
    objectInputs({ source: 'prometheus', url: 'http://prom.invalid', rules, ...inputs }),
  );
  const result = await runWatch(settings, { logger: silentLogger, once: true, source: givenSource(readings) });
  const r = nagiosResult(result);
  return { exitCode: r.exitCode, lines: r.output.split('\n') };
}

const ERRORS = '- name: error rate\n  query: sum(rate(errors[1m]))\n  max: 0.05\n  warn: 0.02';
const REVENUE = '- name: revenue\n  query: sum(rate(revenue[1m])) * 60\n  min: 100\n  warn: 150';

describe('the state and the status line', () => {
  test('OK: every reading within bounds, named with its value; perfdata with warn and crit ranges', async () => {
    expect(await check(`${ERRORS}\n${REVENUE}`, { 'error rate': { '': 0.01 }, revenue: { '': 180 } })).toEqual({
      exitCode: 0,
      lines: [
        "FIVESTEP OK - error rate is 0.01; revenue is 180 | 'error rate'=0.01;~:0.02;~:0.05 'revenue'=180;150:;100:",
        'OK: error rate is 0.01 (max 0.05, warn max 0.02)',
        'OK: revenue is 180 (min 100, warn min 150)',
      ],
    });
  });

  test('WARNING: a warn bound crossed, within the rule bounds', async () => {
    expect(await check(`${ERRORS}\n${REVENUE}`, { 'error rate': { '': 0.03 }, revenue: { '': 180 } })).toEqual({
      exitCode: 1,
      lines: [
        "FIVESTEP WARNING - error rate is 0.03, above warn 0.02 (max 0.05) | 'error rate'=0.03;~:0.02;~:0.05 " +
          "'revenue'=180;150:;100:",
        'WARNING: error rate is 0.03, above warn 0.02 (max 0.05)',
        'OK: revenue is 180 (min 100, warn min 150)',
      ],
    });
  });

  test('CRITICAL: a bound breached; the warning elsewhere is counted on the status line', async () => {
    expect(await check(`${ERRORS}\n${REVENUE}`, { 'error rate': { '': 0.09 }, revenue: { '': 120 } })).toEqual({
      exitCode: 2,
      lines: [
        'FIVESTEP CRITICAL - error rate is 0.09, above max 0.05 (also 1 WARNING) | ' +
          "'error rate'=0.09;~:0.02;~:0.05 'revenue'=120;150:;100:",
        'CRITICAL: error rate is 0.09, above max 0.05',
        'WARNING: revenue is 120, below warn 150 (min 100)',
      ],
    });
  });

  test('a bound is not crossed at the bound itself (ranges include their endpoints)', async () => {
    const r = await check(`${ERRORS}\n${REVENUE}`, { 'error rate': { '': 0.05 }, revenue: { '': 100 } });
    expect(r.exitCode).toBe(1);
    expect(r.lines[0]).toBe(
      'FIVESTEP WARNING - error rate is 0.05, above warn 0.02 (max 0.05); revenue is 100, below warn 150 (min 100) | ' +
        "'error rate'=0.05;~:0.02;~:0.05 'revenue'=100;150:;100:",
    );
  });

  test('per host: the worst hosts named, at most three, the rest counted; perfdata rule@host for every host', async () => {
    const hosts = ['web-1:9100', 'web-2:9100', 'web-3:9100', 'web-4:9100', 'web-5:9100'];
    const r = await check(
      '- name: errors\n  query: errors{instance="{host}"}\n  min: 100\n  max: 200',
      { errors: { 'web-1:9100': 150, 'web-2:9100': 250, 'web-3:9100': 50, 'web-4:9100': 300, 'web-5:9100': 201 } },
      { hosts: hosts.join('\n') },
    );
    expect(r).toEqual({
      exitCode: 2,
      lines: [
        'FIVESTEP CRITICAL - errors on web-2:9100 is 250, above max 200; errors on web-3:9100 is 50, below min 100; ' +
          "errors on web-4:9100 is 300, above max 200; and 1 more | 'errors@web-1:9100'=150;;100:200 " +
          "'errors@web-2:9100'=250;;100:200 'errors@web-3:9100'=50;;100:200 'errors@web-4:9100'=300;;100:200 " +
          "'errors@web-5:9100'=201;;100:200",
        'CRITICAL: errors on web-2:9100 is 250, above max 200',
        'CRITICAL: errors on web-3:9100 is 50, below min 100',
        'CRITICAL: errors on web-4:9100 is 300, above max 200',
        'CRITICAL: errors on web-5:9100 is 201, above max 200',
        'OK: errors on web-1:9100 is 150 (min 100, max 200)',
      ],
    });
  });

  test('many readings within bounds are counted, not named', async () => {
    const r = await check(
      '- name: up\n  query: up{instance="{host}"}\n  min: 1',
      { up: { a: 1, b: 1, c: 1, d: 1 } },
      { hosts: 'a\nb\nc\nd' },
    );
    expect(r.exitCode).toBe(0);
    expect(r.lines[0]).toBe(
      "FIVESTEP OK - all 4 readings of 1 rule within bounds | 'up@a'=1;;1: 'up@b'=1;;1: 'up@c'=1;;1: 'up@d'=1;;1:",
    );
  });
});

describe('no data, errors, and rules one reading cannot judge', () => {
  const rule = (noData: string) => `- name: orders\n  query: sum(orders)\n  min: 1\n  no-data: ${noData}`;

  test('no data under no-data: fail (the default) is CRITICAL; the value is U', async () => {
    expect(await check(rule('fail'), { orders: { '': "query 'sum(orders)' returned no series" } })).toEqual({
      exitCode: 2,
      lines: [
        "FIVESTEP CRITICAL - orders: no data | 'orders'=U;;1:",
        "CRITICAL: orders: no data (no-data: fail): query 'sum(orders)' returned no series",
      ],
    });
  });

  test('no data under no-data: inconclusive is UNKNOWN', async () => {
    expect(await check(rule('inconclusive'), { orders: { '': 'no series' } })).toEqual({
      exitCode: 3,
      lines: [
        "FIVESTEP UNKNOWN - orders: no data | 'orders'=U;;1:",
        'UNKNOWN: orders: no data (no-data: inconclusive): no series',
      ],
    });
  });

  test('no data under no-data: pass is OK', async () => {
    expect(await check(rule('pass'), { orders: { '': 'no series' } })).toEqual({
      exitCode: 0,
      lines: ["FIVESTEP OK - orders: no data | 'orders'=U;;1:", 'OK: orders: no data (no-data: pass): no series'],
    });
  });

  test('an unreachable source is UNKNOWN whatever the no-data policy: the metric was not seen', async () => {
    for (const policy of ['fail', 'pass'])
      expect(
        await check(rule(policy), { orders: { '': 'source unreachable: fetch failed: connect ECONNREFUSED' } }),
      ).toEqual({
        exitCode: 3,
        lines: [
          "FIVESTEP UNKNOWN - orders: source unreachable | 'orders'=U;;1:",
          'UNKNOWN: orders: source unreachable: fetch failed: connect ECONNREFUSED',
        ],
      });
  });

  test('a query error is UNKNOWN with the source’s reason in the long output; a CRITICAL still outranks it', async () => {
    const bad = new QueryError('Prometheus: bad_data: 1:5: parse error: unexpected <op:*>');
    expect(await check(`${rule('fail')}\n${ERRORS}`, { orders: { '': bad }, 'error rate': { '': 0.01 } })).toEqual({
      exitCode: 3,
      lines: [
        "FIVESTEP UNKNOWN - orders: query error | 'orders'=U;;1: 'error rate'=0.01;~:0.02;~:0.05",
        'UNKNOWN: orders: query error: Prometheus: bad_data: 1:5: parse error: unexpected <op:*>',
        'OK: error rate is 0.01 (max 0.05, warn max 0.02)',
      ],
    });
    const worse = await check(`${rule('fail')}\n${ERRORS}`, { orders: { '': bad }, 'error rate': { '': 0.3 } });
    expect(worse.exitCode).toBe(2);
    expect(worse.lines[0]).toMatch(/^FIVESTEP CRITICAL - error rate is 0.3, above max 0.05 \(also 1 UNKNOWN\) \| /);
  });

  test('UNKNOWN outranks WARNING: an unread rule could be hiding a CRITICAL', async () => {
    const r = await check(`${rule('inconclusive')}\n${ERRORS}`, { orders: { '': 'gap' }, 'error rate': { '': 0.03 } });
    expect(r.exitCode).toBe(3);
    expect(r.lines[0]).toBe(
      "FIVESTEP UNKNOWN - orders: no data (also 1 WARNING) | 'orders'=U;;1: 'error rate'=0.03;~:0.02;~:0.05",
    );
  });

  test('a compare rule is listed as not checked, never CRITICAL; its bounds are checked', async () => {
    const compare = '- name: latency\n  query: p99{instance="{host}"}\n  compare: true';
    const bounded = '- name: conversion\n  query: conv{instance="{host}"}\n  compare: true\n  max-drop: 10%';
    const inputs = { hosts: 'a\nb', 'canary-hosts': 'a', baseline: 'hosts' };
    const r = await check(
      `${compare}\n${bounded}`,
      { latency: { a: 900, b: 100 }, conversion: { a: 95, b: 100 } },
      inputs,
    );
    expect(r).toEqual({
      exitCode: 0,
      lines: [
        'FIVESTEP OK - conversion on a is 95; not checked: latency (compare), conversion (compare) | ' +
          "'latency@a'=900 'conversion@a'=95;;90:",
        'OK: conversion on a is 95 (min 90)',
        'NOT CHECKED: latency: compare (the canaries against their baseline) needs readings over time, which one ' +
          'check does not have: fivestep watch judges it',
        'NOT CHECKED: conversion: compare (the canaries against their baseline) needs readings over time, which ' +
          'one check does not have: fivestep watch judges it',
      ],
    });
    const dropped = await check(bounded, { conversion: { a: 80, b: 100 } }, inputs);
    expect(dropped.lines.slice(0, 2)).toEqual([
      'FIVESTEP CRITICAL - conversion on a is 80, below 90 (max-drop 10% from baseline 100); not checked: conversion ' +
        "(compare) | 'conversion@a'=80;;90:",
      'CRITICAL: conversion on a is 80, below 90 (max-drop 10% from baseline 100)',
    ]);
  });

  test('only compare rules: nothing can be judged from one reading, UNKNOWN', async () => {
    const r = await check(
      '- name: latency\n  query: p99{instance="{host}"}\n  compare: true',
      { latency: { a: 1, b: 1 } },
      {
        hosts: 'a\nb',
        'canary-hosts': 'a',
        baseline: 'hosts',
      },
    );
    expect(r.exitCode).toBe(3);
    expect(r.lines[0]).toBe(
      "FIVESTEP UNKNOWN - no rule can be judged from one reading; not checked: latency (compare) | 'latency@a'=1",
    );
  });

  test('a rule with for: 3 is judged on this one reading (for is max_check_attempts in Nagios)', async () => {
    const r = await check('- name: errors\n  query: errors\n  max: 5\n  for: 3', { errors: { '': 9 } });
    expect(r).toEqual({
      exitCode: 2,
      lines: ["FIVESTEP CRITICAL - errors is 9, above max 5 | 'errors'=9;;~:5", 'CRITICAL: errors is 9, above max 5'],
    });
  });
});

describe('untrusted names and hosts stay in their place', () => {
  test('a hostile rule name: one status line, no early |, label rules for quote and equals', async () => {
    const name = "evil' = 1 | 'x'=999\nFIVESTEP OK - fine";
    const r = await check(`- name: ${JSON.stringify(name)}\n  query: up\n  max: 1`, { [name]: { '': 2 } });
    expect(r).toEqual({
      exitCode: 2,
      lines: [
        "FIVESTEP CRITICAL - evil' = 1 / 'x'=999 FIVESTEP OK - fine is 2, above max 1 | " +
          "'evil_ _ 1 / _x__999 FIVESTEP OK - fine'=2;;~:1",
        "CRITICAL: evil' = 1 / 'x'=999 FIVESTEP OK - fine is 2, above max 1",
      ],
    });
    // Exactly one `|` in the whole output: the one before the performance data.
    expect(r.lines.join('\n').split('|')).toHaveLength(2);
  });

  test('a hostile reason from the source (line breaks, |, control characters) stays on its line', async () => {
    const r = await check('- name: up\n  query: up\n  min: 1', {
      up: { '': new QueryError('bad\r\nFIVESTEP OK - all fine | up=1\u2028\u001b[2Jcleared') },
    });
    expect(r).toEqual({
      exitCode: 3,
      lines: [
        "FIVESTEP UNKNOWN - up: query error | 'up'=U;;1:",
        'UNKNOWN: up: query error: bad FIVESTEP OK - all fine / up=1 [2Jcleared',
      ],
    });
  });

  test('the pieces: text, labels, numbers, ranges', () => {
    expect(textOf('a\r\n\tb|c\u0085d\u2029e')).toBe('a b/c d e');
    expect(labelOf("it's=\n|x")).toBe('it_s_ /x');
    expect([1e-7, -2.5e-8, 1e21, 1.5e22, 0.1, -3, -0, 123456.789].map(perfNumber)).toEqual([
      '0.0000001',
      '-0.000000025',
      '1000000000000000000000',
      '15000000000000000000000',
      '0.1',
      '-3',
      '0',
      '123456.789',
    ]);
    expect([range(100, undefined), range(undefined, 0.05), range(100, 200), range(undefined, undefined)]).toEqual([
      '100:',
      '~:0.05',
      '100:200',
      '',
    ]);
    expect(range(-Infinity, 5)).toBe('~:5');
    expect(pluginUnknown("input 'rules': is not valid YAML\nline 2 | more")).toEqual({
      exitCode: 3,
      output: "FIVESTEP UNKNOWN - input 'rules': is not valid YAML line 2 / more",
    });
  });
});

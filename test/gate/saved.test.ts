// The saved result is written by the pull request's code: publish must take only what it can check, and
// compute every verdict again itself.
import { zipSync, strToU8 } from 'fflate';
import { restoreRun, resultFromZip, savedResult, SAVED_FORMAT } from '../../src/gate/saved.js';
import { concludeRun, type Attempt } from '../../src/gate/run.js';
import { summarize, type TestCase } from '../../src/gate/junit.js';
import { annotations } from '../../src/gate/report.js';

const SHA = 'a'.repeat(40);
const failing: TestCase = {
  classname: 'cart',
  name: 'totals',
  time: 0.2,
  status: 'failed',
  message: 'expected 3',
  file: 'src/cart.test.js',
  line: 12,
};
const passing: TestCase = { classname: 'cart', name: 'sums', time: 0.1, status: 'passed' };

function attempt(n: number, exitCode: number, cases?: TestCase[]): Attempt {
  const report = cases ? summarize(cases) : undefined;
  return {
    attempt: n,
    exitCode,
    durationMs: 1000,
    reportFiles: cases ? ['reports/r.xml'] : [],
    report,
    passed: exitCode === 0 && (report ? report.failures + report.errors === 0 : true),
  };
}

const json = (o: object): string => JSON.stringify(o);
const base = (attempts: object[]) => ({
  format: SAVED_FORMAT,
  headSha: SHA,
  command: 'npm test',
  durationMs: 2000,
  attempts,
});

test('a run survives the round trip: verdict, counts, flaky tests and locations', () => {
  const run = concludeRun(
    [attempt(1, 1, [failing, passing]), attempt(2, 0, [{ ...failing, status: 'passed' }, passing])],
    2000,
  );
  const { run: back, saved } = restoreRun(
    json(savedResult(run, { headSha: SHA, pullRequest: 7, command: 'npm test' })),
  );
  expect(saved).toMatchObject({ headSha: SHA, pullRequest: 7 });
  expect(back).toMatchObject({ passed: true, flaky: true, flakyTests: ['cart › totals'] });
  expect(back.attempts[0].report?.cases[0]).toMatchObject({ file: 'src/cart.test.js', line: 12, status: 'failed' });
});

test('every failure element of a case comes back, each at its own place, so publish annotates each', () => {
  const twice: TestCase = {
    ...failing,
    problems: [
      { kind: 'failure', message: 'expected 3', file: 'src/cart.test.js', line: 12 },
      { kind: 'failure', message: 'expected 4', file: 'src/cart.test.js', line: 15 },
    ],
  };
  const { run } = restoreRun(
    json(savedResult(concludeRun([attempt(1, 1, [twice])], 1), { headSha: SHA, command: 'x' })),
  );
  expect(annotations(run).map((a) => `${a.path}:${a.start_line} ${a.message}`)).toEqual([
    'src/cart.test.js:12 expected 3',
    'src/cart.test.js:15 expected 4',
  ]);
  expect(() =>
    restoreRun(
      json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, problems: [{ kind: 'panic', message: '' }] }] }])),
    ),
  ).toThrow(/problems\[0\]\.kind is not failure or error/);
});

test('what pull-request code could claim is recomputed, not believed: a zero exit with a failing case fails', () => {
  const { run } = restoreRun(json(base([{ exitCode: 0, durationMs: 5, cases: [failing], passed: true, failures: 0 }])));
  expect(run.passed).toBe(false);
  expect(run.final.report).toMatchObject({ tests: 1, failures: 1 });
});

test.each([
  ['not JSON', '{', /result.json is not JSON/],
  ['another format', json({ ...base([{ exitCode: 0, durationMs: 1 }]), format: 'other@9' }), /format is "other@9"/],
  [
    'a sha that is not one',
    json({ ...base([{ exitCode: 0, durationMs: 1 }]), headSha: 'main' }),
    /headSha is not a commit sha/,
  ],
  ['no attempts', json(base([])), /attempts must be a list of 1 to 11/],
  [
    'a pass before the last attempt',
    json(
      base([
        { exitCode: 0, durationMs: 1 },
        { exitCode: 1, durationMs: 1 },
      ]),
    ),
    /an attempt before the last one passed/,
  ],
  [
    'an absolute path',
    json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, file: '/etc/passwd' }] }])),
    /cases\[0\]\.file is not a repository-relative path/,
  ],
  [
    'a climbing path',
    json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, file: 'src/../../x' }] }])),
    /not a repository-relative path/,
  ],
  [
    'an unknown status',
    json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, status: 'pwned' }] }])),
    /status is not one of passed, failed, error, skipped/,
  ],
  [
    'an exit code out of range',
    json(base([{ exitCode: -1, durationMs: 1 }])),
    /exitCode is not a whole number from 0 to 255/,
  ],
  [
    'a line that is not a number',
    json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, line: '12; rm -rf /' }] }])),
    /line is not a whole number/,
  ],
])('refused: %s', (_what, text, message) => {
  expect(() => restoreRun(text)).toThrow(message);
});

test('long texts are cut to the limit rather than refused', () => {
  const { run } = restoreRun(
    json(base([{ exitCode: 1, durationMs: 1, cases: [{ ...failing, message: 'x'.repeat(200_000) }] }])),
  );
  expect(run.final.report!.cases[0].message!.length).toBe(64 * 1024);
});

test('the result is found in the zip at its root or one directory down; a zip without one says what to upload', () => {
  const result = json(base([{ exitCode: 0, durationMs: 1 }]));
  expect(resultFromZip(zipSync({ 'result.json': strToU8(result), 'reports/attempt-1/r.xml': strToU8('<x/>') }))).toBe(
    result,
  );
  expect(resultFromZip(zipSync({ 'test-gate-results/result.json': strToU8(result) }))).toBe(result);
  expect(() => resultFromZip(zipSync({ 'r.xml': strToU8('<x/>') }))).toThrow(
    'the artifact holds no result.json: upload the results-path of the mode save step',
  );
  expect(() => resultFromZip(strToU8('not a zip'))).toThrow(/the artifact is not a readable zip/);
});

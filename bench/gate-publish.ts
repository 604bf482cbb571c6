// Benchmark: test-gate on suites where every test failed, then passed on retry (all flaky), from 1,000 to
// 200,000 tests, through the code the gate runs. Two lines:
// - flaky matching: concludeRun (flippedTests and the self-rerun merge) and allAnnotations (each flaky test
//   located where it failed); beside it, as the "before" peer in the same run, the quadratic matching it
//   replaced, at the sizes where that still ends in seconds;
// - the publish step, pure: restoreRun(resultFromZip(zip)) of the saved result's artifact, annotations()
//   and summary(), as mode publish builds the check run.
// Time per test should stay about constant (linear), however many tests.
import { zipSync, strToU8 } from 'fflate';
import { caseId, summarize, type TestCase } from '../src/gate/junit.js';
import { allAnnotations, annotations, summary } from '../src/gate/report.js';
import { concludeRun, type Attempt, type TestRun } from '../src/gate/run.js';
import { restoreRun, resultFromZip, savedResult } from '../src/gate/saved.js';

export interface GatePublishBench {
  /** Milliseconds per size (number of tests), best of the runs. */
  flakyMs: Record<string, number>;
  publishMs: Record<string, number>;
  /** The quadratic matching it replaced, at the sizes it was run. */
  beforeMs: Record<string, number>;
  zipBytes: Record<string, number>;
  lines: string[];
}

const SIZES = [1000, 10_000, 50_000, 200_000];
const BEFORE_SIZES = [1000, 4000];

/** `n` tests that failed in attempt 1 (each at its own file and line) and passed in attempt 2. */
function attemptsOf(n: number): Attempt[] {
  const failed: TestCase[] = [];
  const passed: TestCase[] = [];
  for (let i = 0; i < n; i++) {
    // Short names: 200,000 tests in two attempts must fit the 64 MiB a saved result may be (~47 MB here).
    const file = `src/mod${i % 60}/f${i % 12}.test.ts`;
    failed.push({
      classname: file,
      name: `case ${i}`,
      time: 0.004,
      status: 'failed',
      message: `expected ${i} to be ${i + 1}`,
      file,
      line: 20 + (i % 300),
    });
    passed.push({ classname: file, name: `case ${i}`, time: 0.002, status: 'passed' });
  }
  const attempt = (k: number, exitCode: number, cases: TestCase[]): Attempt => {
    const report = summarize(cases);
    return {
      attempt: k,
      exitCode,
      durationMs: 1000,
      reportFiles: ['reports/junit.xml'],
      report,
      passed: exitCode === 0 && report.failures === 0,
    };
  };
  return [attempt(1, 1, failed), attempt(2, 0, passed)];
}

/** What flaky matching was before 1.1 (this release), for the peer figure: a list scan per test, a full search per flaky test. */
function quadraticFlaky(attempts: Attempt[]): number {
  const final = attempts[attempts.length - 1];
  const passedNow = new Set(final.report?.cases.filter((c) => c.status === 'passed').map(caseId) ?? []);
  const flipped: string[] = [];
  for (const a of attempts.slice(0, -1)) {
    for (const c of a.report?.cases ?? []) {
      const id = caseId(c);
      if ((c.status === 'failed' || c.status === 'error') && passedNow.has(id) && !flipped.includes(id))
        flipped.push(id);
    }
  }
  let located = 0;
  for (const id of flipped) {
    const failed = attempts
      .flatMap((a) => a.report?.cases ?? [])
      .find((c) => caseId(c) === id && c.file && c.status !== 'passed');
    if (failed?.file) located++;
  }
  return located;
}

function best(runs: number, fn: () => void): number {
  let ms = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return ms;
}

const perTest = (ms: number, n: number): string => `${((ms * 1000) / n).toFixed(1)} µs/test`;
const count = (n: number): string => n.toLocaleString('en-US');
const time = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);

export async function benchGatePublish(runs = 3, log: (line: string) => void = console.log): Promise<GatePublishBench> {
  const flakyMs: Record<string, number> = {};
  const publishMs: Record<string, number> = {};
  const beforeMs: Record<string, number> = {};
  const zipBytes: Record<string, number> = {};
  const sha = 'a'.repeat(40);
  // One untimed pass first, so the 1,000-test figures are not the JIT's warm-up.
  for (const n of [1000, ...SIZES]) {
    const attempts = attemptsOf(n);
    let run: TestRun | undefined;
    flakyMs[n] = best(runs, () => {
      run = concludeRun(attempts, 2000);
      if (run.flakyTests.length !== n || allAnnotations(run).length !== n)
        throw new Error(`bench: ${run.flakyTests.length} flaky tests of ${n}`);
    });
    // The artifact mode save leaves for mode publish: result.json, zipped as upload-artifact zips it.
    const zip = zipSync({
      'result.json': strToU8(JSON.stringify(savedResult(run!, { headSha: sha, pullRequest: 7, command: 'npm test' }))),
    });
    zipBytes[n] = zip.length;
    publishMs[n] = best(runs, () => {
      const { run: back } = restoreRun(resultFromZip(zip));
      const anns = annotations(back);
      const text = summary({ checkName: 'test-gate', command: '(run 501)', run: back });
      if (back.flakyTests.length !== n || anns.length !== Math.min(n, 1000) || text.length === 0)
        throw new Error(`bench: publish read ${back.flakyTests.length} flaky tests of ${n}`);
    });
  }
  for (const n of BEFORE_SIZES) {
    const attempts = attemptsOf(n);
    beforeMs[n] = best(1, () => {
      if (quadraticFlaky(attempts) !== n) throw new Error('bench: the quadratic peer located too few');
    });
  }
  const series = (ms: Record<string, number>, sizes: number[]): string =>
    sizes.map((n) => `${count(n)} ${time(ms[n])} (${perTest(ms[n], n)})`).join(', ');
  const spread = (ms: Record<string, number>): string => {
    const us = SIZES.map((n) => ms[n] / n);
    return `${(Math.max(...us) / Math.min(...us)).toFixed(1)}x`;
  };
  const lines = [
    `test-gate flaky matching, all tests flaky: ${series(flakyMs, SIZES)}; per-test spread ${spread(flakyMs)}. ` +
      `Before (quadratic, same run): ${series(beforeMs, BEFORE_SIZES)} (best of ${runs}; before: one run)`,
    `test-gate publish step (restoreRun(resultFromZip) + annotations + summary): ${series(publishMs, SIZES)}; per-test spread ${spread(publishMs)} ` +
      `(zip ${(zipBytes[200_000] / 1e6).toFixed(1)} MB at 200,000 tests)`,
  ];
  lines.forEach((l) => log(l));
  return { flakyMs, publishMs, beforeMs, zipBytes, lines };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchGatePublish(Number(process.argv[2] ?? 3));
}

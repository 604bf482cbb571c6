// test-gate's step outputs and the failure message of a red test run: what every mode (run, save, publish)
// ends with.
import { caseId } from './junit.js';
import { failingCases } from './report.js';
import type { TestRun } from './run.js';
import type { TreeState } from './tree.js';

/** The outputs of a run that tested nothing (an event the gate does not run on, a publish it skips). */
export const SKIPPED = {
  result: 'skipped',
  tests: 0,
  failures: 0,
  flaky: 0,
  duration: 0,
  tree: '',
  'results-path': '',
};

export function runOutputs(run: TestRun, tree: TreeState | undefined) {
  const rep = run.final.report;
  return {
    result: run.passed ? 'passed' : 'failed',
    tests: rep?.tests ?? 0,
    failures: rep ? rep.failures + rep.errors : run.passed ? 0 : 1,
    flaky: run.flaky ? Math.max(1, run.flakyTests.length) : 0,
    duration: Math.round(run.durationMs / 100) / 10,
    tree: tree?.state ?? '',
    'results-path': '',
  };
}

export function testFailureMessage(run: TestRun): string {
  const rep = run.final.report;
  const failing = failingCases(run);
  const attempts = run.attempts.length > 1 ? ` (after ${run.attempts.length} attempts)` : '';
  if (rep && failing.length > 0) {
    const names = failing.slice(0, 5).map(caseId).join(', ');
    return `${failing.length} of ${rep.tests} tests failed${attempts}: ${names}${failing.length > 5 ? ', …' : ''}`;
  }
  const signal = run.final.signal ? ` (${run.final.signal})` : '';
  return `the test command failed with exit code ${run.final.exitCode}${signal}${attempts}`;
}

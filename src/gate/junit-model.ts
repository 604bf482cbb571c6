// What a JUnit report reads as: its test cases, their problems, and the counts over them. Reports of
// several files (or attempts) merge by adding up their cases.

export type CaseStatus = 'passed' | 'failed' | 'error' | 'skipped';

/** One `<failure>` or `<error>` of a test case: several per case are common (catch2 CHECK, googletest EXPECT). */
export interface Problem {
  kind: 'failure' | 'error';
  message: string;
  details?: string;
  /** Repository-relative path, when known. */
  file?: string;
  line?: number;
}

export interface TestCase {
  /** `classname` (or the suite name) and `name`, as the report gives them. */
  classname: string;
  name: string;
  /** Seconds. */
  time: number;
  status: CaseStatus;
  /** The first problem's (for a failing case), or the skip reason. */
  message?: string;
  details?: string;
  /** Repository-relative path, when known: the first problem's location for a failing case. */
  file?: string;
  line?: number;
  /** Maven surefire's `flakyFailure`: failed, then passed on its own re-run. */
  flaky?: boolean;
  /** Every failure and error, those of the kind that decides the status first. */
  problems?: Problem[];
}

export interface JUnitReport {
  tests: number;
  passed: number;
  failures: number;
  errors: number;
  skipped: number;
  /** Seconds, the sum of the cases. */
  time: number;
  cases: TestCase[];
  /** What was read but looks wrong (a suite that declares tests and lists none), without the file's name. */
  warnings: string[];
}

/** A short, stable id for a test case across attempts: used to see which tests flipped on retry. */
export const caseId = (c: Pick<TestCase, 'classname' | 'name'>): string =>
  c.classname && c.classname !== c.name ? `${c.classname} › ${c.name}` : c.name;

export function summarize(cases: TestCase[], warnings: string[] = []): JUnitReport {
  const counts = { passed: 0, failed: 0, error: 0, skipped: 0 };
  let time = 0;
  for (const c of cases) {
    counts[c.status]++;
    time += c.time;
  }
  return {
    tests: cases.length,
    passed: counts.passed,
    failures: counts.failed,
    errors: counts.error,
    skipped: counts.skipped,
    time: round(time),
    cases,
    warnings,
  };
}

export function mergeReports(reports: JUnitReport[]): JUnitReport {
  return summarize(
    reports.flatMap((r) => r.cases),
    reports.flatMap((r) => r.warnings ?? []),
  );
}

/** Seconds to the millisecond. */
export const round = (n: number): number => Math.round(n * 1000) / 1000;

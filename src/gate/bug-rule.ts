// The bug-needs-test rule, pure: a pull request labelled as a bug fix must change a test.
import { minimatch } from 'minimatch';

export interface BugRuleResult {
  /** The pull request carries a bug label. */
  applies: boolean;
  ok: boolean;
  message: string;
  testFiles: string[];
}

/** Pure: a pull request labelled as a bug fix must change at least one file matching `testPaths`. */
export function bugRule(
  labels: readonly string[],
  files: readonly string[],
  o: { bugLabels: readonly string[]; testPaths: readonly string[] },
): BugRuleResult {
  const wanted = new Set(o.bugLabels.map((l) => l.toLowerCase()));
  const bugLabel = labels.find((l) => wanted.has(l.toLowerCase()));
  if (!bugLabel) return { applies: false, ok: true, message: 'not labelled as a bug fix', testFiles: [] };
  const testFiles = files.filter((f) => o.testPaths.some((p) => minimatch(f, p, { dot: true })));
  if (testFiles.length > 0) {
    return {
      applies: true,
      ok: true,
      message: `bug fix with a test: ${testFiles.slice(0, 5).join(', ')}${testFiles.length > 5 ? ', …' : ''}`,
      testFiles,
    };
  }
  return {
    applies: true,
    ok: false,
    message:
      `this pull request is labelled '${bugLabel}' but changes no test: every bug fixed gets a new ` +
      `test. Add one that fails without the fix (files matching test-paths: ${o.testPaths.join(', ')}).`,
    testFiles,
  };
}

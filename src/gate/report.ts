// Pure rendering of a gate run: the check run's title and summary, its annotations (GitHub takes at most 50
// per request), and the job summary with the slowest tests.
import { caseId, type Problem, type TestCase } from './junit.js';
import type { TestRun } from './run.js';
import { short, type TreeState } from './tree.js';
import { formatDuration } from '../common/format.js';
import { mdBlock, mdCode, mdHtml, mdText } from '../common/markdown.js';
import { ANNOTATIONS_PER_REQUEST, GITHUB_LIMITS, clip, fitMarkdown } from '../github/limits.js';

export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
  title?: string;
  raw_details?: string;
}

export interface GateReport {
  checkName: string;
  command: string;
  run: TestRun;
  /** Tree state where the gate determined one (push to or PR against the default branch). */
  tree?: { state: TreeState; branch: string; overridden?: boolean; queueEntry?: boolean };
  /** The bug-needs-test rule, when it applied. */
  bugRule?: { ok: boolean; message: string };
}

export { ANNOTATIONS_PER_REQUEST };
/**
 * GitHub documents 50 annotations per request and no total per check run, but each request is one of the
 * 1,000 an hour a GITHUB_TOKEN has: the gate posts at most 20 requests' worth and says so in the summary.
 */
export const MAX_ANNOTATIONS = 20 * ANNOTATIONS_PER_REQUEST;
const SLOWEST = 10;

export function failingCases(run: TestRun): TestCase[] {
  return run.final.report?.cases.filter((c) => c.status === 'failed' || c.status === 'error') ?? [];
}

export function conclusion(r: GateReport): 'success' | 'failure' {
  return r.run.passed && (r.bugRule?.ok ?? true) ? 'success' : 'failure';
}

export function title(r: GateReport): string {
  const rep = r.run.final.report;
  const parts: string[] = [];
  if (rep) {
    const failing = rep.failures + rep.errors;
    parts.push(failing > 0 ? `${failing} of ${rep.tests} tests failed` : `${rep.tests} tests passed`);
    if (rep.skipped > 0) parts.push(`${rep.skipped} skipped`);
  } else {
    parts.push(r.run.passed ? 'command passed' : `command failed (exit code ${r.run.final.exitCode})`);
  }
  if (r.run.flaky) parts.push(`flaky: passed on attempt ${r.run.attempts.length}`);
  if (r.bugRule && !r.bugRule.ok) parts.push('bug fix without a test');
  return parts.join(', ');
}

/**
 * The annotations the check run gets: the first {@link MAX_ANNOTATIONS} of {@link allAnnotations}, and no more
 * built.
 */
export function annotations(run: TestRun): Annotation[] {
  return allAnnotations(run, MAX_ANNOTATIONS);
}

/**
 * One annotation per failure or error element with a file (a case with three `<failure>`s gets three, each
 * at its own line, titled "(failure 2/3)" as mikepenz/action-junit-report titles them); then flipped tests
 * as warnings. With `limit`, the first `limit` of them, and none built after.
 */
export function allAnnotations(run: TestRun, limit = Infinity): Annotation[] {
  const out: Annotation[] = [];
  for (const c of failingCases(run)) {
    if (out.length >= limit) break;
    // Cases made elsewhere (a saved result) may carry only the first problem's fields.
    const problems: Problem[] =
      c.problems && c.problems.length > 0
        ? c.problems
        : [
            {
              kind: c.status === 'error' ? 'error' : 'failure',
              message: c.message ?? c.status,
              details: c.details,
              file: c.file,
              line: c.line,
            },
          ];
    problems.forEach((p, i) => {
      if (!p.file) return;
      const line = p.line ?? 1;
      out.push({
        path: p.file,
        start_line: line,
        end_line: line,
        annotation_level: 'failure',
        title: clip(
          `${caseId(c)}${problems.length > 1 ? ` (${p.kind} ${i + 1}/${problems.length})` : ''}`,
          GITHUB_LIMITS.annotationTitle,
        ),
        message: clip(p.message || c.status, GITHUB_LIMITS.annotationMessage),
        ...(p.details ? { raw_details: clip(p.details, GITHUB_LIMITS.annotationMessage) } : {}),
      });
    });
  }
  if (run.flaky && run.flakyTests.length > 0 && out.length < limit) {
    // Where a flipped test failed, from the attempt in which it failed.
    const failedAt = whereFailed(run);
    for (const id of run.flakyTests) {
      if (out.length >= limit) break;
      const failed = failedAt.get(id);
      if (!failed?.file) continue;
      out.push({
        path: failed.file,
        start_line: failed.line ?? 1,
        end_line: failed.line ?? 1,
        annotation_level: 'warning',
        title: clip(`flaky: ${id}`, GITHUB_LIMITS.annotationTitle),
        message: `Failed, then passed on retry: ${(failed.message ?? '').slice(0, 1000)}`,
      });
    }
  }
  return out.length > limit ? out.slice(0, limit) : out;
}

/**
 * Each flaky test's first case with a file that did not pass, attempts and cases in order: one pass over
 * the attempts for all of them (30,000 flaky tests each searching every attempt took minutes).
 */
function whereFailed(run: TestRun): Map<string, TestCase> {
  const flaky = new Set(run.flakyTests);
  const first = new Map<string, TestCase>();
  for (const a of run.attempts) {
    for (const c of a.report?.cases ?? []) {
      if (!c.file || c.status === 'passed') continue;
      const id = caseId(c);
      if (flaky.has(id) && !first.has(id)) first.set(id, c);
    }
  }
  return first;
}

export function batches<T>(items: readonly T[], size = ANNOTATIONS_PER_REQUEST): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function slowest(run: TestRun, n = SLOWEST): TestCase[] {
  return [...(run.final.report?.cases ?? [])]
    .filter((c) => c.status !== 'skipped')
    .sort((a, b) => b.time - a.time)
    .slice(0, n);
}

/** The check run's summary and the job summary (the same Markdown). */
export function summary(r: GateReport): string {
  const run = r.run;
  const lines: string[] = [
    ...headline(r),
    ...commandLine(r),
    ...annotationsCut(run),
    ...reportWarnings(run),
    ...(r.bugRule ? [`${r.bugRule.ok ? '✅' : '❌'} ${mdText(r.bugRule.message)}`, ''] : []),
    ...(r.tree ? [treeLine(r.tree, run.passed), ''] : []),
    ...flakySection(run),
    ...failingSection(run),
    ...slowestSection(run),
  ];
  // The same text is the check run's summary and the job summary: the smaller limit is the check run's.
  return fitMarkdown(lines.join('\n'), GITHUB_LIMITS.checkRunSummary, SUMMARY_CUT);
}

/** The title, and the counts where a JUnit report gave them. */
function headline(r: GateReport): string[] {
  const rep = r.run.final.report;
  const icon = conclusion(r) === 'success' ? '✅' : '❌';
  const lines = [`## ${icon} ${r.checkName}: ${title(r)}`, ''];
  if (rep) {
    const counts = `${rep.tests} | ${rep.passed} | ${rep.failures} | ${rep.errors} | ${rep.skipped}`;
    lines.push(
      '| tests | passed | failed | errors | skipped | time |',
      '| ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${counts} | ${formatDuration(rep.time * 1000)} |`,
      '',
    );
  }
  return lines;
}

function commandLine(r: GateReport): string[] {
  const run = r.run;
  const command = mdCode(r.command.split('\n')[0]);
  const took = `${formatDuration(run.durationMs)} in ${run.attempts.length} attempt(s)`;
  return [`Command ${command}: exit code ${run.final.exitCode}, ${took}.`, ''];
}

/** Says so where the check run got only the first {@link MAX_ANNOTATIONS} annotations. */
function annotationsCut(run: TestRun): string[] {
  const anns = allAnnotations(run);
  if (anns.length <= MAX_ANNOTATIONS) return [];
  const flaky = anns.some((a) => a.annotation_level === 'warning');
  const first = MAX_ANNOTATIONS.toLocaleString('en-US');
  return [
    `⚠️ Annotated the first ${first} of ${anns.length.toLocaleString('en-US')} ` +
      `failures${flaky ? ' and flaky-test warnings' : ''}: GitHub takes 50 annotations a request, ` +
      `and test-gate stops at ${MAX_ANNOTATIONS / ANNOTATIONS_PER_REQUEST} requests to stay within the ` +
      `1,000 an hour a GITHUB_TOKEN has. The test output in the run log has every failure.`,
    '',
  ];
}

function reportWarnings(run: TestRun): string[] {
  const warnings = run.final.warnings ?? [];
  if (warnings.length === 0) return [];
  // Each names its report first ("reports/x.xml: not valid XML …").
  const items = warnings.map((w) => {
    const i = w.indexOf(': ');
    return i > 0 ? `- ${mdCode(w.slice(0, i))}: ${mdText(w.slice(i + 2))}` : `- ${mdText(w)}`;
  });
  return ['### Report warnings', '', ...items, ''];
}

function treeLine(tree: NonNullable<GateReport['tree']>, passed: boolean): string {
  const t = tree.state;
  if (t.state === 'open') {
    const at = t.at ? `is green at \`${short(t.at.sha)}\`` : 'has no gate result yet';
    return `🟢 Tree open: ${mdCode(tree.branch)} ${at}.`;
  }
  const closed =
    `🔴 Tree closed: ${mdCode(tree.branch)} is red since \`${short((t.since ?? t.at!).sha)}\`` +
    `${tree.overridden ? ' (overridden by label on this pull request)' : ''}.`;
  if (!tree.queueEntry) return closed;
  // A merge-queue entry is tested on top of the red branch: passing there makes it the fix.
  return passed
    ? `${closed} This merge-queue entry passes on top of it: merging it turns the branch green.`
    : `${closed} This merge-queue entry fails on top of it and leaves the queue.`;
}

function flakySection(run: TestRun): string[] {
  if (!run.flaky) return [];
  return [
    '### ⚠️ Flaky',
    '',
    run.flakyTests.length > 0
      ? 'These tests failed, then passed on a retry:'
      : `The command failed, then passed on attempt ${run.attempts.length} (no JUnit report names the tests).`,
    ...run.flakyTests.map((t) => `- ${mdCode(t)}`),
    '',
  ];
}

function failingSection(run: TestRun): string[] {
  const failing = failingCases(run);
  if (failing.length === 0) return [];
  const lines = ['### Failing tests', ''];
  for (const c of failing) {
    const where = c.file ? ` (<code>${mdHtml(`${c.file}${c.line ? `:${c.line}` : ''}`)}</code>)` : '';
    const what = `<code>${mdHtml(caseId(c))}</code>${where}: ${mdHtml(firstLine(c.message ?? ''))}`;
    lines.push(`<details><summary>${what}</summary>`, '');
    if (c.details) lines.push(mdBlock(c.details, { max: 4000 }));
    lines.push('</details>', '');
  }
  return lines;
}

function slowestSection(run: TestRun): string[] {
  const slow = slowest(run);
  if (slow.length === 0) return [];
  return [
    `### Slowest tests`,
    '',
    '| test | time |',
    '| --- | ---: |',
    ...slow.map((c) => `| ${mdCode(caseId(c), { cell: true })} | ${formatDuration(c.time * 1000)} |`),
    '',
  ];
}

const SUMMARY_CUT =
  `… cut here to fit ${GITHUB_LIMITS.checkRunSummary.what} ` +
  `(${GITHUB_LIMITS.checkRunSummary.chars.toLocaleString('en-US')} characters): the run log and the JUnit ` +
  `reports have every test.`;

function firstLine(s: string): string {
  return s.split('\n')[0].trim().slice(0, 200);
}

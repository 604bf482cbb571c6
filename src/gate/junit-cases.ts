// A parsed JUnit report's test cases, as the established readers read them: suites nested or not, files
// inherited from suites, several problems per case (the most severe decides), pytest's teardown errors
// merged into their test, surefire's re-runs and flaky runs, and the many ways of saying "not run".
import { Locator, type LocateOptions } from './junit-locate.js';
import { round, type Problem, type TestCase } from './junit-model.js';
import { plural } from '../common/format.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML is free-form
export type Node = Record<string, any>;

/** The cases of a parsed report (`<testsuites>` and/or `<testsuite>` at the top), and what looks wrong in it. */
export function readReport(doc: Node, opts: LocateOptions): { cases: TestCase[]; warnings: string[] } {
  const roots: Node[] = [...asNodes(doc.testsuites)];
  if ('testsuite' in doc) roots.push({ testsuite: doc.testsuite });
  const cases: TestCase[] = [];
  const warnings: string[] = [];
  const locator = new Locator(opts);
  for (const root of roots) {
    const pytestRoot = /pytest/.test(text0(root['@_name']));
    const read = (suite: Node, list: Node[], file: string): void => {
      const pytest = pytestRoot || text0(suite['@_name']) === 'pytest';
      readCases(suite, list, { locator, pytest, file }, cases);
    };
    // Node's own junit reporter puts top-level tests straight under <testsuites>, with no <testsuite>.
    read(root, asNodes(root.testcase), text0(root['@_file']));
    const nested = walkSuites(asNodes(root.testsuite), text0(root['@_file']), read, warnings);
    const declared = Number(text0(root['@_tests']).trim());
    if (declared > 0 && nested.cases + asNodes(root.testcase).length === 0 && !nested.warned) {
      const tests = plural(declared, 'test');
      warnings.push(`the report declares ${tests} but lists none: they are not counted`);
    }
  }
  return { cases, warnings };
}

/** Visits every suite once, depth first; warns about a suite that declares tests and lists none at any depth. */
function walkSuites(
  suites: Node[],
  inheritedFile: string,
  read: (suite: Node, cases: Node[], file: string) => void,
  warnings: string[],
): { cases: number; warned: boolean } {
  let cases = 0;
  let warned = false;
  for (const suite of suites) {
    // mocha-junit-reporter and PHPUnit put `file` on the suite; its cases (and nested suites) inherit it.
    const file = text0(suite['@_file']) || inheritedFile;
    const own = asNodes(suite.testcase);
    read(suite, own, file);
    // Some producers nest suites (PHPUnit per class inside a suite, per-file suites inside a package suite).
    const nested = walkSuites(asNodes(suite.testsuite), file, read, warnings);
    const found = own.length + nested.cases;
    const declared = Number(text0(suite['@_tests']).trim());
    if (found === 0 && declared > 0 && !nested.warned) {
      const name = text0(suite['@_name']).trim();
      const tests = plural(declared, 'test');
      warnings.push(`${name ? `suite '${name}'` : 'a suite'} declares ${tests} but lists none: they are not counted`);
      warned = true;
    }
    warned ||= nested.warned;
    cases += found;
  }
  return { cases, warned };
}

interface CaseContext {
  locator: Locator;
  /** pytest's `line` attribute counts from 0. */
  pytest: boolean;
  /** The nearest suite's `file`. */
  file: string;
}

function readCases(suite: Node, list: Node[], ctx: CaseContext, out: TestCase[]): void {
  let prev: { node: Node; tc: TestCase } | undefined;
  for (const c of list) {
    const tc = readCase(suite, c, ctx);
    // pytest writes a test that fails and whose fixture then fails in teardown as two <testcase> elements
    // with the same name, the second holding only the teardown <error>: it is one test (as EnricoMi counts
    // tests), and the more severe result, the error, wins.
    if (prev && isTeardownOf(c, prev.node) && tc.problems) {
      prev.tc.time = round(prev.tc.time + tc.time);
      setProblems(prev.tc, [...tc.problems, ...(prev.tc.problems ?? [])], 'error');
      continue;
    }
    out.push(tc);
    prev = { node: c, tc };
  }
}

function isTeardownOf(c: Node, prev: Node): boolean {
  const errors = asNodes(c.error);
  return (
    errors.length > 0 &&
    asNodes(c.failure).length === 0 &&
    asNodes(c.skipped).length === 0 &&
    text0(c['@_name']) === text0(prev['@_name']) &&
    text0(c['@_classname']) === text0(prev['@_classname']) &&
    text0(c['@_file']) === text0(prev['@_file']) &&
    errors.every((e) => /^failed on teardown\b/.test(text0(e['@_message'])))
  );
}

/**
 * Not run: tst/doctest `status="disabled"`, TeamCity `ignored` (as mikepenz reads them), googletest's
 * DISABLED_ tests and 1.10 skips.
 */
const NOT_RUN_STATUS = new Set(['disabled', 'ignored', 'notrun']);
const NOT_RUN_RESULT = new Set(['suppressed', 'skipped']);

function readCase(suite: Node, c: Node, ctx: CaseContext): TestCase {
  const classname = text0(c['@_classname'] ?? suite['@_name']);
  const name = text0(c['@_name']);
  const tc: TestCase = { classname, name, time: parseTime(c['@_time']), status: 'passed' };
  const caseFile = text0(c['@_file']) || ctx.file;
  const problems = caseProblems(c, ctx, { classname, name, caseFile });
  if (problems.length > 0) {
    setProblems(tc, problems, problems[0].kind);
    return tc;
  }
  const skipped = asNodes(c.skipped)[0];
  const notRun =
    NOT_RUN_STATUS.has(text0(c['@_status']).toLowerCase()) || NOT_RUN_RESULT.has(text0(c['@_result']).toLowerCase());
  if (skipped || notRun) {
    tc.status = 'skipped';
    if (skipped) {
      const { message, details } = resultText(skipped, 'skipped');
      tc.message = message;
      if (details) tc.details = details;
    }
  } else if ([...asNodes(c.flakyFailure), ...asNodes(c.flakyError)].length > 0) {
    tc.flaky = true;
  }
  const file = ctx.locator.resolve(caseFile);
  if (file) tc.file = file;
  return tc;
}

type KindAndNode = [Problem['kind'], Node];
const ofKind = (kind: Problem['kind'], nodes: Node[]): KindAndNode[] => nodes.map((n): KindAndNode => [kind, n]);

/** A case's failures and errors, located, the most severe kind first. */
function caseProblems(
  c: Node,
  ctx: CaseContext,
  who: { classname: string; name: string; caseFile: string },
): Problem[] {
  const failures = asNodes(c.failure);
  const errors = asNodes(c.error);
  // Surefire's re-runs of a test that kept failing: the same failure again, not another one. Alone (no
  // <failure>), they still say the test failed.
  const reruns =
    failures.length + errors.length === 0
      ? [...ofKind('error', asNodes(c.rerunError)), ...ofKind('failure', asNodes(c.rerunFailure))].slice(0, 1)
      : [];
  const caseLine = c['@_line'] === undefined ? undefined : Number(c['@_line']) + (ctx.pytest ? 1 : 0);
  // Several results in one case: the most severe decides (EnricoMi: error > failure > skipped), so a case
  // with a failure and an error is one error, with both problems kept.
  const nodes: KindAndNode[] = [...ofKind('error', errors), ...ofKind('failure', failures), ...reruns];
  return nodes.map(([kind, node]) => {
    const { message, details } = resultText(node, kind);
    const p: Problem = { kind, message };
    if (details) p.details = details;
    const loc = ctx.locator.locate({
      elemFile: text0(node['@_file']),
      elemLine: node['@_line'] === undefined ? undefined : Number(node['@_line']),
      caseFile: who.caseFile,
      caseLine,
      classname: who.classname,
      name: who.name,
      trace: `${message}\n${details ?? ''}`,
    });
    if (loc) Object.assign(p, loc);
    return p;
  });
}

/** The problems, and the case's status and first-problem fields from them. */
function setProblems(tc: TestCase, problems: Problem[], winner: Problem['kind']): void {
  const ordered = [...problems.filter((p) => p.kind === winner), ...problems.filter((p) => p.kind !== winner)];
  const first = ordered[0];
  tc.status = winner === 'error' ? 'error' : 'failed';
  tc.problems = ordered;
  tc.message = first.message;
  delete tc.details;
  delete tc.file;
  delete tc.line;
  if (first.details) tc.details = first.details;
  if (first.file) tc.file = first.file;
  if (first.line !== undefined) tc.line = first.line;
}

/** The message (attribute, else the text's first line, else the type) and the text of a result element. */
function resultText(node: Node, kind: string): { message: string; details?: string } {
  // Surefire's rerun and flaky elements hold their trace in a <stackTrace> child.
  const raw = text0(node['#text']) || text0(asNodes(node.stackTrace)[0]?.['#text']);
  // trimEnd, not /\s+$/: that regex is quadratic on a long run of spaces inside the text.
  const body = raw.replace(/^\s*\n/, '').trimEnd();
  const message = text0(node['@_message']).trim() || firstLine(body) || text0(node['@_type']).trim() || kind;
  return body ? { message, details: body } : { message };
}

function asNodes(v: unknown): Node[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  // `<skipped/>` parses as '' and `<failure>text</failure>` as a string: make both nodes.
  return list.map((x) => (typeof x === 'object' && x !== null ? (x as Node) : { '#text': String(x ?? '') }));
}

function text0(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? ''
  );
}

/**
 * Seconds. Old surefire wrote the locale's number format: "1,234.5" (thousands) or "0,012" (a decimal
 * comma); a few producers add a unit ("1.5s", "250ms").
 */
function parseTime(v: unknown): number {
  let s = text0(v).trim();
  let scale = 1;
  if (/ms$/i.test(s)) {
    scale = 0.001;
    s = s.slice(0, -2);
  } else if (/s$/i.test(s)) s = s.slice(0, -1);
  s = s.includes('.') ? s.replace(/,/g, '') : s.replace(',', '.');
  const n = Number(s) * scale;
  return Number.isFinite(n) && n > 0 ? n : 0;
}

// Pure JUnit XML reading: the report formats jest-junit, pytest (--junitxml), go-junit-report and maven
// surefire write. Each producer puts the failing file and line somewhere else, so locations are taken from
// attributes when present, else from the failure text (stack trace), and made repository-relative.
import { XMLParser } from 'fast-xml-parser';
import { errorMessage } from '../common/errors.js';

export type CaseStatus = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestCase {
  /** `classname` (or the suite name) and `name`, as the report gives them. */
  classname: string;
  name: string;
  /** Seconds. */
  time: number;
  status: CaseStatus;
  message?: string;
  details?: string;
  /** Repository-relative path, when known. */
  file?: string;
  line?: number;
  /** Maven surefire's `flakyFailure`: failed, then passed on its own re-run. */
  flaky?: boolean;
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
}

export interface LocateOptions {
  /** Absolute path of the repository checkout: absolute paths under it become relative. */
  repoRoot: string;
  /**
   * Repository-relative files, when known: paths from another machine (a container, a different checkout
   * directory) and package-relative names (go's `cart_test.go`) are matched against them by suffix.
   */
  files?: readonly string[];
}

/** A short, stable id for a test case across attempts: used to see which tests flipped on retry. */
export const caseId = (c: Pick<TestCase, 'classname' | 'name'>): string => (c.classname && c.classname !== c.name ? `${c.classname} › ${c.name}` : c.name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML is free-form
type Node = Record<string, any>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'skipped', 'flakyFailure', 'flakyError', 'rerunFailure', 'rerunError'].includes(name),
});

export function parseJUnit(xml: string, opts: LocateOptions): JUnitReport {
  let doc: Node;
  try {
    doc = parser.parse(xml) as Node;
  } catch (err) {
    throw new Error(`not valid XML: ${errorMessage(err)}`);
  }
  const roots: Node[] = [];
  if (doc.testsuites) roots.push(...[].concat(doc.testsuites));
  if (doc.testsuite) roots.push({ testsuite: doc.testsuite });
  if (roots.length === 0) throw new Error('no <testsuites> or <testsuite> element: not a JUnit report');
  const cases: TestCase[] = [];
  const locator = new Locator(opts);
  for (const root of roots) {
    const pytest = /pytest/.test(String(root['@_name'] ?? ''));
    const visit = (suite: Node, c: Node) => cases.push(readCase(suite, c, locator, pytest || /^pytest$/.test(String(suite['@_name'] ?? ''))));
    // Node's own junit reporter puts top-level tests straight under <testsuites>, with no <testsuite>.
    for (const c of asNodes(root.testcase)) visit(root, c);
    walkSuites(asNodes(root.testsuite), visit);
  }
  return summarize(cases);
}

export function summarize(cases: TestCase[]): JUnitReport {
  const count = (s: CaseStatus): number => cases.filter((c) => c.status === s).length;
  return {
    tests: cases.length,
    passed: count('passed'),
    failures: count('failed'),
    errors: count('error'),
    skipped: count('skipped'),
    time: round(cases.reduce((t, c) => t + c.time, 0)),
    cases,
  };
}

export function mergeReports(reports: JUnitReport[]): JUnitReport {
  return summarize(reports.flatMap((r) => r.cases));
}

function walkSuites(suites: Node[], visit: (suite: Node, testcase: Node) => void): void {
  for (const suite of suites) {
    for (const c of asNodes(suite.testcase)) visit(suite, c);
    // Some producers nest suites (e.g. per-file suites inside a package suite).
    walkSuites(asNodes(suite.testsuite), visit);
  }
}

function readCase(suite: Node, c: Node, locator: Locator, pytest: boolean): TestCase {
  const classname = String(c['@_classname'] ?? suite['@_name'] ?? '');
  const name = String(c['@_name'] ?? '');
  const failure = asNodes(c.failure)[0];
  const error = asNodes(c.error)[0];
  const skipped = asNodes(c.skipped)[0];
  const problem = failure ?? error;
  const status: CaseStatus = failure ? 'failed' : error ? 'error' : skipped !== undefined ? 'skipped' : 'passed';
  const tc: TestCase = { classname, name, time: parseTime(c['@_time']), status };
  const flakes = [...asNodes(c.flakyFailure), ...asNodes(c.flakyError)];
  if (!problem && flakes.length > 0) tc.flaky = true;
  const shown = problem ?? (status === 'skipped' ? skipped : undefined);
  if (shown) {
    const message = text(shown['@_message']).trim();
    const body = text(shown['#text']).replace(/^\n+|\s+$/g, '');
    const type = text(shown['@_type']).trim();
    tc.message = message || firstLine(body) || type || (status === 'skipped' ? 'skipped' : status);
    if (body) tc.details = body;
  }
  if (status === 'failed' || status === 'error') {
    const loc = locator.locate({
      fileAttr: text(c['@_file'] ?? suite['@_file']),
      lineAttr: c['@_line'] === undefined ? undefined : Number(c['@_line']) + (pytest ? 1 : 0),
      classname,
      trace: `${tc.message ?? ''}\n${tc.details ?? ''}`,
    });
    if (loc) Object.assign(tc, loc);
  } else {
    const file = locator.resolve(text(c['@_file'] ?? suite['@_file']));
    if (file) tc.file = file;
  }
  return tc;
}

interface Frame {
  path: string;
  line: number;
}

/** Turns the path hints of a report into repository-relative locations. */
class Locator {
  private readonly root: string;
  private readonly files?: Set<string>;
  constructor(private readonly opts: LocateOptions) {
    this.root = opts.repoRoot.replace(/\/+$/, '');
    this.files = opts.files ? new Set(opts.files) : undefined;
  }

  locate(hint: { fileAttr: string; lineAttr?: number; classname: string; trace: string }): { file: string; line?: number } | undefined {
    const frames = stackFrames(hint.trace)
      .map((f) => ({ path: this.resolve(f.path, hint.classname), line: f.line }))
      .filter((f): f is Frame => f.path !== undefined);
    // The test's own file: from the attribute, else from the class name (pytest `tests.test_x`, java `com.acme.XTest`).
    const own = this.resolve(hint.fileAttr) ?? this.fromClassname(hint.classname);
    if (own) {
      const inOwn = frames.filter((f) => f.path === own);
      // Python prints the innermost frame last; JS, Java and Go print it first.
      const pick = own.endsWith('.py') ? inOwn[inOwn.length - 1] : inOwn[0];
      if (pick) return { file: own, line: pick.line };
      return hint.lineAttr !== undefined && Number.isFinite(hint.lineAttr) && hint.lineAttr > 0 ? { file: own, line: hint.lineAttr } : { file: own };
    }
    if (frames.length === 0) return undefined;
    const python = frames.some((f) => f.path.endsWith('.py'));
    const f = python ? frames[frames.length - 1] : frames[0];
    return { file: f.path, line: f.line };
  }

  /** A path from a report → repository-relative, or undefined when it is outside the repository. */
  resolve(raw: string, packageHint = '', strict = false): string | undefined {
    if (!raw) return undefined;
    let p = raw.trim().replace(/\\/g, '/').replace(/^file:\/\//, '');
    if (/(^|\/)(node_modules|site-packages|dist-packages)\//.test(p) || p.startsWith('node:') || p.startsWith('internal/')) return undefined;
    if (p.startsWith(`${this.root}/`)) p = p.slice(this.root.length + 1);
    p = p.replace(/^\.\//, '');
    if (!this.files) return p.startsWith('/') || /^[A-Za-z]:\//.test(p) ? undefined : p;
    if (this.files.has(p)) return p;
    const segs = p.split('/').filter(Boolean);
    // A path from another machine: the longest suffix that names a repository file.
    for (let i = 1; i < segs.length; i++) {
      const suffix = segs.slice(i).join('/');
      if (this.files.has(suffix)) return suffix;
    }
    // Go names files relative to their package: the package path's tail is the directory.
    const pkg = packageHint.split('/').filter(Boolean);
    for (let i = 0; i < pkg.length; i++) {
      const candidate = [...pkg.slice(i), ...segs].join('/');
      if (this.files.has(candidate)) return candidate;
    }
    const endings = [...this.files].filter((f) => f.endsWith(`/${p}`));
    if (endings.length === 1) return endings[0];
    // A relative name the checkout does not have (generated, or listed differently) is still the best hint.
    return strict || p.startsWith('/') || /^[A-Za-z]:\//.test(p) ? undefined : p;
  }

  private fromClassname(classname: string): string | undefined {
    if (!this.files || !/^[\w$]+(\.[\w$]+)+$/.test(classname)) return undefined;
    const parts = classname.split('.');
    // Longest prefix first: `tests.test_x.TestY` is `tests/test_x.py`, `com.acme.XTest$Inner` is `com/acme/XTest.java`.
    for (let n = parts.length; n >= 1; n--) {
      const base = parts.slice(0, n).join('/').replace(/\$.*$/, '');
      for (const ext of ['.py', '.java', '.kt', '.scala', '.groovy', '.cs']) {
        const found = this.resolve(`${base}${ext}`, '', true);
        if (found) return found;
      }
    }
    return undefined;
  }
}

/** `path:line` locations in a failure text, in the order they appear. */
export function stackFrames(trace: string): Frame[] {
  const frames: Frame[] = [];
  // `at fn (/abs/x.ts:12:5)`, `at /abs/x.ts:12:5`, `at com.X.m(X.java:27)`, `tests/x.py:11: Error`, `x_test.go:21: msg`.
  // ESM stacks (Node's test runner, jest ESM) name files as `file:///abs/x.mjs:4:28`: the scheme is dropped.
  const re = /(?:^|[\s(])(?:file:\/\/)?((?:[A-Za-z]:)?[^\s():'"<>]*[A-Za-z0-9_-]\.[A-Za-z0-9]{1,10}):(\d+)(?::\d+)?(?=[\s):]|$)/gm;
  // Python's own traceback format: File "x.py", line 12
  const py = /File "([^"]+)", line (\d+)/g;
  for (const m of trace.matchAll(re)) frames.push({ path: m[1], line: Number(m[2]) });
  for (const m of trace.matchAll(py)) frames.push({ path: m[1], line: Number(m[2]) });
  return frames.filter((f) => f.line > 0);
}

function asNodes(v: unknown): Node[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  // `<skipped/>` parses as '' and `<failure>text</failure>` as a string: make both nodes.
  return list.map((x) => (typeof x === 'object' && x !== null ? (x as Node) : { '#text': String(x ?? '') }));
}

function text(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

function parseTime(v: unknown): number {
  // Old surefire versions write thousands separators ("1,234.5").
  const n = Number(String(v ?? '0').replace(/,/g, ''));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

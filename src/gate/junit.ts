// Pure JUnit XML reading, as the established readers read it (mikepenz/action-junit-report,
// dorny/test-reporter, EnricoMi/publish-unit-test-result-action): the shapes jest-junit, mocha, pytest,
// go-junit-report, surefire, googletest, catch2, CUnit, PHPUnit, nextest and bazel write. Each producer puts
// the failing file and line somewhere else, so locations are taken from the failure element's attributes,
// else from its text (stack trace), else from the test case, and made repository-relative.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { errorMessage } from '../common/errors.js';

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

/**
 * What one report may cost. A report is read whole; fast-xml-parser holds ~200 bytes for each element and
 * attribute and, while it reads one, ~36 bytes for each character of a tag or a text. Within these limits
 * the costliest report we could build (64 MiB of small elements, long tags or long values) took at most
 * ~6 s and ~850 MB, where one 100 MB attribute used to exhaust the heap.
 */
export const REPORT_LIMITS = {
  /**
   * Bytes per report file: past it the file is not read (a warning names it). 200,000 tests (the most a
   * saved result holds) in one jest-junit file are 25–50 MB; reading 64 MiB takes ~800 MB of memory.
   */
  bytes: 64 * 1024 * 1024,
  /** Characters kept of an attribute value or a text, the rest cut with `…`: the gate shows at most 64 KiB of any. */
  text: 64 * 1024,
  /** Elements and attributes together: a 200,000-test report has about a million, 64 MiB of one about 3.5 million. */
  nodes: 4_000_000,
  /** Element nesting (a JUnit report nests about 5 deep). */
  depth: 100,
  attributes: 64,
  /** Characters of a tag once its attribute values are cut, and of a name. */
  tag: 1024 * 1024,
  name: 1024,
  /** A DOCTYPE (without declarations) or a processing instruction like `<?xml …?>`. */
  declaration: 4096,
};

const ARRAYS = new Set(['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped', 'flakyFailure', 'flakyError', 'rerunFailure', 'rerunError', 'stackTrace']);
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Numeric character references (`&#10;`, `&#x0A;` in pytest and googletest messages) are text.
  htmlEntities: true,
  isArray: (name) => ARRAYS.has(name),
  // boundedXml refuses entity declarations and deep nesting first; these hold should it ever let one by.
  maxNestedTags: REPORT_LIMITS.depth,
  processEntities: { enabled: true, maxEntitySize: 10_000, maxEntityCount: 100, maxExpandedLength: 100_000 },
});

/**
 * Reads one report. Throws when the file is not a whole XML document (a runner that crashed mid-write
 * leaves one: its tests are not counted at all, never in part) or not a JUnit report.
 */
export function parseJUnit(xml: string, opts: LocateOptions): JUnitReport {
  if (xml.length > REPORT_LIMITS.bytes) throw new Error(`${xml.length} characters, over the ${mib(REPORT_LIMITS.bytes)} a report may be: not read; its tests are not counted`);
  const text = boundedXml(xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml);
  // The parser reads a truncated file as far as it goes, so validity is checked first.
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(invalidXml(valid.err));
  let doc: Node;
  try {
    doc = parser.parse(text) as Node;
  } catch (err) {
    throw new Error(`not valid XML: ${errorMessage(err)}; its tests are not counted`);
  }
  // `<testsuites/>` parses as '': present, and zero tests.
  if (!('testsuites' in doc) && !('testsuite' in doc)) throw new Error('no <testsuites> or <testsuite> element: not a JUnit report');
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
      warnings.push(`the report declares ${declared} test${declared === 1 ? '' : 's'} but lists none: they are not counted`);
    }
  }
  return summarize(cases, warnings);
}

export function summarize(cases: TestCase[], warnings: string[] = []): JUnitReport {
  const counts = { passed: 0, failed: 0, error: 0, skipped: 0 };
  let time = 0;
  for (const c of cases) {
    counts[c.status]++;
    time += c.time;
  }
  return { tests: cases.length, passed: counts.passed, failures: counts.failed, errors: counts.error, skipped: counts.skipped, time: round(time), cases, warnings };
}

export function mergeReports(reports: JUnitReport[]): JUnitReport {
  return summarize(
    reports.flatMap((r) => r.cases),
    reports.flatMap((r) => r.warnings ?? []),
  );
}

/**
 * A report's bytes as text: a BOM (UTF-8, as .NET's loggers write; UTF-16) or the XML declaration's
 * `encoding` decides, as an XML reader decides; UTF-8 otherwise.
 */
export function decodeReport(bytes: Uint8Array): string {
  const b = bytes;
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return new TextDecoder('utf-8').decode(b.subarray(3));
  if ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0x3c && b[1] === 0)) return new TextDecoder('utf-16le').decode(b[0] === 0xff ? b.subarray(2) : b);
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0 && b[1] === 0x3c)) return new TextDecoder('utf-16be').decode(b[0] === 0xfe ? b.subarray(2) : b);
  const head = new TextDecoder('latin1').decode(b.subarray(0, 200));
  const encoding = /^<\?xml[^>]*\sencoding\s*=\s*["']([\w.:-]+)["']/.exec(head)?.[1].toLowerCase();
  if (encoding && encoding !== 'utf-8' && encoding !== 'utf8') {
    try {
      return new TextDecoder(encoding).decode(b);
    } catch {
      // An encoding Node does not know: UTF-8 reads its ASCII at least.
    }
  }
  return new TextDecoder('utf-8').decode(b);
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;

/**
 * The report as the XML validator and parser may read it, in one linear pass: attribute values and texts
 * (CDATA too) longer than {@link REPORT_LIMITS}.text are cut (never inside an entity reference), and a
 * report that would still cost more than the limits allow is refused (throws, naming the line). A report
 * that ends inside markup keeps only a little of it: it is invalid either way, and the validator says so.
 * Markup is found as both the validator and the parser find it (a tag ends at the first `>` outside
 * quotes), so what they read is what was bounded here.
 */
export function boundedXml(xml: string): string {
  const L = REPORT_LIMITS;
  const n = xml.length;
  const out: string[] = [];
  let from = 0; // xml[from, …) is still to be copied to out
  let nodes = 0;
  let depth = 0;
  let run = 0; // characters of text since the last markup (comments do not end a text for the parser)
  const refuse = (at: number, what: string): never => {
    throw new Error(`${what} at line ${lineAt(xml, at)}: past what a report may hold (the README's test-gate limits), so it is not read; its tests are not counted`);
  };
  /** Keeps `keep` characters from `start` (fewer, not to split an entity or a surrogate pair), then `…`, and skips to `end`. */
  const cut = (start: number, end: number, keep: number): void => {
    let stop = start + keep;
    // An entity reference is at most a few dozen characters: look back no further.
    const tail = xml.slice(Math.max(start, stop - 40), stop);
    const amp = tail.lastIndexOf('&');
    if (amp >= 0 && !tail.slice(amp).includes(';')) stop -= tail.length - amp;
    const c = xml.charCodeAt(stop - 1);
    if (stop > start && c >= 0xd800 && c <= 0xdbff) stop--;
    out.push(xml.slice(from, stop), '…');
    from = end;
  };
  /** The file ends inside markup starting at `at`: keep a little of it, so the validator reports it cheaply. */
  const unclosed = (at: number): string => {
    const stop = Math.max(from, Math.min(n, at + 1024));
    out.push(xml.slice(from, stop));
    return out.join('');
  };
  let i = 0;
  while (i < n) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) {
      const length = textEnd - i;
      if (run >= L.text) {
        out.push(xml.slice(from, i));
        from = textEnd;
      } else if (run + length > L.text) cut(i, textEnd, L.text - run);
      run += length;
    }
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) return unclosed(i);
      i = end + 3;
      continue;
    }
    run = 0;
    if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i + 9);
      if (end < 0) return unclosed(i);
      if (end - (i + 9) > L.text) cut(i + 9, end, L.text);
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<!DOCTYPE', i)) {
      // Only a DOCTYPE that names a DTD: the validator and the parser end it at the same `>`, and it
      // declares no entities (entity expansion is how an XML bomb works).
      const end = xml.indexOf('>', i);
      if (end < 0) return unclosed(i);
      const body = xml.slice(i, end);
      if (end - i > L.declaration || /[[<]/.test(body.slice(1)) || !quotesClosed(body)) refuse(i, 'a DOCTYPE with declarations');
      i = end + 1;
      continue;
    }
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i + 2);
      if (end < 0) return unclosed(i);
      // The parser reads a processing instruction's content as attributes, skipping quoted `?>`.
      if (end - i > L.declaration || !quotesClosed(xml.slice(i, end))) refuse(i, `a processing instruction over ${L.declaration} characters or with an open quote`);
      i = end + 2;
      continue;
    }
    if (xml.startsWith('<!', i)) refuse(i, 'markup that is not a comment, CDATA or DOCTYPE');
    // A start or end tag: to the first `>` outside quotes.
    const closing = xml.charCodeAt(i + 1) === 47; // '/'
    let attributes = 0;
    let kept = 0;
    let j = i + 1;
    let end = -1;
    while (j < n) {
      TAG_STOP.lastIndex = j;
      const stop = TAG_STOP.exec(xml);
      if (!stop) break;
      kept += stop.index - j;
      if (stop[0] === '>') {
        end = stop.index;
        break;
      }
      const close = xml.indexOf(stop[0], stop.index + 1);
      if (close < 0) break;
      attributes++;
      const length = close - stop.index - 1;
      if (length > L.text) cut(stop.index + 1, close, L.text);
      kept += Math.min(length, L.text) + 2;
      j = close + 1;
    }
    if (end < 0) return unclosed(i);
    const name = /^<\/?([^\s/>]*)/.exec(xml.slice(i, Math.min(end, i + L.name + 3)))![1];
    if (name.length > L.name) refuse(i, `an element name over ${L.name} characters`);
    if (attributes > L.attributes) refuse(i, `an element with over ${L.attributes} attributes`);
    if (kept > L.tag) refuse(i, `a tag over ${mib(L.tag)}`);
    if (!closing) {
      nodes += 1 + attributes;
      if (nodes > L.nodes) refuse(i, `over ${L.nodes.toLocaleString('en-US')} elements and attributes`);
      if (xml.charCodeAt(end - 1) !== 47 && ++depth > L.depth) refuse(i, `elements nested over ${L.depth} deep`);
    } else depth--;
    i = end + 1;
  }
  if (from === 0) return xml;
  out.push(xml.slice(from));
  return out.join('');
}

const TAG_STOP = /["'>]/g;

/** The quotes in `s` are closed as the parser reads them: one kind opens, the same kind closes. */
function quotesClosed(s: string): boolean {
  let open = '';
  for (const c of s) {
    if (c === '"' || c === "'") open = open === '' ? c : open === c ? '' : open;
  }
  return open === '';
}

function lineAt(s: string, at: number): number {
  let line = 1;
  for (let i = s.indexOf('\n'); i >= 0 && i < at; i = s.indexOf('\n', i + 1)) line++;
  return line;
}

function invalidXml(err: { code: string; msg: string; line: number; col?: number }): string {
  // The validator reports a file that stops inside elements as "Invalid '[ "testsuites", … ]' found.".
  const open = /^Invalid '(\[[\s\S]*\])' found\.$/.exec(err.msg);
  if (open) {
    try {
      const tags = (JSON.parse(open[1]) as string[]).map((t) => `<${t}>`);
      return `not valid XML: it ends before ${tags.join(', ')} ${tags.length > 1 ? 'are' : 'is'} closed (cut off while being written?); its tests are not counted`;
    } catch {
      // Not the list it usually is: the validator's own words below.
    }
  }
  return `not valid XML at line ${err.line}${err.col ? `, column ${err.col}` : ''}: ${err.msg}; its tests are not counted`;
}

/** Visits every suite once, depth first; warns about a suite that declares tests and lists none at any depth. */
function walkSuites(suites: Node[], inheritedFile: string, read: (suite: Node, cases: Node[], file: string) => void, warnings: string[]): { cases: number; warned: boolean } {
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
      warnings.push(`${name ? `suite '${name}'` : 'a suite'} declares ${declared} test${declared === 1 ? '' : 's'} but lists none: they are not counted`);
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

/** Not run: tst/doctest `status="disabled"`, TeamCity `ignored` (as mikepenz reads them), googletest's DISABLED_ tests and 1.10 skips. */
const NOT_RUN_STATUS = new Set(['disabled', 'ignored', 'notrun']);
const NOT_RUN_RESULT = new Set(['suppressed', 'skipped']);

function readCase(suite: Node, c: Node, ctx: CaseContext): TestCase {
  const classname = text0(c['@_classname'] ?? suite['@_name']);
  const name = text0(c['@_name']);
  const tc: TestCase = { classname, name, time: parseTime(c['@_time']), status: 'passed' };
  const failures = asNodes(c.failure);
  const errors = asNodes(c.error);
  // Surefire's re-runs of a test that kept failing: the same failure again, not another one. Alone (no
  // <failure>), they still say the test failed.
  const reruns: [Problem['kind'], Node][] =
    failures.length + errors.length === 0 ? [...asNodes(c.rerunError).map((n): [Problem['kind'], Node] => ['error', n]), ...asNodes(c.rerunFailure).map((n): [Problem['kind'], Node] => ['failure', n])].slice(0, 1) : [];
  const caseFile = text0(c['@_file']) || ctx.file;
  const caseLine = c['@_line'] === undefined ? undefined : Number(c['@_line']) + (ctx.pytest ? 1 : 0);
  const problems: Problem[] = [];
  // Several results in one case: the most severe decides (EnricoMi: error > failure > skipped), so a case
  // with a failure and an error is one error, with both problems kept.
  const nodes: [Problem['kind'], Node][] = [
    ...errors.map((n): [Problem['kind'], Node] => ['error', n]),
    ...failures.map((n): [Problem['kind'], Node] => ['failure', n]),
    ...reruns,
  ];
  for (const [kind, node] of nodes) {
    const { message, details } = resultText(node, kind);
    const p: Problem = { kind, message };
    if (details) p.details = details;
    const loc = ctx.locator.locate({
      elemFile: text0(node['@_file']),
      elemLine: node['@_line'] === undefined ? undefined : Number(node['@_line']),
      caseFile,
      caseLine,
      classname,
      name,
      trace: `${message}\n${details ?? ''}`,
    });
    if (loc) Object.assign(p, loc);
    problems.push(p);
  }
  if (problems.length > 0) {
    setProblems(tc, problems, problems[0].kind);
    return tc;
  }
  const skipped = asNodes(c.skipped)[0];
  if (skipped || NOT_RUN_STATUS.has(text0(c['@_status']).toLowerCase()) || NOT_RUN_RESULT.has(text0(c['@_result']).toLowerCase())) {
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

export interface Frame {
  path: string;
  line: number;
  /** The function or method, where the trace names it (Java, .NET, Python, Go, JS). */
  fn?: string;
  /** Python prints the outermost frame first, as do go's `file:line:` messages; the others innermost first. */
  outerFirst?: boolean;
}

interface Located extends Frame {
  /** A file of the repository's list (when one is given). */
  known: boolean;
}

/** Frameworks and runtimes whose frames are never the test's, when there is no file list to tell. */
const VENDOR = /^(java|javax|jdk|sun|kotlin|kotlinx|scala|junit|org\.junit|org\.opentest4j|org\.apache\.maven|org\.gradle|worker\.org\.gradle|org\.testng|org\.spockframework|org\.scalatest|com\.intellij|System|Microsoft|Xunit|NUnit)[./]/;

/** Turns the path hints of a report into repository-relative locations. */
class Locator {
  private readonly root: string;
  private readonly files?: Set<string>;
  /** Files by base name: suffix matches look at a few candidates, not the whole list. */
  private readonly byBase = new Map<string, string[]>();
  private readonly cache = new Map<string, string | undefined>();
  private readonly classCache = new Map<string, string | undefined>();

  constructor(opts: LocateOptions) {
    this.root = opts.repoRoot.replace(/\/+$/, '');
    if (opts.files) {
      this.files = new Set(opts.files);
      for (const f of this.files) {
        const base = f.slice(f.lastIndexOf('/') + 1);
        const list = this.byBase.get(base);
        if (list) list.push(f);
        else this.byBase.set(base, [f]);
      }
    }
  }

  /**
   * Where a failure belongs: the element's own `file`/`line`; else the frame of the test function; else the
   * outermost frame in the test's own file (the test calling a helper, not the helper); else the outermost
   * frame in the repository (nearest the framework, whose frames are outside it); else the case's line.
   */
  locate(h: { elemFile: string; elemLine?: number; caseFile: string; caseLine?: number; classname: string; name: string; trace: string }): { file: string; line?: number } | undefined {
    const elemFile = this.resolve(h.elemFile, h.classname);
    if (elemFile && validLine(h.elemLine)) return { file: elemFile, line: h.elemLine };
    const caseFile = this.resolve(h.caseFile, h.classname) ?? this.fromClassname(h.classname);
    if (!elemFile && caseFile && validLine(h.elemLine)) return { file: caseFile, line: h.elemLine };
    const own = elemFile ?? caseFile;
    const frames: Located[] = [];
    for (const f of stackFrames(h.trace)) {
      // Java frames name only the file (`CartTest.java`): the package in the method's name is its directory,
      // which tells apart the CartTest.java of two modules.
      const dir = f.fn && !f.path.includes('/') ? javaPackageDir(f.fn) : undefined;
      const path = (dir ? this.resolve(`${dir}/${f.path}`, '', true) : undefined) ?? this.resolve(f.path, h.classname);
      if (path) frames.push({ ...f, path, known: this.files?.has(path) ?? false });
    }
    const outer = (list: Located[]): Located => (list[0].outerFirst ? list[0] : list[list.length - 1]);
    const testFn = testFunction(h.name);
    if (testFn) {
      const named = frames.filter((f) => f.fn && isTestFrame(f.fn, testFn, h.classname) && (!own || f.path === own));
      // The test's frame nearest the failure: a recursion or a "Caused by" section repeats it further out.
      if (named.length > 0) {
        const f = named[0].outerFirst ? named[named.length - 1] : named[0];
        return { file: f.path, line: f.line };
      }
    }
    if (own) {
      const inOwn = frames.filter((f) => f.path === own);
      if (inOwn.length > 0) return { file: own, line: outer(inOwn).line };
      return validLine(h.caseLine) && own === caseFile ? { file: own, line: h.caseLine } : { file: own };
    }
    const inRepo = this.files ? frames.filter((f) => f.known) : frames.filter((f) => !(f.fn && VENDOR.test(f.fn)));
    if (inRepo.length > 0) {
      const f = outer(inRepo);
      return { file: f.path, line: f.line };
    }
    // Names the file list does not have (generated, or listed differently) are still the best hint.
    return frames.length > 0 ? { file: frames[0].path, line: frames[0].line } : undefined;
  }

  /** A path from a report → repository-relative, or undefined when it is outside the repository. */
  resolve(raw: string, packageHint = '', strict = false): string | undefined {
    // No path is longer (PATH_MAX); matching a longer one by its suffixes would cost its length squared.
    if (!raw || raw.length > MAX_PATH) return undefined;
    if (packageHint.length > MAX_PATH) packageHint = '';
    const key = `${strict ? 1 : 0}\u0000${packageHint}\u0000${raw}`;
    if (this.cache.has(key)) return this.cache.get(key);
    const found = this.resolveUncached(raw, packageHint, strict);
    this.cache.set(key, found);
    return found;
  }

  private resolveUncached(raw: string, packageHint: string, strict: boolean): string | undefined {
    let p = raw.trim().replace(/\\/g, '/').replace(/^file:\/\//, '');
    if (/(^|\/)(node_modules|site-packages|dist-packages)\//.test(p) || p.startsWith('node:') || p.startsWith('internal/')) return undefined;
    if (p.startsWith(`${this.root}/`)) p = p.slice(this.root.length + 1);
    p = p.replace(/^\.\//, '');
    const absolute = p.startsWith('/') || /^[A-Za-z]:\//.test(p);
    if (!this.files) return absolute ? undefined : p;
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
    const endings = (this.byBase.get(segs[segs.length - 1] ?? '') ?? []).filter((f) => f.endsWith(`/${p}`));
    if (endings.length === 1) return endings[0];
    // A relative name the checkout does not have (generated, or listed differently) is still the best hint.
    return strict || absolute ? undefined : p;
  }

  private fromClassname(classname: string): string | undefined {
    if (!this.files || classname.length > MAX_PATH || !/^[\w$]+(\.[\w$]+)+$/.test(classname)) return undefined;
    if (this.classCache.has(classname)) return this.classCache.get(classname);
    const found = this.fromClassnameUncached(classname);
    this.classCache.set(classname, found);
    return found;
  }

  private fromClassnameUncached(classname: string): string | undefined {
    const parts = classname.split('.');
    const exts = ['.py', '.java', '.kt', '.scala', '.groovy', '.cs', '.php'];
    // Longest prefix first: `tests.test_x.TestY` is `tests/test_x.py`, `com.acme.XTest$Inner` is `com/acme/XTest.java`.
    for (let n = parts.length; n >= 1; n--) {
      const base = parts.slice(0, n).join('/').replace(/\$.*$/, '');
      for (const ext of exts) {
        const found = this.resolve(`${base}${ext}`, '', true);
        if (found) return found;
      }
    }
    // .NET and Kotlin do not mirror namespaces in directories: a file named as the class, if only one is.
    const cls = parts[parts.length - 1].replace(/\$.*$/, '');
    const named = exts.flatMap((ext) => this.byBase.get(`${cls}${ext}`) ?? []);
    return named.length === 1 ? named[0] : undefined;
  }
}

/** `com/acme/shop` for `com.acme.shop.CartTest.m` (packages are lower case, classes capitalised, as dorny reads them). */
function javaPackageDir(fn: string): string | undefined {
  if (fn.includes('/')) return undefined;
  const parts = fn.split('.');
  const cls = parts.findIndex((p) => /^[A-Z]/.test(p));
  return cls > 0 ? parts.slice(0, cls).join('/') : undefined;
}

/** The test's function name as stack traces print it: JUnit 5 `m()`/`m(int)[1]`, pytest `t[param]`, go `T/sub`. */
function testFunction(name: string): string | undefined {
  const first = name.split('/')[0];
  const bracket = first.search(/[([]/);
  const base = (bracket < 0 ? first : first.slice(0, bracket)).trim();
  return base.length >= 3 && /^[\w$][\w$ ]*$/.test(base) ? base : undefined;
}

/** `com.acme.CartTest.testX`, `Ns.CartTests.TestX`, `pkg.TestX.func1` (a go subtest), bare `test_x` (Python). */
function isTestFrame(fn: string, testFn: string, classname: string): boolean {
  const i = fn.lastIndexOf(testFn);
  if (i < 0) return false;
  const after = fn.slice(i + testFn.length);
  if (after !== '' && !/^\.func\d+(\.\d+)*$/.test(after)) return false;
  if (i === 0) return true;
  const sep = fn[i - 1];
  if (sep !== '.' && sep !== ':' && sep !== '$') return false;
  const owner = fn.slice(0, sep === ':' ? i - 2 : i - 1);
  // The frame's class must be the case's, where both are named: a helper of the same name elsewhere is not it.
  if (!/^[\w$./-]+$/.test(classname)) return true;
  return owner === classname || owner.startsWith(`${classname}$`) || classname.startsWith(`${owner}$`);
}

// `at fn (/abs/x.ts:12:5)`, `at com.X.m(X.java:27)`; .NET `at Ns.C.M() in /abs/C.cs:line 24`. The .NET form
// is tried only on a line that ends as one (DOTNET_END), and written so that then it backtracks at most
// once: `(\S.*?)\(.*\)\s+in\s+(.+?)` took seconds on a 10,000-character line of `) in `.
const AT_CALL = /^\s*at\s+(?:async\s+)?(\S.*?)\s?\(((?:file:\/\/)?[^()]+?):(\d+)(?::\d+)?\)\s*$/;
const DOTNET = /^\s*at\s+(\S[^(]*)\(.*\)\s+in\s+(.+):line\s+(\d+)\s*$/;
const DOTNET_END = /:line\s+\d+\s*$/;
// Python's own traceback: File "x.py", line 12, in f
const PY_FILE = /File "([^"]+)", line (\d+)(?:, in ([\w$<>.]+))?/;
// pytest: `tests/x.py:12: AssertionError` (long, after the function's source), `tests/x.py:12: in test_x` (short).
const PYTEST = /^(\S+\.py):(\d+):(?: in ([\w$<>]+))?/;
const PY_DEF = /^[\s>]*(?:async\s+)?def\s+(\w+)\s*\(/;
// go's goroutine trace: `pkg.Func(args)` (goFunction) then `\t/abs/file.go:12 +0x3e`.
const GO_AT = /^\t(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$/;
// go test's own messages: `    cart_test.go:21: want 170`.
const GO_MESSAGE = /^\s*([\w./-]+\.go):(\d+): /;
// CUnit: `File: /abs/x.cpp` then `Line: 77`.
const CUNIT_FILE = /^\s*File: (\S+)\s*$/;
const CUNIT_LINE = /^\s*Line: (\d+)\s*$/;
// Everything else that looks like `path:line`: `tests/x.py:11`, `at /abs/x.cpp:19`, `file:///abs/x.mjs:4:28`.
const PATH_LINE = /(?:^|[\s(])(?:file:\/\/)?((?:[A-Za-z]:)?[^\s():'"<>]*[A-Za-z0-9_-]\.[A-Za-z0-9]{1,10}):(\d+)(?::\d+)?(?=[\s):,]|$)/g;

/** `path:line` locations in a failure text, in the order they appear, with the function where it is named. */
export function stackFrames(trace: string): Frame[] {
  const frames: Frame[] = [];
  const push = (path: string, line: string, fn?: string, outerFirst = false): void => {
    const n = Number(line);
    if (n > 0) frames.push({ path, line: n, ...(fn ? { fn } : {}), ...(outerFirst ? { outerFirst } : {}) });
  };
  let def: string | undefined;
  let goFn: string | undefined;
  let cunitFile: string | undefined;
  const goroutines = trace.includes('goroutine ');
  for (const line of trace.split(/\r?\n/)) {
    let m: RegExpExecArray | null;
    let g: string | undefined;
    const fn = goFn;
    goFn = undefined;
    if (fn && (m = GO_AT.exec(line))) push(m[1], m[2], fn);
    else if (DOTNET_END.test(line) && (m = DOTNET.exec(line))) push(m[2], m[3], m[1]);
    else if ((m = AT_CALL.exec(line))) push(m[2], m[3], m[1]);
    else if ((m = PY_FILE.exec(line))) push(m[1], m[2], m[3], true);
    else if ((m = PYTEST.exec(line))) {
      push(m[1], m[2], m[3] ?? def, true);
      def = undefined;
    } else if ((m = PY_DEF.exec(line))) def = m[1];
    else if ((g = goFunction(line))) goFn = g;
    else if (!goroutines && (m = GO_MESSAGE.exec(line))) push(m[1], m[2], undefined, true);
    else if ((m = CUNIT_FILE.exec(line))) cunitFile = m[1];
    else if (cunitFile && (m = CUNIT_LINE.exec(line))) {
      push(cunitFile, m[1]);
      cunitFile = undefined;
    } else for (const g of line.matchAll(PATH_LINE)) push(g[1], g[2], undefined, g[1].endsWith('.py'));
  }
  return frames;
}

/**
 * The function of a go trace line, `pkg.Func(args)` or `main.(*T).M(0x1)`: what
 * `/^([\w./-]*\.[\w$.()*]+)\(.*\)$/` captures, found in one pass (that regex is quadratic on `a.a.a.…`).
 * The name is a package path (`[\w./-]`), a dot, then `[\w$.()*]` up to the last `(` those reach.
 */
export function goFunction(line: string): string | undefined {
  if (!line.endsWith(')')) return undefined;
  const path = /^[\w./-]*/.exec(line)![0].length;
  // The dot that ends the package path: after its last `/` or `-`, which the rest may not hold.
  const sep = Math.max(line.lastIndexOf('/', path - 1), line.lastIndexOf('-', path - 1));
  const dot = line.indexOf('.', sep + 1);
  if (dot < 0 || dot >= path) return undefined;
  REST.lastIndex = dot + 1;
  const rest = REST.exec(line)![0].length;
  const paren = line.lastIndexOf('(', dot + rest);
  return paren >= dot + 2 && paren <= line.length - 2 ? line.slice(0, paren) : undefined;
}

const REST = /[\w$.()*]*/y;
const MAX_PATH = 4096;

function validLine(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n) && n > 0;
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
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
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

const round = (n: number): number => Math.round(n * 1000) / 1000;

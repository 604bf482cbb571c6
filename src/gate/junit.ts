// Pure JUnit XML reading, as the established readers read it (mikepenz/action-junit-report,
// dorny/test-reporter, EnricoMi/publish-unit-test-result-action): the shapes jest-junit, mocha, pytest,
// go-junit-report, surefire, googletest, catch2, CUnit, PHPUnit, nextest and bazel write. Each producer puts
// the failing file and line somewhere else, so locations are taken from the failure element's attributes,
// else from its text (stack trace), else from the test case, and made repository-relative.
// This module decodes and parses a report; the bounded pre-pass (junit-bounds), the cases
// (junit-cases), their locations (junit-locate, junit-frames) and the result model (junit-model) are apart.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { errorMessage } from '../common/errors.js';
import { boundedXml, mib, REPORT_LIMITS } from './junit-bounds.js';
import { readReport, type Node } from './junit-cases.js';
import type { LocateOptions } from './junit-locate.js';
import { summarize, type JUnitReport } from './junit-model.js';

export { REPORT_LIMITS } from './junit-bounds.js';
export type { LocateOptions } from './junit-locate.js';
export { caseId, mergeReports, summarize } from './junit-model.js';
export type { CaseStatus, JUnitReport, Problem, TestCase } from './junit-model.js';

const ARRAYS = new Set([
  'testsuites',
  'testsuite',
  'testcase',
  'failure',
  'error',
  'skipped',
  'flakyFailure',
  'flakyError',
  'rerunFailure',
  'rerunError',
  'stackTrace',
]);
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
  if (xml.length > REPORT_LIMITS.bytes) {
    const limit = mib(REPORT_LIMITS.bytes);
    throw new Error(`${xml.length} characters, over the ${limit} a report may be: not read; its tests are not counted`);
  }
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
  if (!('testsuites' in doc) && !('testsuite' in doc)) {
    throw new Error('no <testsuites> or <testsuite> element: not a JUnit report');
  }
  const { cases, warnings } = readReport(doc, opts);
  return summarize(cases, warnings);
}

/**
 * A report's bytes as text: a BOM (UTF-8, as .NET's loggers write; UTF-16) or the XML declaration's
 * `encoding` decides, as an XML reader decides; UTF-8 otherwise.
 */
export function decodeReport(bytes: Uint8Array): string {
  const b = bytes;
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return new TextDecoder('utf-8').decode(b.subarray(3));
  if ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0x3c && b[1] === 0)) {
    return new TextDecoder('utf-16le').decode(b[0] === 0xff ? b.subarray(2) : b);
  }
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0 && b[1] === 0x3c)) {
    return new TextDecoder('utf-16be').decode(b[0] === 0xfe ? b.subarray(2) : b);
  }
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

function invalidXml(err: { code: string; msg: string; line: number; col?: number }): string {
  // The validator reports a file that stops inside elements as "Invalid '[ "testsuites", … ]' found.".
  const open = /^Invalid '(\[[\s\S]*\])' found\.$/.exec(err.msg);
  if (open) {
    try {
      const tags = (JSON.parse(open[1]) as string[]).map((t) => `<${t}>`);
      const closed = `${tags.join(', ')} ${tags.length > 1 ? 'are' : 'is'} closed`;
      return `not valid XML: it ends before ${closed} (cut off while being written?); its tests are not counted`;
    } catch {
      // Not the list it usually is: the validator's own words below.
    }
  }
  const at = `line ${err.line}${err.col ? `, column ${err.col}` : ''}`;
  return `not valid XML at ${at}: ${err.msg}; its tests are not counted`;
}

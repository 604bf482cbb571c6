// Hostile input costs bounded work: flaky matching that stays linear at 30,000 flipped tests, an artifact
// whose zip would inflate to gigabytes, JUnit reports built to exhaust the heap or to make the reader's
// regular expressions backtrack. What could exhaust the
// memory runs in a child process with a small heap, where it would show as a crash, not as a slow test.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { parseJUnit, REPORT_LIMITS, summarize, type TestCase } from '../../src/gate/junit.js';
import { allAnnotations, annotations } from '../../src/gate/report.js';
import { concludeRun, flippedTests, type Attempt } from '../../src/gate/run.js';
import { LIMITS, resultFromZip } from '../../src/gate/saved.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const CHILD = join(HERE, 'bounded-child.ts');
const MiB = 1024 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bounded-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs bounded-child.ts with a heap of `heapMiB`; its JSON line, or the exit code and stderr when it crashed. */
function child(
  args: string[],
  heapMiB: number,
): { exit: number | null; out?: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMiB}`, '--import', 'tsx', CHILD, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
    timeout: 120_000,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return {
    exit: r.status,
    out: last.startsWith('{') ? (JSON.parse(last) as Record<string, unknown>) : undefined,
    stderr: r.stderr.slice(-2000),
  };
}

function attempt(n: number, exitCode: number, cases: TestCase[]): Attempt {
  const report = summarize(cases);
  return {
    attempt: n,
    exitCode,
    durationMs: 1,
    reportFiles: ['reports/r.xml'],
    report,
    passed: exitCode === 0 && report.failures + report.errors === 0,
  };
}

describe('flaky matching', () => {
  test('30,000 tests that fail, then pass on retry: flagged, located and annotated in linear time', () => {
    const n = 30_000;
    const name = (i: number): string => `test ${i} of the cart`;
    const failed = Array.from({ length: n }, (_, i): TestCase => ({
      classname: 'cart',
      name: name(i),
      time: 0,
      status: 'failed',
      message: `boom ${i}`,
      file: `src/cart${i % 50}.test.ts`,
      line: i + 1,
    }));
    const passed = failed.map((c): TestCase => ({ classname: c.classname, name: c.name, time: 0, status: 'passed' }));
    const started = performance.now();
    const run = concludeRun([attempt(1, 1, failed), attempt(2, 0, passed)], 10);
    const anns = annotations(run);
    const all = allAnnotations(run);
    const seconds = (performance.now() - started) / 1000;
    expect(run).toMatchObject({ passed: true, flaky: true });
    expect(run.flakyTests).toHaveLength(n);
    expect(run.flakyTests[n - 1]).toBe(`cart › ${name(n - 1)}`);
    expect(anns).toHaveLength(1000);
    expect(all).toHaveLength(n);
    expect(all[n - 1]).toMatchObject({
      path: 'src/cart49.test.ts',
      start_line: n,
      annotation_level: 'warning',
      title: `flaky: cart › ${name(n - 1)}`,
      message: `Failed, then passed on retry: boom ${n - 1}`,
    });
    // It was minutes, quadratic in the flaky tests: 3,000 took 1.44 s and 30,000 did not end in 30 s.
    expect(seconds).toBeLessThan(2);
  });

  test('order and meaning kept: first failure order, self re-runs once, the first failing case with a file locates it', () => {
    const c = (name: string, status: TestCase['status'], more: Partial<TestCase> = {}): TestCase => ({
      classname: 'k',
      name,
      time: 0,
      status,
      ...more,
    });
    const attempts = [
      attempt(1, 1, [c('b', 'failed'), c('a', 'error', { file: 'a.ts', line: 3, message: 'first' }), c('x', 'failed')]),
      attempt(2, 1, [
        c('b', 'failed', { file: 'b.ts', line: 7, message: 'second' }),
        c('a', 'failed', { file: 'a.ts', line: 9 }),
        c('x', 'failed'),
      ]),
      attempt(3, 0, [
        c('a', 'passed'),
        c('b', 'passed'),
        c('x', 'skipped'),
        c('s', 'passed', { flaky: true }),
        c('s2', 'passed', { flaky: true }),
      ]),
    ];
    expect(flippedTests(attempts)).toEqual(['k › b', 'k › a']);
    const run = concludeRun(attempts, 1);
    expect(run.flakyTests).toEqual(['k › b', 'k › a', 'k › s', 'k › s2']);
    expect(annotations(run).map((a) => `${a.title} ${a.path}:${a.start_line} ${a.message}`)).toEqual([
      'flaky: k › b b.ts:7 Failed, then passed on retry: second',
      'flaky: k › a a.ts:3 Failed, then passed on retry: first',
    ]);
  });
});

/** A zip of entries whose data is `deflated` (one raw DEFLATE stream, shared), each declaring `size` bytes. */
function zipOf(entries: { name: string; size: number }[], deflated: Buffer, crc: number): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(deflated.length, 20);
    cd.writeUInt32LE(e.size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, name, deflated);
    central.push(cd, name);
    offset += local.length + name.length + deflated.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBytes, end]);
}

describe('the artifact of mode publish', () => {
  const zeros = (n: number): { deflated: Buffer; crc: number } => {
    const data = Buffer.alloc(n);
    return { deflated: deflateRawSync(data, { level: 9 }), crc: crc32(data) };
  };

  test('twenty 64 MiB result.json in a 1.3 MB zip: one is inflated, with bounded memory (it took a 1.45 GB peak)', () => {
    const { deflated, crc } = zeros(LIMITS.resultBytes);
    const zip = zipOf(
      Array.from({ length: 20 }, (_, i) => ({ name: `results-${i}/result.json`, size: LIMITS.resultBytes })),
      deflated,
      crc,
    );
    expect(zip.length).toBeLessThan(2 * MiB);
    writeFileSync(join(dir, 'artifact.zip'), zip);
    const r = child(['zip', join(dir, 'artifact.zip')], 256);
    // The first result.json is read (64 MiB of zeros is not JSON), and only it: one entry's worth of memory.
    expect(r).toMatchObject({ exit: 0, out: { error: expect.stringMatching(/^result\.json is not JSON/) } });
    expect(r.out!.maxRssMiB).toBeLessThan(600);
  });

  test('an entry over the cap is refused by name without inflating it, and one whose header lies stops at the cap', () => {
    const { deflated, crc } = zeros(LIMITS.resultBytes + 1);
    const big = zipOf([{ name: 'out/result.json', size: LIMITS.resultBytes + 1 }], deflated, crc);
    expect(() => resultFromZip(big)).toThrow(
      `out/result.json is ${LIMITS.resultBytes + 1} bytes, over the ${LIMITS.resultBytes} allowed`,
    );
    // Its central directory claims 100 bytes: the inflater, not the header, decides where to stop.
    const lying = zipOf([{ name: 'result.json', size: 100 }], deflated, crc);
    expect(() => resultFromZip(lying)).toThrow(`result.json is over the ${LIMITS.resultBytes} bytes allowed`);
  });
});

describe('JUnit reports', () => {
  /** Writes head + `size` bytes of `fill` + tail to reports/<name>, without holding it in memory. */
  function writeReport(name: string, head: string, size: number, tail: string, fill = 'x'): void {
    const fd = openSync(join(dir, 'reports', name), 'w');
    writeSync(fd, head);
    const chunk = Buffer.alloc(MiB, fill);
    for (let left = size; left > 0; left -= MiB) writeSync(fd, chunk, 0, Math.min(MiB, left));
    writeSync(fd, tail);
    closeSync(fd);
  }

  test('a report over the cap is a warning naming it; one just under it with a huge attribute is read, cut; no crash', () => {
    mkdirSync(join(dir, 'reports'));
    // The attribute of the issue: one 100 MB message exhausted the heap (exit 134), the check run left in_progress.
    const head = '<testsuites><testsuite name="s"><testcase classname="c" name="huge"><failure message="';
    const tail = '"/></testcase><testcase classname="c" name="fine"/></testsuite></testsuites>';
    writeReport('over.xml', head, 100 * 1000 * 1000, tail);
    writeReport('under.xml', head, REPORT_LIMITS.bytes - head.length - tail.length, tail);
    writeFileSync(
      join(dir, 'reports/small.xml'),
      '<testsuite name="t"><testcase classname="t" name="one"/></testsuite>',
    );
    const r = child(['reports', dir], 256);
    expect(r.stderr).not.toMatch(/heap out of memory/);
    expect(r).toMatchObject({
      exit: 0,
      out: {
        tests: 3,
        failures: 1,
        // small.xml's case, then under.xml's: its message cut to the 64 KiB the gate ever shows, with an ellipsis.
        messages: [0, REPORT_LIMITS.text + 1, 0],
        warnings: [
          'reports/over.xml: 95.4 MiB, over the 64.0 MiB a report may be: not read; its tests are not counted',
        ],
      },
    });
  });

  const parse = (xml: string) => parseJUnit(xml, { repoRoot: '/r', files: ['src/a.test.ts', 'src/Cart.cs'] });
  const wrap = (inner: string): string => `<testsuites><testsuite name="s">${inner}</testsuite></testsuites>`;

  test.each([
    [
      'nesting 50,000 deep',
      `<testsuites>${'<testsuite>'.repeat(50_000)}${'</testsuite>'.repeat(50_000)}</testsuites>`,
      /elements nested over 100 deep at line 1/,
    ],
    [
      'an element with 200,000 attributes',
      wrap(`<testcase name="t" ${Array.from({ length: 200_000 }, (_, i) => `a${i}=""`).join(' ')}/>`),
      /an element with over 64 attributes at line 1/,
    ],
    [
      '2,100,000 test cases (4,200,000 elements and attributes)',
      wrap('<testcase name="t"/>'.repeat(2_100_000)),
      /over 4,000,000 elements and attributes at line 1/,
    ],
    [
      'entity declarations (an XML bomb)',
      `<!DOCTYPE t [<!ENTITY a "${'x'.repeat(9000)}"><!ENTITY b "&a;&a;&a;&a;">]>${wrap(`<testcase name="&a;">${'&a;'.repeat(100_000)}</testcase>`)}`,
      /a DOCTYPE with declarations at line 1/,
    ],
    ['a 2 MiB element name', wrap(`<t${'x'.repeat(2 * MiB)}/>`), /an element name over 1024 characters/],
    ['a tag of 2 MiB of spaces', wrap(`<testcase${' '.repeat(2 * MiB)}name="t"/>`), /a tag over 1 MiB at line 1/],
  ])('refused, quickly, naming what: %s', (_what, xml, message) => {
    const started = performance.now();
    expect(() => parse(xml)).toThrow(message);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  test('texts and values are cut at 64 KiB, never inside an entity reference; a DOCTYPE naming a DTD is read', () => {
    const body = `${'y'.repeat(REPORT_LIMITS.text - 3)}&lt;${'z'.repeat(100_000)}`;
    const r = parse(
      `<!DOCTYPE testsuites SYSTEM "junit.dtd">${wrap(`<testcase name="t"><failure message="${'m'.repeat(100_000)}">${body}</failure></testcase>`)}`,
    );
    expect(r.tests).toBe(1);
    const { message, details } = r.cases[0];
    // Lengths and ends, not the strings: a failing comparison would print 100,000 characters.
    expect([message!.length, message!.slice(-3)]).toEqual([REPORT_LIMITS.text + 1, 'mm…']);
    expect([details!.length, details!.slice(-3)]).toEqual([REPORT_LIMITS.text - 2, 'yy…']);
  });

  test('failure texts built to make the stack-trace patterns backtrack are read in linear time', () => {
    // Each was seconds or minutes: trailing spaces (/\s+$/), `) in ` lines (.NET frames), `a.a.a.` lines (go
    // frames), a test name of brackets, and paths of thousands of segments matched by suffix.
    const lines = [
      `x${' '.repeat(60_000)}y`,
      `  at x${'() in '.repeat(2_500)}:line 1`,
      `${'a.'.repeat(25_000)}(`,
      ` ${'a/'.repeat(25_000)}x.ts:1`,
    ];
    const cases = lines.map(
      (l, i) =>
        `<testcase classname="${'c.'.repeat(20_000)}C" name="${'('.repeat(60_000)}${i}" file="${'s/'.repeat(25_000)}a.test.ts"><failure>${l}</failure></testcase>`,
    );
    const started = performance.now();
    const r = parse(wrap(cases.join('')));
    const ms = performance.now() - started;
    expect(r).toMatchObject({ tests: 4, failures: 4 });
    expect(ms).toBeLessThan(2000);
  });
});

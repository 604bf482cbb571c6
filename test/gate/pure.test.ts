// The pure parts: settings, tree decisions and texts, report rendering, the bug rule.
import { objectInputs } from '../../src/common/inputs.js';
import { bugRule } from '../../src/gate/bug-rule.js';
import { ANNOTATIONS_PER_REQUEST, MAX_ANNOTATIONS, annotations, batches, summary } from '../../src/gate/report.js';
import type { TestRun } from '../../src/gate/run.js';
import { DEFAULT_TEST_PATHS, parseGlobs, readSettings } from '../../src/gate/settings.js';
import { treeFromHistory, treeStatus } from '../../src/gate/tree.js';

const sha = (c: string): string => c.repeat(40);
const commitUrl = (s: string): string => `https://github.com/o/r/commit/${s}`;

describe('settings', () => {
  test('defaults and typed values', () => {
    const s = readSettings(objectInputs({ command: 'npm test', junit: 'a/*.xml\nb/*.xml', retries: '2' }));
    expect(s).toMatchObject({
      command: 'npm test',
      junit: ['a/*.xml', 'b/*.xml'],
      checkName: 'test-gate',
      tree: true,
      treeOverrideLabel: 'fixes-tree',
      requireTestForBug: true,
      bugLabels: ['bug'],
      retries: 2,
    });
    expect(s.testPaths).toEqual(DEFAULT_TEST_PATHS);
  });
  test('errors name the input', () => {
    expect(() => readSettings(objectInputs({}))).toThrow("input 'command': is required");
    expect(() => readSettings(objectInputs({ command: 'x', retries: '11' }))).toThrow(
      "input 'retries': must be at most 10",
    );
    expect(() => readSettings(objectInputs({ command: 'x', tree: 'maybe' }))).toThrow("input 'tree'");
  });
  test('globs keep commas inside braces', () => {
    expect(parseGlobs('**/*.{test,spec}.ts, tests/**\n# comment\nspec/**')).toEqual([
      '**/*.{test,spec}.ts',
      'tests/**',
      'spec/**',
    ]);
  });
});

describe('tree', () => {
  test('the newest finished result decides; commits without one are passed over', () => {
    expect(treeFromHistory([])).toMatchObject({ state: 'open', known: false });
    expect(treeFromHistory([{ sha: sha('a') }, { sha: sha('b'), result: 'success' }])).toMatchObject({
      state: 'open',
      known: true,
      at: { sha: sha('b') },
    });
    const t = treeFromHistory([
      { sha: sha('e'), result: 'failure' },
      { sha: sha('d') },
      { sha: sha('c'), result: 'failure' },
      { sha: sha('b') },
      { sha: sha('a'), result: 'success' },
    ]);
    expect(t).toMatchObject({
      state: 'closed',
      at: { sha: sha('e') },
      since: { sha: sha('c') },
      lastGreen: { sha: sha('a') },
    });
    expect(t.suspects.map((c) => c.sha[0])).toEqual(['b', 'c']);
  });
  test('status texts: closed with link, shortened to fit 140 characters, overridden, open', () => {
    const closed = treeFromHistory([
      { sha: sha('c'), result: 'failure', url: 'https://github.com/o/r/actions/runs/1' },
    ]);
    expect(treeStatus(closed, { branch: 'main', overridden: false, overrideLabel: 'fixes-tree', commitUrl })).toEqual({
      state: 'failure',
      description: 'tree closed: main is red since ccccccc, https://github.com/o/r/actions/runs/1',
      targetUrl: 'https://github.com/o/r/actions/runs/1',
    });
    const long = treeFromHistory([
      { sha: sha('c'), result: 'failure', url: `https://ci.example.com/${'x'.repeat(150)}` },
    ]);
    const d = treeStatus(long, { branch: 'main', overridden: false, overrideLabel: 'l', commitUrl });
    expect(d.description).toBe('tree closed: main is red since ccccccc');
    expect(d.targetUrl).toContain('ci.example.com');
    expect(treeStatus(closed, { branch: 'main', overridden: true, overrideLabel: 'fixes-tree', commitUrl }).state).toBe(
      'success',
    );
    expect(
      treeStatus(treeFromHistory([]), { branch: 'main', overridden: false, overrideLabel: 'l', commitUrl }).description,
    ).toBe('tree open: no gate result on main yet');
  });
});

describe('report', () => {
  test('batches of 50 and a summary capped at 65,535 characters', () => {
    expect(batches(Array.from({ length: 101 }, (_, i) => i)).map((b) => b.length)).toEqual([50, 50, 1]);
    const cases = Array.from({ length: 2000 }, (_, i) => ({
      classname: 'c',
      name: `t${i}`,
      time: i / 1000,
      status: 'failed' as const,
      message: 'm',
      details: 'd'.repeat(200),
      file: 'a.ts',
      line: i + 1,
    }));
    const report = { tests: 2000, passed: 0, failures: 2000, errors: 0, skipped: 0, time: 1, cases, warnings: [] };
    const final = { attempt: 1, exitCode: 1, durationMs: 10, passed: false, report, reportFiles: ['r.xml'] };
    const run: TestRun = { attempts: [final], final, passed: false, flaky: false, flakyTests: [], durationMs: 10 };
    const md = summary({ checkName: 'test-gate', command: 'npm test', run });
    expect(md.length).toBeLessThanOrEqual(65_535);
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(65_535);
    expect(md).toContain('2000 of 2000 tests failed');
    expect(md).toMatch(
      /… cut here to fit a check run summary \(65,535 characters\): the run log and the JUnit reports have every test\.\n?$/,
    );
    // Cut between whole tests: the last <details> is closed.
    expect(md.split('<details>').length).toBe(md.split('</details>').length);
  });

  test('annotations stop at 1,000 (20 requests of 50), and the summary says so near its top', () => {
    // GitHub documents 50 annotations per request and no total; each request is one of the 1,000 an hour a
    // GITHUB_TOKEN has, so the gate stops at 1,000 and says how many failures were left out.
    expect(MAX_ANNOTATIONS / ANNOTATIONS_PER_REQUEST).toBe(20);
    const cases = Array.from({ length: 1200 }, (_, i) => ({
      classname: 'c',
      name: `t${i}`,
      time: 0,
      status: 'failed' as const,
      message: 'm',
      file: 'a.ts',
      line: i + 1,
    }));
    const report = { tests: 1200, passed: 0, failures: 1200, errors: 0, skipped: 0, time: 1, cases, warnings: [] };
    const final = { attempt: 1, exitCode: 1, durationMs: 10, passed: false, report, reportFiles: ['r.xml'] };
    const run: TestRun = { attempts: [final], final, passed: false, flaky: false, flakyTests: [], durationMs: 10 };
    const anns = annotations(run);
    expect(anns).toHaveLength(1000);
    expect(anns[999]).toMatchObject({ path: 'a.ts', start_line: 1000 });
    const md = summary({ checkName: 'test-gate', command: 'npm test', run });
    expect(md.slice(0, 1500)).toContain('Annotated the first 1,000 of 1,200 failures');
  });

  test('unreadable or suspect reports are listed under "Report warnings"', () => {
    const final = {
      attempt: 1,
      exitCode: 1,
      durationMs: 10,
      passed: false,
      reportFiles: ['reports/a.xml', 'reports/b.xml'],
      warnings: [
        'reports/b.xml: not valid XML: it ends before <testcase> is closed (cut off while being written?); its tests are not counted',
      ],
    };
    const run: TestRun = { attempts: [final], final, passed: false, flaky: false, flakyTests: [], durationMs: 10 };
    const md = summary({ checkName: 'test-gate', command: 'npm test', run });
    expect(md).toContain(
      '### Report warnings\n\n- `reports/b.xml`: not valid XML: it ends before \\<testcase\\> is closed',
    );
    const clean = summary({
      checkName: 'test-gate',
      command: 'npm test',
      run: { ...run, final: { ...final, warnings: [] } },
    });
    expect(clean).not.toContain('Report warnings');
  });
});

describe('bug rule', () => {
  const o = { bugLabels: ['bug'], testPaths: DEFAULT_TEST_PATHS };
  test('applies only to bug-labelled pull requests', () => {
    expect(bugRule(['feature'], ['src/a.ts'], o)).toMatchObject({ applies: false, ok: true });
  });
  test('passes with a changed test file, in the usual layouts', () => {
    for (const f of [
      'test/a.ts',
      'pkg/tests/x.py',
      'src/a.test.ts',
      'web/__tests__/b.js',
      'internal/cart/cart_test.go',
      'test_x.py',
      'src/test/java/com/a/CartTest.java',
      'spec/models/user_spec.rb',
    ]) {
      expect(bugRule(['bug'], ['src/a.ts', f], o)).toMatchObject({ applies: true, ok: true });
    }
  });
  test('fails without one, naming the label and the globs', () => {
    const r = bugRule(['BUG'], ['src/a.ts', 'docs/test-plan.md'], o);
    expect(r.ok).toBe(false);
    expect(r.message).toContain("labelled 'BUG' but changes no test");
  });
});

describe('annotations fit GitHub in bytes', () => {
  test('a message of 40,000 é (80,000 bytes: under 65,535 characters, over 64 KB) is cut to 64 KB, whole characters', () => {
    const message = 'é'.repeat(40_000);
    const c = {
      classname: 'c',
      name: 't',
      time: 0,
      status: 'failed' as const,
      message,
      details: '😀'.repeat(20_000),
      file: 'a.ts',
      line: 1,
    };
    const report = { tests: 1, passed: 0, failures: 1, errors: 0, skipped: 0, time: 0, cases: [c], warnings: [] };
    const final = { attempt: 1, exitCode: 1, durationMs: 1, passed: false, report, reportFiles: ['r.xml'] };
    const [a] = annotations({ attempts: [final], final, passed: false, flaky: false, flakyTests: [], durationMs: 1 });
    expect(Buffer.byteLength(a.message)).toBeLessThanOrEqual(65_535);
    expect(Buffer.byteLength(a.raw_details!)).toBeLessThanOrEqual(65_535);
    expect(a.message.endsWith('é…')).toBe(true);
    expect(a.raw_details!.endsWith('😀…')).toBe(true);
  });
});

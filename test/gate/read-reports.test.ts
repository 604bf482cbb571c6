// How a run reads the reports its command wrote: through the real shell and file system, as the gate does.
// An unreadable report is a warning naming the file and adds nothing; a suspect one is read and warned about.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { runTests } from '../../src/gate/run.js';

const FIXTURES = new URL('../fixtures/junit/', import.meta.url).pathname;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'read-reports-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a command that copies the named fixtures to reports/ (as the names after the colon) and exits. */
async function run(copies: Record<string, string>, exit = 1) {
  const cp = Object.entries(copies).map(([to, from]) => `cp '${FIXTURES}${from}' reports/${to}`);
  const logger = new MemoryLogger();
  const r = await runTests({
    command: `mkdir -p reports && ${cp.join(' && ')} && exit ${exit}`,
    retries: 0,
    cwd: dir,
    junit: ['reports/*.xml'],
    logger,
  });
  return { attempt: r.final, log: logger.text() };
}

test('a report cut off mid-write is a warning naming it, and only the readable report is counted', async () => {
  const { attempt, log } = await run({
    'jest.xml': 'jest-junit-file-attribute.xml',
    'zz-crashed.xml': 'truncated.xml',
  });
  // truncated.xml is the same jest report cut inside its last case: counting it would add 3 or 4 tests.
  expect(attempt.report).toMatchObject({ tests: 4, failures: 2, passed: 1, skipped: 1 });
  expect(log).toMatch(/warning: reports\/zz-crashed\.xml: not valid XML.*its tests are not counted/);
  expect(attempt.warnings).toEqual([expect.stringMatching(/^reports\/zz-crashed\.xml: not valid XML/)]);
  expect(attempt.reportFiles).toEqual(['reports/jest.xml', 'reports/zz-crashed.xml']);
});

test('when every report is unreadable there is no report (the exit code decides), and the warnings say why', async () => {
  const { attempt, log } = await run(
    { 'a.xml': 'third-party/mikepenz/TEST-test.CorruptTest.xml', 'b.xml': 'third-party/enricomi/corrupt-xml.xml' },
    0,
  );
  expect(attempt.report).toBeUndefined();
  expect(attempt.passed).toBe(true);
  expect(attempt.warnings?.map((w) => w.split(':')[0])).toEqual(['reports/a.xml', 'reports/b.xml']);
  expect(log).toContain('warning: reports/b.xml: not valid XML');
});

test("a suite that lists none of its declared tests is warned about with the report's name; its cases are still read", async () => {
  const { attempt, log } = await run({ 'merged.xml': 'declared-but-no-cases.xml' });
  expect(attempt.report).toMatchObject({ tests: 2, failures: 1 });
  expect(log).toContain(
    "warning: reports/merged.xml: suite 'src/checkout.test.js' declares 5 tests but lists none: they are not counted",
  );
  expect(attempt.warnings).toEqual([
    "reports/merged.xml: suite 'src/checkout.test.js' declares 5 tests but lists none: they are not counted",
  ]);
});

test('an empty <testsuites/> is zero tests, without a warning; a file in another encoding is decoded as it declares', async () => {
  const { attempt, log } = await run({ 'empty.xml': 'empty-testsuites.xml', 'latin1.xml': 'iso-8859-1-encoding.xml' });
  expect(attempt.report).toMatchObject({ tests: 2, failures: 1 });
  expect(attempt.report?.cases[1].message).toContain('Größe ändern');
  expect(attempt.warnings ?? []).toEqual([]);
  expect(log).not.toContain('warning: reports/');
});

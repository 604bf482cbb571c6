// Benchmark: test-gate's JUnit reader on large reports, through the code the gate runs: parseJUnit (with
// the repository's file list, as readReports passes it) and annotations() from report.ts. The reports are
// built in memory in the shapes jest-junit, surefire and pytest write, ~5% failing with real-length stack
// traces that pass through shared helpers, in a repository of a few thousand files.
import { parseJUnit } from '../src/gate/junit.js';
import { annotations } from '../src/gate/report.js';
import type { TestRun } from '../src/gate/run.js';

export interface JUnitReaderBench {
  /** Best-of milliseconds for parse + annotations, per report size (bench.json rounds to 0.1). */
  ms: Record<string, number>;
  bytes: Record<string, number>;
  annotations: Record<string, number>;
  /** Time for 10,000 tests over time for 1,000. */
  ratio: number;
  lines: string[];
}

const ROOT = '/home/runner/work/shop/shop';
const TARGET_S = 0.5;

/** A repository's `git ls-files`: sources, tests and helpers for three languages, and the usual clutter. */
function repositoryFiles(): string[] {
  const files = ['package.json', 'pom.xml', 'pyproject.toml', 'README.md'];
  for (let m = 0; m < 60; m++) {
    for (let f = 0; f < 12; f++) {
      files.push(
        `packages/mod${m}/src/file${f}.ts`,
        `packages/mod${m}/src/file${f}.test.ts`,
        `packages/mod${m}/docs/file${f}.md`,
      );
      files.push(
        `service/src/main/java/com/acme/mod${m}/Thing${f}.java`,
        `service/src/test/java/com/acme/mod${m}/Thing${f}Test.java`,
      );
      files.push(`py/shop/mod${m}/file${f}.py`, `py/tests/mod${m}/test_file${f}.py`);
    }
    files.push(
      `packages/mod${m}/test/helpers.ts`,
      `service/src/test/java/com/acme/mod${m}/support/Asserts.java`,
      `py/tests/mod${m}/helpers.py`,
      `py/tests/mod${m}/__init__.py`,
    );
  }
  return files;
}

const JEST_FRAMES = [
  'Promise.then.completed (/home/runner/work/shop/shop/node_modules/jest-circus/build/utils.js:298:28)',
  'new Promise (<anonymous>)',
  'callAsyncCircusFn (/home/runner/work/shop/shop/node_modules/jest-circus/build/utils.js:231:10)',
  '_callCircusTest (/home/runner/work/shop/shop/node_modules/jest-circus/build/run.js:316:40)',
  '_runTest (/home/runner/work/shop/shop/node_modules/jest-circus/build/run.js:252:3)',
  '_runTestsForDescribeBlock (/home/runner/work/shop/shop/node_modules/jest-circus/build/run.js:126:9)',
  '_runTestsForDescribeBlock (/home/runner/work/shop/shop/node_modules/jest-circus/build/run.js:121:9)',
  'run (/home/runner/work/shop/shop/node_modules/jest-circus/build/run.js:71:3)',
  'runAndTransformResultsToJestFormat (/home/runner/work/shop/shop/node_modules/jest-circus/build/legacy-code-todo-rewrite/jestAdapterInit.js:122:21)',
  'jestAdapter (/home/runner/work/shop/shop/node_modules/jest-circus/build/legacy-code-todo-rewrite/jestAdapter.js:79:19)',
  'runTestInternal (/home/runner/work/shop/shop/node_modules/jest-runner/build/runTest.js:367:16)',
  'runTest (/home/runner/work/shop/shop/node_modules/jest-runner/build/runTest.js:444:34)',
].map((f) => `    at ${f}`);

const JAVA_FRAMES = [
  'java.base/java.lang.reflect.Method.invoke(Method.java:569)',
  'org.junit.platform.commons.util.ReflectionUtils.invokeMethod(ReflectionUtils.java:728)',
  'org.junit.jupiter.engine.execution.MethodInvocation.proceed(MethodInvocation.java:60)',
  'org.junit.jupiter.engine.execution.InvocationInterceptorChain$ValidatingInvocation.proceed(InvocationInterceptorChain.java:131)',
  'org.junit.jupiter.engine.extension.TimeoutExtension.intercept(TimeoutExtension.java:156)',
  'org.junit.jupiter.engine.extension.TimeoutExtension.interceptTestableMethod(TimeoutExtension.java:147)',
  'org.junit.jupiter.engine.execution.InterceptingExecutableInvoker.invoke(InterceptingExecutableInvoker.java:86)',
  'org.junit.jupiter.engine.descriptor.TestMethodTestDescriptor.invokeTestMethod(TestMethodTestDescriptor.java:218)',
  'org.junit.platform.engine.support.hierarchical.ThrowableCollector.execute(ThrowableCollector.java:73)',
  'org.junit.platform.engine.support.hierarchical.NodeTestTask.executeRecursively(NodeTestTask.java:151)',
  'java.base/java.util.ArrayList.forEach(ArrayList.java:1511)',
  'org.junit.platform.engine.support.hierarchical.SameThreadHierarchicalTestExecutorService.invokeAll(SameThreadHierarchicalTestExecutorService.java:41)',
  'org.junit.platform.launcher.core.EngineExecutionOrchestrator.execute(EngineExecutionOrchestrator.java:110)',
  'org.apache.maven.surefire.junitplatform.JUnitPlatformProvider.invoke(JUnitPlatformProvider.java:124)',
  'org.apache.maven.surefire.booter.ForkedBooter.main(ForkedBooter.java:507)',
].map((f) => `\tat ${f}`);

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One report of `tests` cases (a third each jest-, surefire- and pytest-shaped); every 20th fails. */
function buildReport(tests: number): { xml: string; failing: number } {
  const parts = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="bench" tests="${tests}">`];
  let failing = 0;
  const perSuite = 25;
  for (let s = 0; s * perSuite < tests; s++) {
    const m = s % 60;
    const f = Math.floor(s / 60) % 12;
    const kind = s % 3;
    const n = Math.min(perSuite, tests - s * perSuite);
    const suite =
      kind === 0 ? `packages/mod${m}/src/file${f}.test.ts` : kind === 1 ? `com.acme.mod${m}.Thing${f}Test` : 'pytest';
    parts.push(`  <testsuite name="${suite}" tests="${n}" time="1.5">`);
    for (let i = 0; i < n; i++) {
      const k = s * perSuite + i;
      const fails = k % 20 === 7;
      const line = 20 + i * 6;
      let body = '';
      if (fails) {
        failing++;
        if (kind === 0) {
          // Through a helper in the test file and one in test/helpers.ts.
          body = `<failure>${esc(
            [
              'Error: expect(received).toBe(expected) // Object.is equality',
              '',
              `Expected: ${k}`,
              `Received: ${k + 1}`,
              `    at toBe (${ROOT}/packages/mod${m}/test/helpers.ts:12:24)`,
              `    at expectTotal (${ROOT}/packages/mod${m}/src/file${f}.test.ts:8:3)`,
              `    at Object.expectTotal (${ROOT}/packages/mod${m}/src/file${f}.test.ts:${line}:5)`,
              ...JEST_FRAMES,
            ].join('\n'),
          )}</failure>`;
        } else if (kind === 1) {
          body = `<failure message="expected: &lt;${k}&gt; but was: &lt;${k + 1}&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[${[
            `org.opentest4j.AssertionFailedError: expected: <${k}> but was: <${k + 1}>`,
            '\tat org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)',
            '\tat org.junit.jupiter.api.Assertions.assertEquals(Assertions.java:632)',
            `\tat com.acme.mod${m}.support.Asserts.assertCents(Asserts.java:19)`,
            `\tat com.acme.mod${m}.Thing${f}Test.assertTotal(Thing${f}Test.java:14)`,
            `\tat com.acme.mod${m}.Thing${f}Test.test${i}(Thing${f}Test.java:${line})`,
            ...JAVA_FRAMES,
          ].join('\n')}]]></failure>`;
        } else {
          body = `<failure message="AssertionError: assert ${k + 1} == ${k}">${esc(
            [
              `    def test_${i}():`,
              `>       assert_total(${k})`,
              '',
              `tests/mod${m}/test_file${f}.py:${line}: `,
              '_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ ',
              '',
              '    def assert_total(want):',
              '>       assert_cents(want + 1, want)',
              '',
              `tests/mod${m}/test_file${f}.py:9: `,
              '_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ ',
              '',
              '    def assert_cents(got, want):',
              '>       assert got == want',
              `E       AssertionError: assert ${k + 1} == ${k}`,
              '',
              `tests/mod${m}/helpers.py:4: AssertionError`,
            ].join('\n'),
          )}</failure>`;
        }
      }
      const attrs =
        kind === 0
          ? `classname="mod${m} file${f} case ${i}" name="mod${m} file${f} case ${i}"`
          : kind === 1
            ? `name="test${i}" classname="com.acme.mod${m}.Thing${f}Test"`
            : `classname="tests.mod${m}.test_file${f}" name="test_${i}"`;
      parts.push(
        body ? `    <testcase ${attrs} time="0.004">${body}</testcase>` : `    <testcase ${attrs} time="0.002"/>`,
      );
    }
    parts.push('  </testsuite>');
  }
  parts.push('</testsuites>');
  return { xml: parts.join('\n'), failing };
}

function runOf(report: ReturnType<typeof parseJUnit>): TestRun {
  const final = { attempt: 1, exitCode: 1, durationMs: 1, passed: false, report, reportFiles: ['reports/junit.xml'] };
  return { attempts: [final], final, passed: false, flaky: false, flakyTests: [], durationMs: 1 };
}

export async function benchJUnitReader(runs = 7, log: (line: string) => void = console.log): Promise<JUnitReaderBench> {
  const files = repositoryFiles();
  const seconds: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  const counts: Record<string, number> = {};
  // One untimed pass first, so the 1,000-test figure is not the JIT's warm-up.
  annotations(runOf(parseJUnit(buildReport(1000).xml, { repoRoot: ROOT, files })));
  for (const tests of [1000, 10_000]) {
    const { xml, failing } = buildReport(tests);
    let best = Infinity;
    let anns: ReturnType<typeof annotations> = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const report = parseJUnit(xml, { repoRoot: ROOT, files });
      anns = annotations(runOf(report));
      best = Math.min(best, (performance.now() - t0) / 1000);
      if (report.tests !== tests) throw new Error(`bench: read ${report.tests} tests, built ${tests}`);
    }
    // Every failure annotated, each at its test's own line (the helpers are at lines 4, 8, 9, 12, 14 and 19).
    if (anns.length !== failing || anns.some((a) => a.start_line < 20))
      throw new Error(`bench: ${anns.length} annotations for ${failing} failures, or one at a helper`);
    seconds[tests] = best;
    bytes[tests] = xml.length;
    counts[tests] = anns.length;
  }
  const ratio = seconds[10_000] / seconds[1000];
  const lines = [
    `JUnit reader: 1,000 tests ${seconds[1000].toFixed(3)} s, 10,000 tests ${seconds[10_000].toFixed(2)} s (target < ${TARGET_S} s), ${ratio.toFixed(1)}x for 10x the tests` +
      ` (${(bytes[10_000] / 1e6).toFixed(1)} MB, ${counts[10_000]} failures annotated, ${files.length.toLocaleString('en-US')} repository files, best of ${runs})`,
  ];
  lines.forEach((l) => log(l));
  return {
    ms: Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, v * 1000])),
    bytes,
    annotations: counts,
    ratio,
    lines,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchJUnitReader(Number(process.argv[2] ?? 7));
}

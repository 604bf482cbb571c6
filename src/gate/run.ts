// Runs the test command (output streamed as it comes), reads its JUnit reports, retries a failure, and names
// the tests that flipped from failing to passing: those are flaky, not fixed.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { glob } from 'tinyglobby';
import { caseId, decodeReport, mergeReports, parseJUnit, REPORT_LIMITS, type JUnitReport } from './junit.js';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import { formatBytes, formatDuration } from '../common/format.js';

export interface CommandResult {
  exitCode: number;
  signal?: string;
  durationMs: number;
}

export interface Attempt extends CommandResult {
  attempt: number;
  passed: boolean;
  /** Merged JUnit reports this attempt wrote; undefined without `junit` or when none was found. */
  report?: JUnitReport;
  reportFiles: string[];
  /** What made a report unreadable or suspect, each naming its file (repository-relative). */
  warnings?: string[];
}

export interface TestRun {
  attempts: Attempt[];
  final: Attempt;
  passed: boolean;
  /** The pass needed a retry (or surefire re-ran a test itself). */
  flaky: boolean;
  /** Tests that failed in an earlier attempt and passed in the final one. */
  flakyTests: string[];
  durationMs: number;
}

export interface RunOptions {
  command: string;
  retries: number;
  cwd: string;
  junit: string[];
  logger: Logger;
  /** Receives the command's output as it arrives (stdout and stderr). */
  onOutput?: (chunk: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Called after each attempt's reports are read, before the next attempt overwrites them. */
  onAttempt?: (attempt: Attempt) => void;
}

/** Runs a command the way a workflow `run:` step does: bash with -e and pipefail (sh where bash is missing). */
export function runCommand(
  command: string,
  opts: { cwd: string; env?: NodeJS.ProcessEnv; onOutput?: (chunk: string) => void },
): Promise<CommandResult> {
  const started = Date.now();
  const [shell, args] = existsSync('/bin/bash')
    ? ['/bin/bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', command]]
    : ['/bin/sh', ['-ec', command]];
  return new Promise((resolve) => {
    const child = spawn(shell, args as string[], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = (b: Buffer): void => opts.onOutput?.(b.toString('utf8'));
    child.stdout.on('data', out);
    child.stderr.on('data', out);
    child.on('error', (err) => {
      opts.onOutput?.(`failed to start ${shell}: ${err.message}\n`);
      resolve({ exitCode: 127, durationMs: Date.now() - started });
    });
    child.on('close', (code, signal) =>
      resolve({ exitCode: code ?? 128, signal: signal ?? undefined, durationMs: Date.now() - started }),
    );
  });
}

export async function runTests(opts: RunOptions): Promise<TestRun> {
  const attempts: Attempt[] = [];
  const started = Date.now();
  let files: string[] | undefined;
  for (let n = 1; n <= opts.retries + 1; n++) {
    if (n > 1) opts.logger.warning(`test command failed; retry ${n - 1} of ${opts.retries}`);
    const attemptStart = Date.now();
    const result = await opts.logger.group(
      n === 1 ? `run: ${opts.command}` : `run (attempt ${n}): ${opts.command}`,
      () =>
        runCommand(opts.command, {
          cwd: opts.cwd,
          env: { ...(opts.env ?? process.env), TEST_GATE_ATTEMPT: String(n) },
          onOutput: opts.onOutput,
        }),
    );
    const attempt: Attempt = { ...result, attempt: n, passed: false, reportFiles: [] };
    if (opts.junit.length > 0) {
      files ??= await repositoryFiles(opts.cwd);
      const read = await readReports(opts, attemptStart, files);
      attempt.report = read.report;
      attempt.reportFiles = read.files;
      if (read.warnings.length > 0) attempt.warnings = read.warnings;
    }
    const failing = attempt.report ? attempt.report.failures + attempt.report.errors : 0;
    // A zero exit with failing tests in the report still fails (`|| true` hides nothing), and so does a
    // non-zero exit with a clean report (a crash before the reporter, a coverage threshold).
    attempt.passed = result.exitCode === 0 && failing === 0;
    const exit = `exit code ${result.exitCode}${result.signal ? ` (${result.signal})` : ''}`;
    const tests = attempt.report ? `, ${attempt.report.tests} tests, ${failing} failing` : '';
    opts.logger.info(`attempt ${n}: ${exit}, ${formatDuration(result.durationMs)}${tests}`);
    attempts.push(attempt);
    opts.onAttempt?.(attempt);
    if (attempt.passed) break;
  }
  return concludeRun(attempts, Date.now() - started);
}

/** What the attempts add up to: passed or not, and which tests were flaky (also used on a saved result). */
export function concludeRun(attempts: Attempt[], durationMs: number): TestRun {
  const final = attempts[attempts.length - 1];
  const flakyTests = final.passed ? flippedTests(attempts) : [];
  const selfRerun = final.report?.cases.filter((c) => c.flaky).map(caseId) ?? [];
  // A set beside the list: 30,000 flaky tests must not cost 30,000 scans of the list.
  const named = new Set(flakyTests);
  for (const t of selfRerun) {
    if (named.has(t)) continue;
    named.add(t);
    flakyTests.push(t);
  }
  return {
    attempts,
    final,
    passed: final.passed,
    flaky: final.passed && (attempts.length > 1 || selfRerun.length > 0),
    flakyTests,
    durationMs,
  };
}

/** Tests failing in any earlier attempt and passing in the last one, in the order they first failed. */
export function flippedTests(attempts: Attempt[]): string[] {
  const final = attempts[attempts.length - 1];
  const passedNow = new Set(final.report?.cases.filter((c) => c.status === 'passed').map(caseId) ?? []);
  // A Set keeps insertion order: one pass over the cases, however many flipped.
  const flipped = new Set<string>();
  for (const a of attempts.slice(0, -1)) {
    for (const c of a.report?.cases ?? []) {
      if (c.status !== 'failed' && c.status !== 'error') continue;
      const id = caseId(c);
      if (passedNow.has(id)) flipped.add(id);
    }
  }
  return [...flipped];
}

async function readReports(
  opts: RunOptions,
  attemptStart: number,
  files: string[],
): Promise<{ report?: JUnitReport; files: string[]; warnings: string[] }> {
  const matched = (
    await glob(opts.junit, { cwd: opts.cwd, absolute: true, dot: true, ignore: ['**/node_modules/**', '**/.git/**'] })
  ).sort();
  // Reports left from an earlier step or committed to the repository must not be read as this attempt's
  // results; 1 s of slack covers file systems with coarse timestamps.
  // A file that cannot be looked at (a dangling link) is kept, to be warned about by name when it is read.
  const fresh = matched.filter((f) => (modified(f) ?? Infinity) >= attemptStart - 1000);
  if (matched.length > fresh.length)
    opts.logger.warning(
      `ignored ${matched.length - fresh.length} JUnit file(s) older than this run: ${matched
        .filter((f) => !fresh.includes(f))
        .map((f) => relative(opts.cwd, f))
        .join(', ')}`,
    );
  if (fresh.length === 0) {
    opts.logger.warning(`no JUnit report matched ${opts.junit.join(', ')}; the exit code alone decides`);
    return { files: [], warnings: [] };
  }
  const reports: JUnitReport[] = [];
  const warnings: string[] = [];
  const warn = (file: string, message: string): void => {
    warnings.push(`${file}: ${message}`);
    opts.logger.warning(`${file}: ${message}`);
  };
  for (const f of fresh) {
    const name = relative(opts.cwd, f);
    let report: JUnitReport;
    try {
      // Bytes, not UTF-8 text: a BOM or the XML declaration names the encoding.
      report = parseJUnit(decodeReport(readReport(f)), {
        repoRoot: opts.cwd,
        files: files.length > 0 ? files : undefined,
      });
    } catch (err) {
      // A file that is not whole XML (a runner that crashed mid-write) adds nothing: a partial count would
      // pass for a smaller suite.
      warn(name, errorMessage(err));
      continue;
    }
    for (const w of report.warnings) warn(name, w);
    reports.push({ ...report, warnings: report.warnings.map((w) => `${name}: ${w}`) });
  }
  return {
    report: reports.length > 0 ? mergeReports(reports) : undefined,
    files: fresh.map((f) => relative(opts.cwd, f)),
    warnings,
  };
}

function modified(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** A report's bytes, none read when it is over {@link REPORT_LIMITS}.bytes (it throws, saying so). */
export function readReport(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const max = REPORT_LIMITS.bytes;
    if (size > max) {
      const over = `${formatBytes(size)}, over the ${formatBytes(max)} a report may be`;
      throw new Error(`${over}: not read; its tests are not counted`);
    }
    // Read to the size it had: a file still growing is cut, and its XML is then found incomplete.
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const got = readSync(fd, bytes, read, size - read, read);
      if (got === 0) break;
      read += got;
    }
    return read < size ? bytes.subarray(0, read) : bytes;
  } finally {
    closeSync(fd);
  }
}

/** The repository's files (for locating failures): git's list when it is a checkout, else a walk. */
export async function repositoryFiles(cwd: string): Promise<string[]> {
  try {
    const out = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], {
      cwd,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\n').filter(Boolean);
  } catch {
    return glob('**', { cwd, dot: false, ignore: ['**/node_modules/**', '**/.git/**'] });
  }
}

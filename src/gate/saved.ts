// The result a `mode: save` run leaves for a `mode: publish` run (the two halves of a fork's pull request).
// Pure: a run becomes JSON, JSON becomes a run again. What comes back was written by pull-request code, so
// only raw facts are taken from it (exit codes, durations, test cases, each field checked and bounded) and
// everything derived (counts, passed, flaky) is computed again here; nothing from it names where to post.
import { unzipSync } from 'fflate';
import { summarize, type Problem, type TestCase } from './junit.js';
import { concludeRun, type Attempt, type TestRun } from './run.js';

export const SAVED_FORMAT = 'fivestep/test-gate-result@1';
export const RESULT_FILE = 'result.json';

export interface SavedResult {
  format: typeof SAVED_FORMAT;
  /** The commit the tests ran on (the pull request's head). Publish checks it against the triggering run. */
  headSha: string;
  pullRequest?: number;
  command: string;
  durationMs: number;
  attempts: SavedAttempt[];
}

interface SavedAttempt {
  attempt: number;
  exitCode: number;
  signal?: string;
  durationMs: number;
  reportFiles: string[];
  /** The cases of this attempt's reports; absent when it had none. */
  cases?: TestCase[];
  warnings?: string[];
}

export function savedResult(run: TestRun, o: { headSha: string; pullRequest?: number; command: string }): SavedResult {
  return {
    format: SAVED_FORMAT,
    headSha: o.headSha,
    ...(o.pullRequest !== undefined ? { pullRequest: o.pullRequest } : {}),
    command: o.command,
    durationMs: run.durationMs,
    attempts: run.attempts.map((a) => ({
      attempt: a.attempt,
      exitCode: a.exitCode,
      ...(a.signal ? { signal: a.signal } : {}),
      durationMs: a.durationMs,
      reportFiles: a.reportFiles,
      ...(a.report ? { cases: a.report.cases } : {}),
      ...(a.warnings && a.warnings.length > 0 ? { warnings: a.warnings } : {}),
    })),
  };
}

/** Bounds on what an artifact may hold: a run of a large suite fits with room, a hostile one does not. */
export const LIMITS = { resultBytes: 64 * 1024 * 1024, attempts: 11, cases: 200_000, text: 64 * 1024, name: 1024, files: 1000, problems: 100 };

export class SavedResultError extends Error {}

/** The run a saved result describes, with every derived figure recomputed. Throws SavedResultError. */
export function restoreRun(json: string): { run: TestRun; saved: SavedResult } {
  if (json.length > LIMITS.resultBytes) throw new SavedResultError(`${RESULT_FILE} is ${json.length} bytes, over the ${LIMITS.resultBytes} allowed`);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new SavedResultError(`${RESULT_FILE} is not JSON: ${(err as Error).message}`);
  }
  const r = object(raw, RESULT_FILE);
  if (r.format !== SAVED_FORMAT) throw new SavedResultError(`${RESULT_FILE}: format is ${JSON.stringify(r.format)}, expected "${SAVED_FORMAT}" (save and publish with the same test-gate version)`);
  const headSha = str(r.headSha, 'headSha', 40);
  if (!/^[0-9a-f]{40}$/.test(headSha)) throw new SavedResultError(`${RESULT_FILE}: headSha is not a commit sha`);
  const attemptsRaw = r.attempts;
  if (!Array.isArray(attemptsRaw) || attemptsRaw.length === 0 || attemptsRaw.length > LIMITS.attempts) throw new SavedResultError(`${RESULT_FILE}: attempts must be a list of 1 to ${LIMITS.attempts}`);
  let total = 0;
  const attempts: Attempt[] = attemptsRaw.map((x, i) => {
    const a = object(x, `attempts[${i}]`);
    const attempt: Attempt = {
      attempt: i + 1,
      exitCode: int(a.exitCode, `attempts[${i}].exitCode`, 0, 255),
      durationMs: num(a.durationMs, `attempts[${i}].durationMs`),
      passed: false,
      reportFiles: list(a.reportFiles ?? [], `attempts[${i}].reportFiles`, LIMITS.files).map((f, j) => str(f, `attempts[${i}].reportFiles[${j}]`, LIMITS.name)),
    };
    if (a.signal !== undefined) attempt.signal = str(a.signal, `attempts[${i}].signal`, 32);
    if (a.warnings !== undefined) attempt.warnings = list(a.warnings, `attempts[${i}].warnings`, LIMITS.files).map((w, j) => str(w, `attempts[${i}].warnings[${j}]`, LIMITS.text));
    if (a.cases !== undefined) {
      const cases = list(a.cases, `attempts[${i}].cases`, LIMITS.cases).map((c, j) => testCase(c, `attempts[${i}].cases[${j}]`));
      total += cases.length;
      if (total > LIMITS.cases * 2) throw new SavedResultError(`${RESULT_FILE}: more than ${LIMITS.cases * 2} test cases over all attempts`);
      attempt.report = summarize(cases);
    }
    // The same rule as a live run: a zero exit with failing tests fails, and so does a non-zero exit.
    attempt.passed = attempt.exitCode === 0 && !attempt.signal && (attempt.report ? attempt.report.failures + attempt.report.errors : 0) === 0;
    return attempt;
  });
  // Attempts after a passing one never happen in a live run: a result claiming them is not one.
  if (attempts.slice(0, -1).some((a) => a.passed)) throw new SavedResultError(`${RESULT_FILE}: an attempt before the last one passed`);
  const saved: SavedResult = {
    format: SAVED_FORMAT,
    headSha,
    command: str(r.command ?? '', 'command', LIMITS.text),
    durationMs: num(r.durationMs, 'durationMs'),
    attempts: [],
  };
  if (r.pullRequest !== undefined) saved.pullRequest = int(r.pullRequest, 'pullRequest', 1, Number.MAX_SAFE_INTEGER);
  return { run: concludeRun(attempts, saved.durationMs), saved };
}

const STATUSES = ['passed', 'failed', 'error', 'skipped'] as const;

function testCase(x: unknown, where: string): TestCase {
  const c = object(x, where);
  const status = c.status as TestCase['status'];
  if (!STATUSES.includes(status)) throw new SavedResultError(`${RESULT_FILE}: ${where}.status is not one of ${STATUSES.join(', ')}`);
  const tc: TestCase = { classname: str(c.classname ?? '', `${where}.classname`, LIMITS.name), name: str(c.name ?? '', `${where}.name`, LIMITS.name), time: num(c.time ?? 0, `${where}.time`), status };
  if (c.message !== undefined) tc.message = str(c.message, `${where}.message`, LIMITS.text);
  if (c.details !== undefined) tc.details = str(c.details, `${where}.details`, LIMITS.text);
  if (c.file !== undefined) tc.file = path(c.file, `${where}.file`);
  if (c.line !== undefined) tc.line = int(c.line, `${where}.line`, 1, 10_000_000);
  if (c.flaky !== undefined) tc.flaky = c.flaky === true;
  // Each <failure> and <error> of the case, so publish annotates every one as a live run does.
  if (c.problems !== undefined) tc.problems = list(c.problems, `${where}.problems`, LIMITS.problems).map((p, i) => problem(p, `${where}.problems[${i}]`));
  return tc;
}

function problem(x: unknown, where: string): Problem {
  const p = object(x, where);
  if (p.kind !== 'failure' && p.kind !== 'error') throw new SavedResultError(`${RESULT_FILE}: ${where}.kind is not failure or error`);
  const out: Problem = { kind: p.kind, message: str(p.message ?? '', `${where}.message`, LIMITS.text) };
  if (p.details !== undefined) out.details = str(p.details, `${where}.details`, LIMITS.text);
  if (p.file !== undefined) out.file = path(p.file, `${where}.file`);
  if (p.line !== undefined) out.line = int(p.line, `${where}.line`, 1, 10_000_000);
  return out;
}

/** A repository-relative path, as the reader makes them: never absolute, never climbing out. */
function path(x: unknown, where: string): string {
  const p = str(x, where, LIMITS.name);
  if (p === '' || p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.split('/').includes('..')) throw new SavedResultError(`${RESULT_FILE}: ${where} is not a repository-relative path`);
  return p;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field below
function object(x: unknown, where: string): Record<string, any> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new SavedResultError(`${RESULT_FILE}: ${where} is not an object`);
  return x as Record<string, unknown>;
}

function list(x: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(x)) throw new SavedResultError(`${RESULT_FILE}: ${where} is not a list`);
  if (x.length > max) throw new SavedResultError(`${RESULT_FILE}: ${where} has ${x.length} items, over the ${max} allowed`);
  return x;
}

function str(x: unknown, where: string, max: number): string {
  if (typeof x !== 'string') throw new SavedResultError(`${RESULT_FILE}: ${where} is not a string`);
  return x.length > max ? `${x.slice(0, max - 1)}…` : x;
}

function num(x: unknown, where: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new SavedResultError(`${RESULT_FILE}: ${where} is not a non-negative number`);
  return x;
}

function int(x: unknown, where: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new SavedResultError(`${RESULT_FILE}: ${where} is not a whole number from ${min} to ${max}`);
  return x;
}

/**
 * `result.json` out of an artifact's zip (actions/upload-artifact zips the directory's contents). Other
 * entries (the reports, kept for people) are not even inflated; the result itself is bounded.
 */
export function resultFromZip(zip: Uint8Array): string {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, { filter: (f) => (f.name === RESULT_FILE || f.name.endsWith(`/${RESULT_FILE}`)) && f.originalSize <= LIMITS.resultBytes });
  } catch (err) {
    throw new SavedResultError(`the artifact is not a readable zip: ${(err as Error).message}`);
  }
  // Uploaded as a directory the result is at the root; uploaded with its parent, one level down.
  const name = Object.keys(files).sort((a, b) => a.split('/').length - b.split('/').length)[0];
  if (!name) throw new SavedResultError(`the artifact holds no ${RESULT_FILE}: upload the results-path of the mode save step`);
  const data = files[name];
  if (data.length > LIMITS.resultBytes) throw new SavedResultError(`${RESULT_FILE} is ${data.length} bytes, over the ${LIMITS.resultBytes} allowed`);
  return new TextDecoder().decode(data);
}

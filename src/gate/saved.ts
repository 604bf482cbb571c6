// The result a `mode: save` run leaves for a `mode: publish` run (the two halves of a fork's pull request).
// Pure: a run becomes JSON, JSON becomes a run again. What comes back was written by pull-request code, so
// only raw facts are taken from it (exit codes, durations, test cases, each field checked and bounded) and
// everything derived (counts, passed, flaky) is computed again here; nothing from it names where to post.
import { Inflate } from 'fflate';
import { summarize, type Problem, type TestCase } from './junit.js';
import { concludeRun, type Attempt, type TestRun } from './run.js';
import { clip } from '../common/text.js';

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
export const LIMITS = {
  resultBytes: 64 * 1024 * 1024,
  attempts: 11,
  cases: 200_000,
  text: 64 * 1024,
  name: 1024,
  files: 1000,
  problems: 100,
};

export class SavedResultError extends Error {}

/** The run a saved result describes, with every derived figure recomputed. Throws SavedResultError. */
export function restoreRun(json: string): { run: TestRun; saved: SavedResult } {
  if (json.length > LIMITS.resultBytes)
    throw new SavedResultError(`${RESULT_FILE} is ${json.length} bytes, over the ${LIMITS.resultBytes} allowed`);
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new SavedResultError(`${RESULT_FILE} is not JSON: ${(err as Error).message}`);
  }
  const r = object(raw, RESULT_FILE);
  if (r.format !== SAVED_FORMAT)
    throw new SavedResultError(
      `${RESULT_FILE}: format is ${JSON.stringify(r.format)}, expected "${SAVED_FORMAT}" (save and publish ` +
        `with the same test-gate version)`,
    );
  const headSha = str(r.headSha, 'headSha', 40);
  if (!/^[0-9a-f]{40}$/.test(headSha)) throw new SavedResultError(`${RESULT_FILE}: headSha is not a commit sha`);
  const attemptsRaw = r.attempts;
  if (!Array.isArray(attemptsRaw) || attemptsRaw.length === 0 || attemptsRaw.length > LIMITS.attempts)
    throw new SavedResultError(`${RESULT_FILE}: attempts must be a list of 1 to ${LIMITS.attempts}`);
  let total = 0;
  const attempts: Attempt[] = attemptsRaw.map((x, i) => {
    const a = object(x, `attempts[${i}]`);
    const attempt: Attempt = {
      attempt: i + 1,
      exitCode: int(a.exitCode, `attempts[${i}].exitCode`, 0, 255),
      durationMs: num(a.durationMs, `attempts[${i}].durationMs`),
      passed: false,
      reportFiles: list(a.reportFiles ?? [], `attempts[${i}].reportFiles`, LIMITS.files).map((f, j) =>
        str(f, `attempts[${i}].reportFiles[${j}]`, LIMITS.name),
      ),
    };
    if (a.signal !== undefined) attempt.signal = str(a.signal, `attempts[${i}].signal`, 32);
    if (a.warnings !== undefined)
      attempt.warnings = list(a.warnings, `attempts[${i}].warnings`, LIMITS.files).map((w, j) =>
        str(w, `attempts[${i}].warnings[${j}]`, LIMITS.text),
      );
    if (a.cases !== undefined) {
      const cases = list(a.cases, `attempts[${i}].cases`, LIMITS.cases).map((c, j) =>
        testCase(c, `attempts[${i}].cases[${j}]`),
      );
      total += cases.length;
      if (total > LIMITS.cases * 2)
        throw new SavedResultError(`${RESULT_FILE}: more than ${LIMITS.cases * 2} test cases over all attempts`);
      attempt.report = summarize(cases);
    }
    // The same rule as a live run: a zero exit with failing tests fails, and so does a non-zero exit.
    attempt.passed =
      attempt.exitCode === 0 &&
      !attempt.signal &&
      (attempt.report ? attempt.report.failures + attempt.report.errors : 0) === 0;
    return attempt;
  });
  // Attempts after a passing one never happen in a live run: a result claiming them is not one.
  if (attempts.slice(0, -1).some((a) => a.passed))
    throw new SavedResultError(`${RESULT_FILE}: an attempt before the last one passed`);
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
  if (!STATUSES.includes(status))
    throw new SavedResultError(`${RESULT_FILE}: ${where}.status is not one of ${STATUSES.join(', ')}`);
  const tc: TestCase = {
    classname: str(c.classname ?? '', `${where}.classname`, LIMITS.name),
    name: str(c.name ?? '', `${where}.name`, LIMITS.name),
    time: num(c.time ?? 0, `${where}.time`),
    status,
  };
  if (c.message !== undefined) tc.message = str(c.message, `${where}.message`, LIMITS.text);
  if (c.details !== undefined) tc.details = str(c.details, `${where}.details`, LIMITS.text);
  if (c.file !== undefined) tc.file = path(c.file, `${where}.file`);
  if (c.line !== undefined) tc.line = int(c.line, `${where}.line`, 1, 10_000_000);
  if (c.flaky !== undefined) tc.flaky = c.flaky === true;
  // Each <failure> and <error> of the case, so publish annotates every one as a live run does.
  if (c.problems !== undefined)
    tc.problems = list(c.problems, `${where}.problems`, LIMITS.problems).map((p, i) =>
      problem(p, `${where}.problems[${i}]`),
    );
  return tc;
}

function problem(x: unknown, where: string): Problem {
  const p = object(x, where);
  if (p.kind !== 'failure' && p.kind !== 'error')
    throw new SavedResultError(`${RESULT_FILE}: ${where}.kind is not failure or error`);
  const out: Problem = { kind: p.kind, message: str(p.message ?? '', `${where}.message`, LIMITS.text) };
  if (p.details !== undefined) out.details = str(p.details, `${where}.details`, LIMITS.text);
  if (p.file !== undefined) out.file = path(p.file, `${where}.file`);
  if (p.line !== undefined) out.line = int(p.line, `${where}.line`, 1, 10_000_000);
  return out;
}

/** A repository-relative path, as the reader makes them: never absolute, never climbing out. */
function path(x: unknown, where: string): string {
  const p = str(x, where, LIMITS.name);
  if (p === '' || p.startsWith('/') || /^[A-Za-z]:/.test(p) || p.split('/').includes('..'))
    throw new SavedResultError(`${RESULT_FILE}: ${where} is not a repository-relative path`);
  return p;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field below
function object(x: unknown, where: string): Record<string, any> {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    throw new SavedResultError(`${RESULT_FILE}: ${where} is not an object`);
  return x as Record<string, unknown>;
}

function list(x: unknown, where: string, max: number): unknown[] {
  if (!Array.isArray(x)) throw new SavedResultError(`${RESULT_FILE}: ${where} is not a list`);
  if (x.length > max)
    throw new SavedResultError(`${RESULT_FILE}: ${where} has ${x.length} items, over the ${max} allowed`);
  return x;
}

function str(x: unknown, where: string, max: number): string {
  if (typeof x !== 'string') throw new SavedResultError(`${RESULT_FILE}: ${where} is not a string`);
  return clip(x, max);
}

function num(x: unknown, where: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0)
    throw new SavedResultError(`${RESULT_FILE}: ${where} is not a non-negative number`);
  return x;
}

function int(x: unknown, where: string, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max)
    throw new SavedResultError(`${RESULT_FILE}: ${where} is not a whole number from ${min} to ${max}`);
  return x;
}

/**
 * `result.json` out of an artifact's zip (actions/upload-artifact zips the directory's contents). The zip's
 * central directory names the entries; the one used is chosen by name before anything is inflated, and only
 * it is inflated, a piece at a time and no further than {@link LIMITS}.resultBytes, whatever its header
 * claims. Other entries (the reports, kept for people, or twenty more result.json) are never inflated.
 */
export function resultFromZip(zip: Uint8Array): string {
  let entries: ZipEntry[];
  try {
    entries = zipEntries(zip);
  } catch (err) {
    throw new SavedResultError(`the artifact is not a readable zip: ${(err as Error).message}`);
  }
  const results = entries.filter((e) => e.name === RESULT_FILE || e.name.endsWith(`/${RESULT_FILE}`));
  // Uploaded as a directory the result is at the root; uploaded with its parent, one level down. The
  // shallowest name wins, the first listed among equals; of two entries with that name, the later one.
  const depth = (name: string): number => name.split('/').length;
  const name = [...new Set(results.map((e) => e.name))].sort((a, b) => depth(a) - depth(b))[0];
  if (name === undefined)
    throw new SavedResultError(`the artifact holds no ${RESULT_FILE}: upload the results-path of the mode save step`);
  const entry = results.filter((e) => e.name === name).pop()!;
  if (entry.originalSize > LIMITS.resultBytes)
    throw new SavedResultError(`${entry.name} is ${entry.originalSize} bytes, over the ${LIMITS.resultBytes} allowed`);
  return inflateEntry(zip, entry, LIMITS.resultBytes);
}

interface ZipEntry {
  name: string;
  method: number;
  /** Compressed and uncompressed sizes as the central directory states them. */
  size: number;
  originalSize: number;
  /** Where the entry's local header starts. */
  offset: number;
}

/** Compressed input pushed to the inflater at a time: at most ~1,032 times as much comes out of it. */
const INFLATE_CHUNK = 16 * 1024;

/** Little-endian reads that refuse to read past the end. */
function littleEndian(d: Uint8Array) {
  const u16 = (at: number): number => {
    if (at < 0 || at + 2 > d.length) throw new Error('it ends inside a header');
    return d[at] | (d[at + 1] << 8);
  };
  const u32 = (at: number): number => u16(at) + u16(at + 2) * 0x10000;
  const u64 = (at: number): number => u32(at) + u32(at + 4) * 0x1_0000_0000;
  return { u16, u32, u64 };
}

/** The central directory's entries (ZIP64 too), every offset checked against the zip's length. */
function zipEntries(d: Uint8Array): ZipEntry[] {
  const { u16, u32, u64 } = littleEndian(d);
  // The end-of-central-directory record: last in the file, followed by a comment of at most 65,535 bytes.
  let end = d.length - 22;
  while (end >= 0 && u32(end) !== 0x06054b50) {
    if (d.length - end > 22 + 0xffff || end === 0) throw new Error('no end of central directory');
    end--;
  }
  if (end < 0) throw new Error('no end of central directory');
  let count = u16(end + 10);
  let at = u32(end + 16);
  if (end >= 20 && u32(end - 20) === 0x07064b50) {
    const z64 = u64(end - 12);
    if (u32(z64) === 0x06064b50) {
      count = u64(z64 + 32);
      at = u64(z64 + 48);
    }
  }
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (u32(at) !== 0x02014b50) throw new Error(`central directory entry ${i + 1} is not one`);
    const flags = u16(at + 8);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const nameStart = at + 46;
    if (nameStart + nameLength > d.length) throw new Error('it ends inside a header');
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(
      d.subarray(nameStart, nameStart + nameLength),
    );
    let size = u32(at + 20);
    let originalSize = u32(at + 24);
    let offset = u32(at + 42);
    if (size === 0xffffffff || originalSize === 0xffffffff || offset === 0xffffffff) {
      // ZIP64: the real values in extra field 1, in this order, for those that overflowed.
      const extraEnd = nameStart + nameLength + extraLength;
      let x = nameStart + nameLength;
      while (x + 4 <= extraEnd && u16(x) !== 1) x += 4 + u16(x + 2);
      if (x + 4 > extraEnd) throw new Error(`${name}: ZIP64 sizes missing`);
      let field = x + 4;
      const next = (): number => {
        const v = u64(field);
        field += 8;
        return v;
      };
      if (originalSize === 0xffffffff) originalSize = next();
      if (size === 0xffffffff) size = next();
      if (offset === 0xffffffff) offset = next();
    }
    entries.push({ name, method: u16(at + 10), size, originalSize, offset });
    at = nameStart + nameLength + extraLength + u16(at + 32);
  }
  return entries;
}

/** An entry's bytes as text, inflated a chunk at a time; past `max` bytes it stops with a SavedResultError. */
function inflateEntry(d: Uint8Array, e: ZipEntry, max: number): string {
  const readable = (what: string): SavedResultError =>
    new SavedResultError(`the artifact is not a readable zip: ${e.name}: ${what}`);
  const over = (): SavedResultError => new SavedResultError(`${e.name} is over the ${max} bytes allowed`);
  const { u16, u32 } = littleEndian(d);
  if (e.offset + 30 > d.length || u32(e.offset) !== 0x04034b50) throw readable('no local header');
  const start = e.offset + 30 + u16(e.offset + 26) + u16(e.offset + 28);
  if (start + e.size > d.length) throw readable('its data runs past the end of the zip');
  const data = d.subarray(start, start + e.size);
  const decoder = new TextDecoder();
  if (e.method === 0) {
    if (data.length > max) throw over();
    return decoder.decode(data);
  }
  if (e.method !== 8) throw readable(`compression method ${e.method} (deflate or none expected)`);
  const parts: string[] = [];
  let total = 0;
  const inflater = new Inflate((chunk) => {
    total += chunk.length;
    if (total > max) throw over();
    parts.push(decoder.decode(chunk, { stream: true }));
  });
  try {
    if (data.length === 0) inflater.push(data, true);
    for (let i = 0; i < data.length; i += INFLATE_CHUNK)
      inflater.push(data.subarray(i, i + INFLATE_CHUNK), i + INFLATE_CHUNK >= data.length);
  } catch (err) {
    if (err instanceof SavedResultError) throw err;
    throw readable((err as Error).message);
  }
  parts.push(decoder.decode());
  return parts.join('');
}

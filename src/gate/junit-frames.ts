// Where a failure text points: the `path:line` frames of a stack trace, as each runtime and test framework
// prints them (JS, Java, .NET, Python and pytest, go, CUnit, and plain `path:line`).

export interface Frame {
  path: string;
  line: number;
  /** The function or method, where the trace names it (Java, .NET, Python, Go, JS). */
  fn?: string;
  /** Python prints the outermost frame first, as do go's `file:line:` messages; the others innermost first. */
  outerFirst?: boolean;
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
const PATH_LINE = new RegExp(
  // After a space or `(`, an optional file:// scheme; a path that ends in a name with an extension; `:line`,
  // an optional `:column`.
  String.raw`(?:^|[\s(])(?:file:\/\/)?` +
    String.raw`((?:[A-Za-z]:)?[^\s():'"<>]*[A-Za-z0-9_-]\.[A-Za-z0-9]{1,10})` +
    String.raw`:(\d+)(?::\d+)?(?=[\s):,]|$)`,
  'g',
);

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

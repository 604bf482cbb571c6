// Where a failing test is, repository-relative: from the failure element's attributes, else from its text
// (stack trace), else from the test case; paths from other machines and package-relative names are matched
// against the repository's files.
import { stackFrames, type Frame } from './junit-frames.js';

export interface LocateOptions {
  /** Absolute path of the repository checkout: absolute paths under it become relative. */
  repoRoot: string;
  /**
   * Repository-relative files, when known: paths from another machine (a container, a different checkout
   * directory) and package-relative names (go's `cart_test.go`) are matched against them by suffix.
   */
  files?: readonly string[];
}

interface Located extends Frame {
  /** A file of the repository's list (when one is given). */
  known: boolean;
}

/** Frameworks and runtimes whose frames are never the test's, when there is no file list to tell. */
const VENDOR = new RegExp(
  String.raw`^(java|javax|jdk|sun|kotlin|kotlinx|scala|junit|org\.junit|org\.opentest4j|org\.apache\.maven|` +
    String.raw`org\.gradle|worker\.org\.gradle|org\.testng|org\.spockframework|org\.scalatest|com\.intellij|` +
    String.raw`System|Microsoft|Xunit|NUnit)[./]`,
);

/** What a report says of where a failure is: the failure element's, the test case's, and the failure text. */
export interface FailureHints {
  elemFile: string;
  elemLine?: number;
  caseFile: string;
  caseLine?: number;
  classname: string;
  name: string;
  trace: string;
}

/** Turns the path hints of a report into repository-relative locations. */
export class Locator {
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
  locate(h: FailureHints): { file: string; line?: number } | undefined {
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
    let p = raw
      .trim()
      .replace(/\\/g, '/')
      .replace(/^file:\/\//, '');
    const vendored = /(^|\/)(node_modules|site-packages|dist-packages)\//.test(p);
    if (vendored || p.startsWith('node:') || p.startsWith('internal/')) return undefined;
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

/**
 * `com/acme/shop` for `com.acme.shop.CartTest.m` (packages are lower case, classes capitalised, as dorny reads
 * them).
 */
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

const MAX_PATH = 4096;

function validLine(n: number | undefined): n is number {
  return n !== undefined && Number.isFinite(n) && n > 0;
}

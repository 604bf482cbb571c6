// One line of Markdown inline content as plain text, for cli/terminal-markdown.ts: markup dropped, backslash escapes
// and entities decoded, code spans as their content, links as `text (url)`. A left-to-right scan: every search only
// moves forward, so a long hostile line costs time in proportion to its length.

interface Scan {
  line: string;
  /** Markdown inline syntax too; false: only tags and entities (inside an HTML block). */
  md: boolean;
  out: string[];
  /** Indexes in `out` of `*` and `_` runs that may open emphasis, innermost last. */
  stars: number[];
  unders: number[];
  brackets: { at: number; image: boolean }[];
  ticks: (length: number, from: number) => number;
  paren: (from: number) => number;
  space: (from: number) => number;
}

const SPECIAL_MD = /[\\`*_![\]<&]/g;
const SPECIAL_HTML = /[<&]/g;

/** One line's inline content as text: markup dropped, escapes and entities decoded, links as `text (url)`. */
export function inline(line: string, md = true): string {
  const s: Scan = {
    line,
    md,
    out: [],
    stars: [],
    unders: [],
    brackets: [],
    ticks: tickRuns(line),
    paren: nextMatch(line, /\)/g),
    space: nextMatch(line, /\s/g),
  };
  for (let i = 0; i < line.length;) i = inlineStep(s, i);
  return s.out.join('');
}

/** Handles what starts at `i`; returns where the next step starts. */
function inlineStep(s: Scan, i: number): number {
  const c = s.line[i];
  if (c === '<') return tag(s, i);
  if (c === '&') return entity(s, i);
  if (s.md) {
    if (c === '\\') return escape(s, i);
    if (c === '`') return codeSpan(s, i);
    if (c === '*' || c === '_') return delimiter(s, i);
    if (c === '[' || (c === '!' && s.line[i + 1] === '[')) {
      s.brackets.push({ at: s.out.push(c === '!' ? '![' : '[') - 1, image: c === '!' });
      return c === '!' ? i + 2 : i + 1;
    }
    if (c === ']') return closeBracket(s, i);
  }
  const special = s.md ? SPECIAL_MD : SPECIAL_HTML;
  special.lastIndex = i + 1;
  const end = special.exec(s.line)?.index ?? s.line.length;
  s.out.push(s.line.slice(i, end));
  return end;
}

/**
 * The first match of `re` (global) at or after `from`, for `from`s that never decrease: a match found is kept while
 * it is still ahead, and none found stays none, so the line is searched once in all.
 */
function nextMatch(line: string, re: RegExp): (from: number) => number {
  let found = -2;
  return (from) => {
    if (found === -1 || found >= from) return found;
    re.lastIndex = from;
    found = re.exec(line)?.index ?? -1;
    return found;
  };
}

/** Where the next backtick run of exactly `length` starts at or after `from` (which never decreases per length). */
function tickRuns(line: string): (length: number, from: number) => number {
  const runs = new Map<number, number[]>();
  for (let k = line.indexOf('`'); k >= 0;) {
    let e = k;
    while (line[e] === '`') e++;
    const list = runs.get(e - k);
    if (list) list.push(k);
    else runs.set(e - k, [k]);
    k = line.indexOf('`', e);
  }
  const next = new Map<number, number>();
  return (length, from) => {
    const list = runs.get(length);
    if (!list) return -1;
    let p = next.get(length) ?? 0;
    while (p < list.length && list[p] < from) p++;
    next.set(length, p);
    return p < list.length ? list[p] : -1;
  };
}

const isAsciiPunct = (code: number): boolean =>
  (code >= 0x21 && code <= 0x2f) ||
  (code >= 0x3a && code <= 0x40) ||
  (code >= 0x5b && code <= 0x60) ||
  (code >= 0x7b && code <= 0x7e);

function escape(s: Scan, i: number): number {
  const next = s.line.charCodeAt(i + 1);
  if (isAsciiPunct(next)) {
    s.out.push(s.line[i + 1]);
    return i + 2;
  }
  // A backslash ending a line is a hard line break: the line ends here anyway.
  if (i + 1 < s.line.length) s.out.push('\\');
  return i + 1;
}

/** A code span: its content as is (no escapes, no entities), one space stripped from each end when both are there. */
function codeSpan(s: Scan, i: number): number {
  let j = i;
  while (s.line[j] === '`') j++;
  const close = s.ticks(j - i, j);
  if (close < 0) {
    s.out.push(s.line.slice(i, j));
    return j;
  }
  let body = s.line.slice(j, close);
  if (body.length > 2 && body[0] === ' ' && body[body.length - 1] === ' ' && /[^ ]/.test(body))
    body = body.slice(1, -1);
  s.out.push(body);
  return close + (j - i);
}

const WHITESPACE = /\s/;
const PUNCTUATION = /[\p{P}\p{S}]/u;

/**
 * A run of `*` or `_`: dropped with the run it pairs with (CommonMark's flanking rules decide which may open or
 * close; `_` inside a word does neither), kept as text when unpaired.
 */
function delimiter(s: Scan, i: number): number {
  const c = s.line[i];
  let j = i;
  while (s.line[j] === c) j++;
  const prev = s.line[i - 1] ?? ' ';
  const next = s.line[j] ?? ' ';
  const [prevSpace, nextSpace] = [WHITESPACE.test(prev), WHITESPACE.test(next)];
  const [prevPunct, nextPunct] = [PUNCTUATION.test(prev), PUNCTUATION.test(next)];
  const left = !nextSpace && (!nextPunct || prevSpace || prevPunct);
  const right = !prevSpace && (!prevPunct || nextSpace || nextPunct);
  const open = c === '*' ? left : left && (!right || prevPunct);
  const close = c === '*' ? right : right && (!left || nextPunct);
  const openers = c === '*' ? s.stars : s.unders;
  const at = s.out.push(s.line.slice(i, j)) - 1;
  if (close && openers.length > 0) {
    s.out[openers.pop()!] = '';
    s.out[at] = '';
  } else if (open) openers.push(at);
  return j;
}

/** `]`: with `(url)` after it, closes the latest `[` as a link (`text (url)`) or an image (`[image: alt]`). */
function closeBracket(s: Scan, i: number): number {
  const open = s.brackets.pop();
  const target = open ? linkTarget(s, i + 1) : undefined;
  if (!open || !target) {
    s.out.push(']');
    return i + 1;
  }
  s.out[open.at] = open.image ? '[image: ' : '';
  s.out.push(open.image ? ']' : target.url ? ` (${target.url})` : '');
  return target.end;
}

/** `(url)` at `i` (no spaces in it, as fivestep writes links): the URL, escapes decoded, and where it ends. */
function linkTarget(s: Scan, i: number): { url: string; end: number } | undefined {
  if (s.line[i] !== '(') return undefined;
  const close = s.paren(i + 1);
  const space = s.space(i + 1);
  if (close < 0 || (space >= 0 && space < close)) return undefined;
  let url = s.line.slice(i + 1, close);
  if (url.startsWith('<') && url.endsWith('>')) url = url.slice(1, -1);
  return { url: url.replace(/\\([!-/:-@[-`{-~])/g, '$1'), end: close + 1 };
}

// The attributes part stops at the next `<` or `>`, so each scan covers only up to the next `<`: linear.
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:[\s/][^<>]*)?>/y;
const AUTOLINK = /<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*)>/y;
/** What a tag shows as; other tags show nothing (their content stays). `<summary>X</summary>` is a line `X:`. */
const TAG_TEXT = new Map([
  ['br', ' '],
  ['summary', '\n'],
  ['/summary', ':\n'],
]);

function tag(s: Scan, i: number): number {
  AUTOLINK.lastIndex = i;
  const link = s.md ? AUTOLINK.exec(s.line) : null;
  if (link) {
    s.out.push(link[1]);
    return AUTOLINK.lastIndex;
  }
  TAG.lastIndex = i;
  const m = TAG.exec(s.line);
  if (!m) {
    s.out.push('<');
    return i + 1;
  }
  s.out.push(TAG_TEXT.get(`${m[1]}${m[2].toLowerCase()}`) ?? '');
  return TAG.lastIndex;
}

const ENTITY = /&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/y;
const NAMED = new Map([
  ['amp', '&'],
  ['lt', '<'],
  ['gt', '>'],
  ['quot', '"'],
  ['apos', "'"],
  ['nbsp', '\u00a0'],
]);

/** An entity decoded (to anything, ESC included: the safety pass runs on the final text); unknown ones kept. */
function entity(s: Scan, i: number): number {
  ENTITY.lastIndex = i;
  const m = ENTITY.exec(s.line);
  let decoded: string | undefined;
  if (m?.[3] !== undefined) decoded = NAMED.get(m[3]);
  else if (m) decoded = codePoint(m[1] !== undefined ? Number(m[1]) : parseInt(m[2], 16));
  if (decoded === undefined) {
    s.out.push('&');
    return i + 1;
  }
  s.out.push(decoded);
  return ENTITY.lastIndex;
}

/** CommonMark: NUL, surrogates and what is past Unicode decode to U+FFFD. */
function codePoint(n: number): string {
  return n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff) ? '\ufffd' : String.fromCodePoint(n);
}

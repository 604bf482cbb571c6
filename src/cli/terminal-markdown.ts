// The Markdown job summaries fivestep writes (rollout, revert, metric watch, test gate), as plain text for a
// terminal. Only what those summaries use is rendered: headings, GFM tables, code spans and fenced blocks, links,
// emphasis, lists, quotes, rules, entities and the few HTML tags. The summaries quote untrusted text (host output,
// test names), so the whole result goes through terminalText last: no escape sequence, carriage return or bidi
// override reaches the terminal, however it was written (raw, `&#27;`, `&#x202e;`).
// Every step is a left-to-right scan (searches only move forward), so a 1 MiB summary renders in well under a
// second, whatever it holds.
import { terminalText } from '../common/text.js';
import { inline } from './terminal-inline.js';

/** What a Mermaid block (a gantt, an xychart) becomes: a chart does not draw in text. */
export const CHART_LEFT_OUT = '(chart left out on a terminal)';

const DEFAULT_WIDTH = 120;
/** A column cut to fit is at least this wide (an ellipsis and two characters). */
const MIN_COLUMN = 3;
const GAP = '  ';

/** `markdown` as plain, printable text for a terminal at most `width` columns wide (tables are fitted to it). */
export function renderForTerminal(markdown: string, o: { width?: number } = {}): string {
  const width = o.width !== undefined && Number.isFinite(o.width) && o.width >= 1 ? Math.floor(o.width) : DEFAULT_WIDTH;
  const lines = markdown.replace(/\r\n/g, '\n').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length;) i = renderBlock(lines, i, width, out);
  return finish(out);
}

/** Renders the block starting at line `i` into `out`; returns the line after it. */
function renderBlock(lines: string[], i: number, width: number, out: string[]): number {
  const line = lines[i];
  const fence = openFence(line);
  if (fence) return codeBlock(lines, i, fence, out);
  const align = tableStart(lines, i);
  if (align) return table(lines, i, align, width, out);
  if (htmlBlockStart(line)) return htmlBlock(lines, i, out);
  const underline = i + 1 < lines.length && isParagraph(line) ? SETEXT.exec(lines[i + 1]) : null;
  if (underline) {
    out.push(...heading(inline(line.trim()), underline[1][0] === '=' ? 1 : 2));
    return i + 2;
  }
  if (line.trim() === '') out.push('');
  // One by one: a line may render to very many (`x</summary>` repeated), too many to spread as arguments.
  else for (const l of quoted(line, width)) out.push(l);
  return i + 1;
}

/** Untrusted text made printable, zero-width spaces (the escaper's defang) dropped. Idempotent. */
function safe(text: string): string {
  return terminalText(text.replace(/\u200b/g, ''));
}

/** The safety pass over the whole text, then no trailing spaces, no runs of blank lines, one final newline. */
function finish(out: string[]): string {
  const kept: string[] = [];
  for (const raw of safe(out.join('\n')).split('\n')) {
    const line = raw.trimEnd();
    if (line === '' && (kept.length === 0 || kept[kept.length - 1] === '')) continue;
    kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  return `${kept.join('\n')}\n`;
}

// ---- Blocks ----

interface Fence {
  char: string;
  length: number;
  indent: number;
  info: string;
}

/** Up to three spaces of indent, as CommonMark allows before a block's marker. */
function indentOf(line: string): number {
  let p = 0;
  while (p < 3 && line[p] === ' ') p++;
  return p;
}

function openFence(line: string): Fence | undefined {
  const p = indentOf(line);
  const char = line[p];
  if (char !== '`' && char !== '~') return undefined;
  let e = p;
  while (line[e] === char) e++;
  const info = line.slice(e).trim();
  // A backtick in the info string makes it inline code, not a fence.
  if (e - p < 3 || (char === '`' && info.includes('`'))) return undefined;
  return { char, length: e - p, indent: p, info };
}

function closesFence(line: string, fence: Fence): boolean {
  const p = indentOf(line);
  let e = p;
  while (line[e] === fence.char) e++;
  return e - p >= fence.length && line.slice(e).trim() === '';
}

/** A fenced block: its lines verbatim, indented; a Mermaid chart one line. Unclosed, it runs to the end. */
function codeBlock(lines: string[], i: number, fence: Fence, out: string[]): number {
  let j = i + 1;
  while (j < lines.length && !closesFence(lines[j], fence)) j++;
  if (fence.info.split(/\s/)[0].toLowerCase() === 'mermaid') {
    out.push(CHART_LEFT_OUT);
    // A caption right under the chart (`<sub>Lines in order: …</sub>`) describes what is not shown: it goes too.
    if (/^<sub>.*<\/sub>$/.test(lines[j + 1] ?? '')) return j + 2;
  } else
    for (let k = i + 1; k < j; k++) {
      const line = lines[k];
      // Content loses as many leading spaces as the fence was indented (CommonMark).
      out.push(`    ${line.slice(Math.min(fence.indent, line.length - line.trimStart().length))}`);
    }
  return j + 1;
}

/** Tags that open an HTML block (CommonMark's type 6): Markdown inside is not parsed, up to a blank line. */
const BLOCK_TAGS = new Set(
  (
    'address article aside base basefont blockquote body caption center col colgroup dd details dialog dir div dl ' +
    'dt fieldset figcaption figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hr html iframe legend ' +
    'li link main menu menuitem nav noframes ol optgroup option p param search section summary table tbody td ' +
    'tfoot th thead title tr track ul'
  ).split(' '),
);
const HTML_BLOCK = /^ {0,3}<\/?([A-Za-z][A-Za-z0-9]*)(?=[\s/>]|$)/;

function htmlBlockStart(line: string): boolean {
  const m = HTML_BLOCK.exec(line);
  return m !== null && BLOCK_TAGS.has(m[1].toLowerCase());
}

/** An HTML block (`<details><summary>…`): tags and entities only, as GitHub shows it. */
function htmlBlock(lines: string[], i: number, out: string[]): number {
  let j = i;
  for (; j < lines.length && lines[j].trim() !== ''; j++) pushPieces(out, inline(lines[j], false));
  return j;
}

/** Rendered text split where a tag broke it (`</summary>`), pieces left blank (a `<details>` line) dropped. */
function pushPieces(out: string[], text: string): void {
  for (const piece of text.split('\n')) if (piece.trim() !== '') out.push(piece);
}

const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;
const LIST = /^(\s*)([-*+]|\d{1,9}[.)])(?=\s|$)/;

/** A line of paragraph text (what a setext underline makes a heading), not the start of another block. */
function isParagraph(line: string): boolean {
  const p = indentOf(line);
  return (
    line.trim() !== '' &&
    line[p] !== '>' &&
    !parseHeading(line) &&
    !isRule(line) &&
    !LIST.test(line) &&
    !htmlBlockStart(line)
  );
}

/** What ends a table's rows besides a blank line: the start of another block. */
function startsBlock(line: string): boolean {
  return (
    line[indentOf(line)] === '>' ||
    openFence(line) !== undefined ||
    parseHeading(line) !== undefined ||
    isRule(line) ||
    LIST.test(line) ||
    htmlBlockStart(line)
  );
}

/** A line outside blocks: its quote markers (`│ ` each), then a heading, rule, list item or paragraph line. */
function quoted(line: string, width: number): string[] {
  let depth = 0;
  let k = 0;
  for (;;) {
    const p = k + indentOf(line.slice(k, k + 3));
    if (line[p] !== '>') break;
    k = line[p + 1] === ' ' ? p + 2 : p + 1;
    depth++;
  }
  if (depth === 0) return lineBody(line, width);
  const prefix = '│ '.repeat(depth);
  const body = line.slice(k);
  return body.trim() === '' ? [prefix] : lineBody(body, width - prefix.length).map((l) => prefix + l);
}

function lineBody(line: string, width: number): string[] {
  const h = parseHeading(line);
  if (h) return heading(inline(h.text), h.level);
  if (isRule(line)) return ['─'.repeat(Math.max(1, width))];
  const out: string[] = [];
  const item = LIST.exec(line);
  pushPieces(out, item ? item[0] + inline(line.slice(item[0].length)) : inline(line));
  return out;
}

function parseHeading(line: string): { level: number; text: string } | undefined {
  const p = indentOf(line);
  let level = 0;
  while (line[p + level] === '#') level++;
  const after = line[p + level];
  if (level < 1 || level > 6 || (after !== undefined && after !== ' ' && after !== '\t')) return undefined;
  let text = line.slice(p + level).trim();
  // A closing run of `#` (after a space, or alone) is not part of the text.
  let e = text.length;
  while (e > 0 && text[e - 1] === '#') e--;
  if (e === 0) text = '';
  else if (e < text.length && (text[e - 1] === ' ' || text[e - 1] === '\t')) text = text.slice(0, e).trimEnd();
  return { level, text };
}

function heading(text: string, level: number): string[] {
  const shown = safe(text.replace(/\n/g, ' ')).trim();
  if (shown === '') return [''];
  return [shown, (level <= 2 ? '=' : '-').repeat(displayWidth(shown))];
}

function isRule(line: string): boolean {
  const p = indentOf(line);
  const c = line[p];
  if (c !== '-' && c !== '*' && c !== '_') return false;
  let n = 0;
  for (let k = p; k < line.length; k++) {
    if (line[k] === c) n++;
    else if (line[k] !== ' ' && line[k] !== '\t') return false;
  }
  return n >= 3;
}

// ---- Tables ----

type Align = 'left' | 'right' | 'center';

/**
 * A row's cells, split at unescaped pipes as GFM does (a backslash takes the next character with it, so `\|` and
 * `\\` never split); the outer pipes are not cells.
 */
function splitRow(line: string): string[] {
  const s = line.trim();
  const cells: string[] = [];
  let from = s.startsWith('|') ? 1 : 0;
  for (let k = from; k < s.length; k++) {
    if (s[k] === '\\') k++;
    else if (s[k] === '|') {
      cells.push(s.slice(from, k));
      from = k + 1;
    }
  }
  if (from < s.length) cells.push(s.slice(from));
  return cells;
}

/** The column alignments when lines `i` and `i + 1` open a table (a header row, then a delimiter row). */
function tableStart(lines: string[], i: number): Align[] | undefined {
  const head = lines[i];
  const delimiter = lines[i + 1];
  if (delimiter === undefined || !head.includes('|') || !/^[ \t|:-]+$/.test(delimiter)) return undefined;
  const cells = splitRow(delimiter).map((c) => c.trim());
  if (!delimiter.includes('|') || !cells.every((c) => /^:?-+:?$/.test(c))) return undefined;
  if (splitRow(head).length !== cells.length) return undefined;
  return cells.map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : 'left'));
}

/** A table: cells rendered, columns padded to one width each (cut with `…` to fit `width`), a rule under the head. */
function table(lines: string[], i: number, align: Align[], width: number, out: string[]): number {
  const rows = [cellsOf(lines[i], align.length)];
  let j = i + 2;
  for (; j < lines.length && lines[j].trim() !== '' && !startsBlock(lines[j]); j++)
    rows.push(cellsOf(lines[j], align.length));
  const natural = align.map(() => 0);
  for (const row of rows)
    for (let col = 0; col < row.length; col++) natural[col] = Math.max(natural[col], displayWidth(row[col]));
  const widths = fitWidths(natural, width);
  const line = (cells: string[]) => cells.map((c, col) => fitCell(c, widths[col], align[col])).join(GAP);
  out.push(line(rows[0]), widths.map((w) => '-'.repeat(w)).join(GAP));
  for (let r = 1; r < rows.length; r++) out.push(line(rows[r]));
  return j;
}

/** A row's cells as shown, as many as the header has (GFM drops extra cells and fills missing ones). */
function cellsOf(line: string, columns: number): string[] {
  const raw = splitRow(line);
  const cells: string[] = [];
  for (let c = 0; c < columns; c++) {
    // `\|` is a pipe in the cell, in code spans too, before inline parsing (GFM).
    const text = (raw[c] ?? '').trim().replace(/\\\|/g, '|');
    cells.push(safe(inline(text).replace(/\n/g, ' ')).trim());
  }
  return cells;
}

/** Column widths within `width`: the widest columns cut first, all to the same width, none below MIN_COLUMN. */
function fitWidths(natural: number[], width: number): number[] {
  const room = width - GAP.length * (natural.length - 1);
  const used = (cap: number) => natural.reduce((sum, w) => sum + Math.min(w, cap), 0);
  if (used(Infinity) <= room) return natural;
  let lo = MIN_COLUMN;
  let hi = natural.reduce((a, b) => Math.max(a, b), 0);
  if (used(lo) > room) return natural.map((w) => Math.min(w, lo));
  // The largest cap that fits, by bisection.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (used(mid) <= room) lo = mid;
    else hi = mid - 1;
  }
  const widths = natural.map((w) => Math.min(w, lo));
  let left = room - used(lo);
  for (let c = 0; c < widths.length && left > 0; c++)
    if (natural[c] > widths[c]) {
      widths[c]++;
      left--;
    }
  return widths;
}

/** `text` padded to `width` columns as aligned, or cut to them with `…` (never inside a surrogate pair). */
function fitCell(text: string, width: number, align: Align): string {
  let shown = text;
  let w = displayWidth(text);
  if (w > width) {
    let kept = '';
    w = 0;
    for (const ch of text) {
      const cw = charWidth(ch);
      if (w + cw > width - 1) break;
      kept += ch;
      w += cw;
    }
    const cut = kept.trimEnd();
    shown = `${cut}…`;
    w -= kept.length - cut.length - 1;
  }
  const pad = Math.max(0, width - w);
  if (align === 'right') return ' '.repeat(pad) + shown;
  if (align === 'center') return ' '.repeat(pad >> 1) + shown + ' '.repeat(pad - (pad >> 1));
  return shown + ' '.repeat(pad);
}

const MARK = /[\p{Mn}\p{Me}]/u;
const EMOJI = /\p{Emoji_Presentation}/u;
/** East Asian wide ranges (Hangul Jamo, CJK, Hangul, compatibility and fullwidth forms, CJK extensions). */
const WIDE: [number, number][] = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe30, 0xfe4f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x20000, 0x3fffd],
];

/** Terminal columns of one code point, as wcwidth counts them (a variation selector adds none). */
function charWidth(ch: string): number {
  const code = ch.codePointAt(0)!;
  if (code < 0x300) return 1;
  // Combining marks, zero-width spaces and joiners, variation selectors.
  if (MARK.test(ch) || (code >= 0x200b && code <= 0x200f) || (code >= 0xfe00 && code <= 0xfe0f)) return 0;
  return EMOJI.test(ch) || WIDE.some(([lo, hi]) => code >= lo && code <= hi) ? 2 : 1;
}

function displayWidth(text: string): number {
  // Printable ASCII (most cells) is one column a character.
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let w = 0;
  for (const ch of text) w += charWidth(ch);
  return w;
}

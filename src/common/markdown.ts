// Untrusted text (test names, commit messages, file names from a pull request, host output, endpoint
// answers) placed in the Markdown GitHub renders: job summaries, check runs, issues and comments. Each
// function returns text that renders as exactly what it was given, and as nothing more: no link, image,
// HTML, emphasis, heading or list; no `@mention` or `#123` reference (those notify people and other
// issues); no way out of the code span, table cell or code block it is put in.
//
// GitHub links mentions, issue references and bare URLs in text nodes after Markdown is rendered, so a
// backslash does not stop them (`\@ann` still notifies): a zero-width space after `@`, `#` and in `://`
// and `www.` does, and reads the same.
import { clip, oneLine } from './text.js';

const ZWSP = '\u200b';

/** Breaks what GitHub turns into a link or a notification in rendered text. */
function defang(text: string): string {
  return text
    .replace(/@/g, `@${ZWSP}`)
    .replace(/#(?=\d)/g, `#${ZWSP}`)
    .replace(/\b(gh-)(?=\d)/gi, `$1${ZWSP}`)
    .replace(/:\/\//g, `:${ZWSP}//`)
    .replace(/\b(www)\./gi, `$1${ZWSP}.`);
}

// Every ASCII punctuation character may be backslash-escaped in CommonMark. These can open markup
// anywhere in a line (`(`, `)` and `!` only after a `]`, so escaping `[` and `]` is enough for links and
// images); `$` opens math.
const MARKUP = /[\\`*_[\]<>|~&$]/g;
/** What opens a block when it starts one (a list item's text is the start of a block): quote, heading, list. */
const BLOCK_START = /^(?:>|[#+-](?=\s|$)|\d{1,9}(?=[.)](?:\s|$)))/;

/** Inline text on one line (a list item, a table cell, a sentence): it reads as itself. */
export function mdText(text: string, max = 2000): string {
  const escaped = defang(oneLine(text, max)).replace(MARKUP, '\\$&');
  return escaped.replace(BLOCK_START, (m) => (/\d/.test(m) ? `${m}\\` : `\\${m}`));
}

/**
 * Inline code: a backtick fence longer than any run of backticks in the text, so none closes it. In a
 * table cell (`cell`), `|` is escaped as GFM tables require, also inside code.
 */
export function mdCode(text: string, o: { max?: number; cell?: boolean } = {}): string {
  let body = oneLine(text, o.max ?? 2000);
  // A cell cannot hold `\|` in code: GFM splits at a pipe after an escaped backslash. Plain text reads the same.
  if (o.cell && body.includes('\\|')) return mdText(text, o.max ?? 2000);
  if (o.cell) body = body.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  // A space is stripped from each side when both are there; pad when the text starts or ends with a backtick.
  const pad =
    body.startsWith('`') || body.endsWith('`') || (body.startsWith(' ') && body.endsWith(' ') && body.trim() !== '')
      ? ' '
      : '';
  return `${fence}${pad}${body || ' '}${pad}${fence}`;
}

/** A fenced code block: kept line for line, with a fence no line of the text can close. */
export function mdBlock(text: string, o: { max?: number } = {}): string {
  const max = o.max ?? 4000;
  const lines = clip(text, max)
    .split(/\r\n|\r|\n/)
    .map((line) => oneLine(line.replace(/\t/g, '    '), Infinity));
  const longest = Math.max(2, ...lines.flatMap((l) => (l.match(/`+/g) ?? []).map((run) => run.length)));
  const fence = '`'.repeat(longest + 1);
  return [fence, ...lines, fence].join('\n');
}

/** Text inside an HTML element (`<summary>`): entities for HTML, and no mention or link. */
export function mdHtml(text: string, max = 2000): string {
  return defang(oneLine(text, max))
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** fivestep's own Markdown (a description from action.yml) in a table cell: its markup kept, `|` escaped, one line. */
export function mdCell(markdown: string): string {
  return markdown
    .replace(/\|/g, '\\|')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

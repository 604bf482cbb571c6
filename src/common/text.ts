// Untrusted text (a host's stderr, a health body, a name read from a host) made safe for a log line:
// one line, printable. Without line breaks nothing in it can start a line the runner reads as a
// workflow command (`::error …`); escape sequences cannot move or recolour the terminal.

/** Line and paragraph separators, and bidirectional overrides that reorder what a reader sees. */
const INVISIBLE = /[\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- escaping control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * `text` as one printable line: line breaks (\n, \r, \r\n) become ` | `, a tab a space, other control
 * characters `\xNN` and invisible reordering characters `\u{NNNN}`; the old `##[command]` form is
 * broken up too. Cut to `max` characters with `…`.
 */
export function oneLine(text: string, max = 2000): string {
  const line = text
    .replace(/\r\n|\r|\n/g, ' | ')
    .replace(/\t/g, ' ')
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(INVISIBLE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`)
    .replace(/##\[/g, '## [');
  return clip(line, max);
}

/**
 * `text` cut to at most `max` characters, `…` the last when cut; a surrogate pair is never split. (To
 * fit a GitHub limit, in UTF-8 bytes too, github/limits.ts has its own clip.)
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  // A high surrogate left last would render as a replacement character.
  if (end > 0 && isSurrogate(text.charCodeAt(end - 1), 'high')) end--;
  return `${text.slice(0, end)}…`;
}

function isSurrogate(code: number, half: 'high' | 'low'): boolean {
  return half === 'high' ? code >= 0xd800 && code <= 0xdbff : code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The last `lines` non-blank lines of a command's output as one printable line ({@link oneLine}), what a
 * one-line reason needs; over `max` characters the end is kept, after a `…`. '' for blank output.
 */
export function lastLines(output: string, o: { lines?: number; max?: number } = {}): string {
  const max = o.max ?? 1000;
  const kept = output
    .split(/\r\n|\n|\r/)
    .filter((l) => l.trim() !== '')
    .slice(-(o.lines ?? 3));
  const line = oneLine(kept.join('\n').trim(), Infinity);
  if (line.length <= max) return line;
  let start = line.length - Math.max(0, max - 1);
  // A low surrogate left first would render as a replacement character.
  if (isSurrogate(line.charCodeAt(start), 'low')) start++;
  return `…${line.slice(start)}`;
}

/**
 * `text` as log lines the runner only prints: line breaks kept (\r and \r\n become \n), control and
 * invisible characters escaped as in {@link oneLine}, and a line that would start a workflow command
 * (`::` after any indent) or hold the old `##[` form broken up (`: :`, `## [`). The runner-backed logger
 * passes everything through this, so no message can act on the runner, whatever it quotes.
 */
export function logText(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) =>
      line
        .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
        .replace(INVISIBLE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`)
        .replace(/##\[/g, '## [')
        .replace(/^(\s*):(?=:)/, '$1: '),
    )
    .join('\n');
}

/**
 * `text` as a terminal prints it and does nothing else: line breaks (\n) kept, a tab four spaces, other control
 * characters (\r and ESC among them) `\xNN` and invisible reordering characters `\u{NNNN}`, as in {@link oneLine}:
 * no escape sequence can move the cursor, recolour the screen or hide what follows.
 */
export function terminalText(text: string): string {
  return text
    .replace(/\t/g, '    ')
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(INVISIBLE, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

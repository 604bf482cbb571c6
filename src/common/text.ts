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
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
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

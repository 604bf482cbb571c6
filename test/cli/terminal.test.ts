// The terminal: log lines on stderr with secrets masked and host text inert, and on a TTY one status line kept
// under the log, rewritten in place (a wave's progress); piped, no status line at all.
import { Terminal } from '../../src/cli/terminal.js';

function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, text: () => chunks.join(''), write: (t: string) => void chunks.push(t), isTTY, columns: 40 };
}

test('on a TTY the status line is rewritten in place and log lines go above it', () => {
  const out = stream(true);
  const t = new Terminal(out, { verbose: false });
  t.status('Wave 1/3: 0 of 1 host(s) switched');
  t.status('Wave 1/3: 1 of 1 host(s) switched');
  t.info('web1:22: on v2');
  t.clearStatus();
  expect(out.chunks).toEqual([
    '\r\x1b[2KWave 1/3: 0 of 1 host(s) switched',
    '\r\x1b[2KWave 1/3: 1 of 1 host(s) switched',
    // erase the status line, write the log line, draw the status line again under it
    '\r\x1b[2Kweb1:22: on v2\nWave 1/3: 1 of 1 host(s) switched',
    '\r\x1b[2K',
  ]);
  // Wider than the terminal: cut, so it stays one line that \r can rewrite.
  t.status('x'.repeat(100));
  expect(out.chunks.at(-1)).toBe(`\r\x1b[2K${'x'.repeat(38)}…`);
});

test('piped: no status line, no escape sequence, plain lines', () => {
  const out = stream(false);
  const t = new Terminal(out, { verbose: false });
  t.status('Wave 1/3');
  t.warning('slow');
  t.debug('hidden without --verbose');
  expect(out.text()).toBe('warning: slow\n');
});

test('secrets are masked and host text cannot reach the terminal as an escape or a workflow command', async () => {
  const out = stream(false);
  const t = new Terminal(out, { verbose: true });
  t.mask('s3cr3t-token');
  await t.group('Wave 1', async () => {
    t.error('web1: \x1b[2J\x1b]0;pwned\x07 token=s3cr3t-token\n::error::fake \u202eevil');
  });
  expect(out.text()).toBe(
    '▸ Wave 1\n  error: web1: \\x1b[2J\\x1b]0;pwned\\x07 token=***\n  : :error::fake \\u{202e}evil\n',
  );
  expect(t.masked('a s3cr3t-token b')).toBe('a *** b');
});

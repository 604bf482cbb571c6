// Untrusted text made one printable log line: it stays text, never a workflow command or an escape sequence.
import { clip, lastLines, logText, oneLine } from '../../src/common/text.js';

test('line breaks of every kind become " | ": nothing can start a line the runner reads as a workflow command', () => {
  const text = oneLine('ok\r::error file=x::pwned\n::add-mask::secret\r\n::stop-commands::t');
  expect(text).toBe('ok | ::error file=x::pwned | ::add-mask::secret | ::stop-commands::t');
  expect(text).not.toMatch(/[\r\n]/);
});

test('escape sequences, other control characters and invisible reordering characters are shown, not obeyed', () => {
  expect(oneLine('\u001b[2J\u001b]8;;http://x\u0007link\u0000\u009b1m')).toBe(
    '\\x1b[2J\\x1b]8;;http://x\\x07link\\x00\\x9b1m',
  );
  expect(oneLine('abc\u202edcba\u2028x')).toBe('abc\\u{202e}dcba\\u{2028}x');
  expect(oneLine('a\tb')).toBe('a b');
  expect(oneLine('x ##[error]y')).toBe('x ## [error]y');
});

test('cut to a length with an ellipsis', () => {
  expect(oneLine('abcdef', 4)).toBe('abc…');
  expect(oneLine('plain text ünïcode')).toBe('plain text ünïcode');
});

describe('logText: what the runner-backed logger prints', () => {
  test.each([
    ['a\r::error file=.github/workflows/ci.yml::pwned', 'a\n: :error file=.github/workflows/ci.yml::pwned'],
    ['x\n::add-mask::secret', 'x\n: :add-mask::secret'],
    ['y\r\n  ::stop-commands::tok', 'y\n  : :stop-commands::tok'],
    ['::group::fake', ': :group::fake'],
    ['##[error]old form', '## [error]old form'],
    ['\u001b[31mred\u001b]8;;https://evil.example\u0007', '\\x1b[31mred\\x1b]8;;https://evil.example\\x07'],
    ['tab\tkept, lines\nkept', 'tab\tkept, lines\nkept'],
    ['a \u202eevil', 'a \\u{202e}evil'],
  ])('%j', (input, printed) => {
    expect(logText(input)).toBe(printed);
    for (const line of logText(input).split('\n')) expect(line.trimStart().startsWith('::')).toBe(false);
  });
});

describe('clip: at most max characters', () => {
  test('text within max as it is; longer text cut with … as the last character', () => {
    expect(clip('abcdef', 6)).toBe('abcdef');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abcdef', 1)).toBe('…');
  });

  test('never half a surrogate pair', () => {
    expect(clip('ab😀cd', 4)).toBe('ab…');
    expect(clip('ab😀cd', 5)).toBe('ab😀…');
  });
});

describe("lastLines: the end of a command's output as one printable line", () => {
  test('the last three non-blank lines, whatever the line breaks', () => {
    expect(lastLines('one\r\ntwo\n\n  \nthree\rfour\n\n')).toBe('two | three | four');
    expect(lastLines('a\nb\nc', { lines: 1 })).toBe('c');
  });

  test('blank output is empty', () => {
    expect(lastLines(' \n\t\n')).toBe('');
  });

  test('over max, the end is kept: that is where the error is', () => {
    const tail = lastLines(`${'x'.repeat(50)}\nfatal: the error`, { max: 20 });
    expect(tail).toBe('… | fatal: the error');
    expect(tail).toHaveLength(20);
  });

  test('untrusted: control characters escaped, no workflow command', () => {
    expect(lastLines('ok\n::error::pwned\u001b[2J')).toBe('ok | ::error::pwned\\x1b[2J');
  });
});

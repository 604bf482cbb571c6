// Quoting for POSIX sh, checked by a real sh: what goes in is exactly what the command sees.
import { execFileSync } from 'node:child_process';
import { argv, envAssignments, quote } from '../../src/common/shell.js';

const nasty = [
  '',
  'plain',
  'a b',
  "it's",
  "''",
  '"double"',
  '$(touch /tmp/fivestep-should-not-exist)',
  '`id`',
  '${HOME}',
  '$HOME',
  'a;b&&c||d|e',
  '*',
  '~',
  '-n',
  '%s%d',
  'back\\slash\\',
  'new\nline',
  'tab\there',
  '!history',
  'ünïcödé ✓',
  "'; rm -rf / #",
];

describe('quote', () => {
  test('safe words stay bare, everything else is single-quoted', () => {
    expect(quote('abc-1.2_3/x@y:z,w=v+%')).toBe('abc-1.2_3/x@y:z,w=v+%');
    expect(quote('')).toBe("''");
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe("'it'\\''s'");
  });

  test.each(nasty.map((s) => [s]))('%j round-trips through sh -c printf', (value) => {
    const out = execFileSync('sh', ['-c', `printf %s ${quote(value)}`], { encoding: 'utf8' });
    expect(out).toBe(value);
  });

  test('argv keeps every argument separate', () => {
    const out = execFileSync('sh', ['-c', `printf '<%s>' ${argv(...nasty)}`], { encoding: 'utf8' });
    expect(out).toBe(nasty.map((s) => `<${s}>`).join(''));
  });
});

describe('envAssignments', () => {
  test('values round-trip through env; bad names are refused', () => {
    const values = { A: "x'; touch /tmp/no", B_2: '$(id)', C: '' };
    const out = execFileSync('sh', ['-c', `env ${envAssignments(values)} sh -c 'printf "<%s>" "$A" "$B_2" "$C"'`], {
      encoding: 'utf8',
    });
    expect(out).toBe(`<${values.A}><${values.B_2}><>`);
    expect(() => envAssignments({ 'A;B': 'x' })).toThrow("invalid environment name 'A;B'");
    expect(() => envAssignments({ '1A': 'x' })).toThrow();
  });
});

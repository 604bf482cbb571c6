// Joined commands (release/joined.ts): several steps in one remote command, each step's outcome its own,
// run in a real sh as a host runs them.
import { spawnSync } from 'node:child_process';
import { endedSoFar, joinCommands, splitJoined } from '../../src/release/joined.js';

const NONCE = '0123456789abcdef';
const sh = (script: string, input = '') => spawnSync('sh', ['-c', script], { encoding: 'utf8', input });
const run = (commands: string[], input = '') => {
  const r = sh(joinCommands(commands, NONCE), input);
  return { code: r.status, parts: splitJoined(r.stdout, r.stderr, NONCE), ended: endedSoFar(r.stdout, NONCE) };
};

test('the joined command, exactly: each command in its own subshell, then its end line on stdout and stderr', () => {
  expect(joinCommands(['a', 'b'], NONCE)).toBe(
    [
      '(',
      'a',
      ')',
      `c=$?; printf '\\n%s-%s %s\\n' fivestep ${NONCE} "$c"; printf '\\n%s-%s\\n' fivestep ${NONCE} >&2; ` +
        '[ "$c" -eq 0 ] || exit "$c"',
      '(',
      'b',
      ')',
      `c=$?; printf '\\n%s-%s %s\\n' fivestep ${NONCE} "$c"; printf '\\n%s-%s\\n' fivestep ${NONCE} >&2; ` +
        '[ "$c" -eq 0 ] || exit "$c"',
    ].join('\n'),
  );
  expect(() => joinCommands(['a'], "x'; rm -rf /")).toThrow(/hex/);
});

test("each part's stdout and stderr come back exactly as if it ran alone, with or without a last newline", () => {
  const { code, parts } = run(['echo one; echo err1 >&2', 'printf two; printf err2 >&2', 'printf "3\\n\\n"']);
  expect(code).toBe(0);
  expect(parts).toEqual([
    { code: 0, stdout: 'one\n', stderr: 'err1\n' },
    { code: 0, stdout: 'two', stderr: 'err2' },
    { code: 0, stdout: '3\n\n', stderr: '' },
  ]);
});

test('the first failure ends the whole with its status; the steps after it do not run', () => {
  const { code, parts } = run(['echo ran', 'echo boom >&2; exit 7', 'touch /tmp/should-not-exist-joined; echo no']);
  expect(code).toBe(7);
  expect(parts).toEqual([
    { code: 0, stdout: 'ran\n', stderr: '' },
    { code: 7, stdout: '', stderr: 'boom\n' },
  ]);
});

test("a part's set -e, cd and exit stay its own", () => {
  const { code, parts } = run(['set -e; cd /tmp; exit 0', 'pwd; false; echo still']);
  expect(code).toBe(0);
  expect(parts[1]).toEqual({ code: 0, stdout: `${process.cwd()}\nstill\n`, stderr: '' });
});

test('the first part reads the stdin; the later ones find it at its end', () => {
  const { parts } = run(['cat', 'cat; echo end'], 'the artifact');
  expect(parts.map((p) => p.stdout)).toEqual(['the artifact', 'end\n']);
});

test('a part that prints the script (ps, set -x) or fakes an end line cannot end a step early', () => {
  const script = joinCommands(['true'], NONCE);
  const { parts } = run([
    `cat <<'EOF'\n${script}\nEOF`,
    `printf '\\nfivestep-%s 0\\n' 0000000000000000; printf '\\nfivestep-beef 0\\n'; exit 3`,
  ]);
  expect(parts).toHaveLength(2);
  expect(parts[0]).toEqual({ code: 0, stdout: `${script}\n`, stderr: '' });
  expect(parts[1].code).toBe(3);
});

test('endedSoFar counts the end lines seen in the output so far (the record of each step ends then)', () => {
  const out = sh(joinCommands(['echo a', 'echo b', 'exit 1'], NONCE)).stdout;
  expect(endedSoFar(out, NONCE)).toBe(3);
  expect(endedSoFar(out.slice(0, out.indexOf('b\n')), NONCE)).toBe(1);
  expect(endedSoFar('', NONCE)).toBe(0);
});

test('a command cut short (the connection went) is not among the parts', () => {
  const out = sh(joinCommands(['echo a', 'echo b'], NONCE)).stdout;
  const cut = out.slice(0, out.lastIndexOf('fivestep-') - 1);
  expect(splitJoined(cut, '', NONCE)).toEqual([{ code: 0, stdout: 'a\n', stderr: '' }]);
});

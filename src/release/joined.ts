// Several steps' commands as one remote command, each step's outcome still its own: a round trip per
// command is what a real network charges, and steps that must run in sequence on a host (switch, then
// reload) need not wait for the runner in between. Each command runs in its own subshell (its `set -e`,
// `cd` and `exit` stay its own), its output goes out as it would alone, and a line with a per-run nonce
// after it, on stdout and on stderr, says where it ended and how; the first failure ends the whole.
// The nonce is split in the script's text (`fivestep <hex>` there, `fivestep-<hex>` in the output), so a
// command that prints the script (`ps`) cannot fake an end.

/** One step's part of a joined command's output. */
export interface JoinedPart {
  code: number;
  stdout: string;
  stderr: string;
}

const end = (nonce: string) => `\nfivestep-${nonce}`;

/** `commands` run in order in one shell, stopping at the first that exits non-zero (with its status). */
export function joinCommands(commands: readonly string[], nonce: string): string {
  if (!/^[0-9a-f]{8,}$/.test(nonce)) throw new Error('the nonce must be hex');
  const ended =
    `c=$?; printf '\\n%s-%s %s\\n' fivestep ${nonce} "$c"; printf '\\n%s-%s\\n' fivestep ${nonce} >&2; ` +
    `[ "$c" -eq 0 ] || exit "$c"`;
  return commands.map((c) => `(\n${c}\n)\n${ended}`).join('\n');
}

/** How many commands have ended, from the stdout seen so far. */
export function endedSoFar(stdout: string, nonce: string): number {
  const mark = `${end(nonce)} `;
  let n = 0;
  for (let at = stdout.indexOf(mark); at >= 0; at = stdout.indexOf(mark, at + mark.length)) n++;
  return n;
}

/** Each ended command's exit status and output, in order (a command cut short is not among them). */
export function splitJoined(stdout: string, stderr: string, nonce: string): JoinedPart[] {
  const outs = stdout.split(end(nonce));
  const errs = stderr.split(end(nonce));
  const parts: JoinedPart[] = [];
  for (let k = 0; k + 1 < outs.length; k++) {
    // Each piece after the first starts with the end line's rest: ` <status>\n` on stdout, `\n` on stderr.
    const out = k === 0 ? outs[0] : outs[k].replace(/^ \d+\n/, '');
    const err = k === 0 ? errs[0] : (errs[k] ?? '').replace(/^\n/, '');
    const code = Number(/^ (\d+)\n/.exec(outs[k + 1])?.[1] ?? NaN);
    if (!Number.isInteger(code)) break;
    parts.push({ code, stdout: out, stderr: k + 1 < errs.length ? err : '' });
  }
  return parts;
}

// A scratch git repository for the revert's git tests: a bare remote and a clone of it on `main`,
// with an identity, removed when the test file ends.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** git in `cwd`, in the C locale; its stdout trimmed. */
export const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).trim();

/** A bare remote and a clone of it; `commit` writes a file, commits it and returns the commit's SHA. */
export function scratchClone(prefix: string) {
  const base = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(base);
  const remote = join(base, 'remote.git');
  const work = join(base, 'work');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  execFileSync('git', ['clone', '--quiet', remote, work], { stdio: 'ignore' });
  git(work, 'config', 'user.name', 'Dev');
  git(work, 'config', 'user.email', 'dev@example.com');
  const commit = (file: string, content: string, message: string) => {
    writeFileSync(join(work, file), content);
    git(work, 'add', file);
    git(work, 'commit', '--quiet', '-m', message);
    return git(work, 'rev-parse', 'HEAD');
  };
  return { base, remote, work, commit };
}

// Servers the tests start as child processes die with the test process, even when it crashes or a
// demo is killed by a closed pipe: none may be left behind to hold a port.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const running = new Set<ChildProcess>();
let exitHook = false;

/** Kills `child` (SIGKILL) when this process exits, unless it has exited already. */
export function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** Whether pid is a live process (a zombie has ended: only its parent's wait is missing). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Parent pid → child pids, read once from /proc. */
export function processTree(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  return children;
}

/**
 * pids of every descendant of pid (sshd's per-connection children call setsid, so a group kill misses them);
 * `tree` lets a caller that looks at many share one read of /proc.
 */
export function descendants(pid: number, tree: Map<number, number[]> = processTree()): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    for (const c of tree.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

// Servers the tests start as child processes die with the test process, even when it crashes or a
// demo is killed by a closed pipe: none may be left behind to hold a port.
import type { ChildProcess } from 'node:child_process';

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

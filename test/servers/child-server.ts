// One way to run a server binary as a child process in the tests: on a free port (fleet.ts's freePort, which never
// hands out a port twice), killed when the test process exits (child-processes.ts), on another port when the one
// picked was taken meanwhile, ready when its own probe says so (polled against a deadline: poll, don't sleep), its
// stderr kept as its log, and closed by killing it and removing its directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { killOnExit } from './child-processes.js';
import { freePort } from './fleet.js';

/** Where a child server listens. */
export interface ChildAddress {
  /** `http://ADDRESS`. */
  url: string;
  /** The listen host (127.0.0.1 unless asked otherwise). */
  host: string;
  port: number;
  /** host:port (`[host]:port` for IPv6): a listen address, a scrape target, an Alertmanager to send alerts to. */
  address: string;
}

export interface ChildServer extends ChildAddress {
  /** The process's stderr so far (its log: the last MiB), for an assertion or a failing test's message. */
  log(): string;
  /** Kills it (SIGTERM), waits for its exit and removes its directory. */
  close(): Promise<void>;
}

export interface ChildServerOptions {
  /** Its name in errors. */
  what: string;
  bin: string;
  /** Its own directory (configuration, storage): removed on close, and when it cannot be started. */
  dir: string;
  /** Its arguments, to listen at `at`. */
  args: (at: ChildAddress) => string[];
  /** Whether it is ready (a throw counts as not yet). */
  ready: (at: ChildAddress) => Promise<boolean>;
  /** What ready means, for the error when it is not. */
  readyMeans?: string;
  /** The host to listen on (default 127.0.0.1). */
  host?: string;
  timeoutMs: number;
}

const LOG_TAIL = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function childAddress(host: string, port: number): ChildAddress {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { url: `http://${address}`, host, port, address };
}

/** Runs `bin` on a free port until it is ready; another port when the first was taken meanwhile (three tries). */
export async function startChild(o: ChildServerOptions): Promise<ChildServer> {
  const host = o.host ?? '127.0.0.1';
  const fail = (message: string): never => {
    rmSync(o.dir, { recursive: true, force: true });
    throw new Error(message);
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    const at = childAddress(host, await freePort(host));
    const child: ChildProcess = spawn(o.bin, o.args(at), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr = (stderr + String(d)).slice(-LOG_TAIL);
    });
    killOnExit(child);
    let running = true;
    const exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        running = false;
        resolve();
      }),
    );
    const close = async () => {
      if (running) child.kill('SIGTERM');
      await exited;
      rmSync(o.dir, { recursive: true, force: true });
    };
    const deadline = Date.now() + o.timeoutMs;
    const poll = async () => {
      while (Date.now() < deadline && running) {
        if (await o.ready(at).catch(() => false)) return true;
        await sleep(100);
      }
      return false;
    };
    if (await Promise.race([poll(), exited.then(() => false)])) return { ...at, log: () => stderr, close };
    if (running) {
      await close();
      const means = o.readyMeans ? ` (${o.readyMeans})` : '';
      throw new Error(`${o.what} was not ready${means} within ${o.timeoutMs} ms: ${stderr.slice(-800)}`);
    }
    // Lost the port to someone else between picking and binding: try another.
    if (!/address already in use/.test(stderr)) fail(`${o.what} exited: ${stderr.slice(-800)}`);
  }
  return fail(`${o.what} could not bind a port`);
}

// Debian's haproxy on a free loopback port with its own config, admin socket (mode 666, so the fleet's
// login user can drive it over SSH) and pid file in a temp dir. Foreground (-db), killed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit } from './child-processes.js';
import { freePort } from './fleet.js';
import { ensurePackages } from './system-packages.js';

export interface BalancedServer {
  name: string;
  address: string;
  port: number;
  weight?: number;
}

export interface HaproxyServer {
  url: string;
  socket: string;
  backend: string;
  config: string;
  stop(): Promise<void>;
}

/**
 * `backendLines`: the backend's own lines in place of `balance roundrobin` (a recipe's retries, say);
 * the `server` lines are always those of `servers`.
 */
export async function startHaproxy(
  servers: BalancedServer[],
  backend = 'app',
  opts: { backendLines?: string[] } = {},
): Promise<HaproxyServer> {
  ensurePackages(['haproxy', 'socat']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-haproxy-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const socket = join(dir, 'admin.sock');
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(
    config,
    [
      'global',
      `  stats socket ${socket} mode 666 level admin`,
      `  pidfile ${join(dir, 'haproxy.pid')}`,
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend fe',
      `  bind 127.0.0.1:${port}`,
      `  default_backend ${backend}`,
      `backend ${backend}`,
      ...(opts.backendLines ?? ['  balance roundrobin']),
      ...servers.map((s) => `  server ${s.name} ${s.address}:${s.port} weight ${s.weight ?? 1}`),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/haproxy', ['-db', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  killOnExit(child);
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`haproxy did not start: ${stderr.slice(-500)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    socket,
    backend,
    config,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

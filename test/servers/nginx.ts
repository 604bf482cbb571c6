// Debian's nginx on a free loopback port, run as `owner` (the fleet's login user, so it can rewrite the
// upstream file and reload over SSH), with config, upstream file, pid and logs in its own temp dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './fleet.js';
import type { BalancedServer } from './haproxy.js';
import { ensurePackages } from './system-packages.js';

export interface NginxServer {
  url: string;
  config: string;
  upstreamFile: string;
  upstream: string;
  stop(): Promise<void>;
}

export async function startNginx(
  servers: BalancedServer[],
  owner: { uid: number; gid: number },
  upstream = 'app',
): Promise<NginxServer> {
  ensurePackages(['nginx']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const config = join(dir, 'nginx.conf');
  const upstreamFile = join(dir, 'upstream.conf');
  writeFileSync(
    upstreamFile,
    [
      `upstream ${upstream} {`,
      ...servers.map(
        (s) =>
          `    server ${s.address.startsWith('unix:') ? s.address : `${s.address}:${s.port}`}${s.weight ? ` weight=${s.weight}` : ''};`,
      ),
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    config,
    [
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'worker_processes 1;',
      'events { worker_connections 256; }',
      'http {',
      `  access_log off;`,
      `  client_body_temp_path ${join(dir, 'tmp')};`,
      `  proxy_temp_path ${join(dir, 'tmp')};`,
      `  fastcgi_temp_path ${join(dir, 'tmp')};`,
      `  uwsgi_temp_path ${join(dir, 'tmp')};`,
      `  scgi_temp_path ${join(dir, 'tmp')};`,
      `  include ${upstreamFile};`,
      `  server { listen 127.0.0.1:${port}; location / { proxy_pass http://${upstream}; proxy_next_upstream off; } }`,
      '}',
      '',
    ].join('\n'),
  );
  for (const p of [dir, join(dir, 'tmp'), config, upstreamFile]) chownSync(p, owner.uid, owner.gid);
  const child: ChildProcess = spawn(
    '/usr/sbin/nginx',
    ['-c', config, '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      uid: owner.uid,
      gid: owner.gid,
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(dir, 'nginx.pid'))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      throw new Error(`nginx did not start: ${stderr.slice(-300)} ${log.slice(-300)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    upstreamFile,
    upstream,
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

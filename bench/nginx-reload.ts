// What an nginx reload costs the clients in flight (docs/load-balancer.md): every drain, return to
// rotation and canary weight change with `load-balancer: nginx` is one. Steady load through a real nginx
// to a plain app, `reloads` reloads (`nginx -s reload`, as the provider does), counted twice: clients that
// keep connections alive, and clients that send `Connection: close`. No fivestep code runs here: this is
// the cost nginx itself puts on each way a client can connect.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { startNginx } from '../test/servers/nginx.js';

interface Count {
  requests: number;
  failed: number;
}

export interface NginxReloadFigures {
  reloads: number;
  keepAlive: Count;
  close: Count;
  lines: string[];
}

async function load(url: string, keepAlive: boolean, whileRunning: () => Promise<void>): Promise<Count> {
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: 4 }) : undefined;
  const count: Count = { requests: 0, failed: 0 };
  let running = true;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const req = request(url, { agent: agent ?? false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      count.requests++;
      if (!(await one())) count.failed++;
    }
  });
  await whileRunning();
  running = false;
  await Promise.all(loops);
  agent?.destroy();
  return count;
}

export async function benchNginxReload(reloads = 40): Promise<NginxReloadFigures> {
  const app: Server = createServer((req, res) => res.end('ok'));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const port = (app.address() as { port: number }).port;
  const { uid, gid } = statSync(process.cwd());
  const nginx = await startNginx([{ name: 'a', address: '127.0.0.1', port }], { uid, gid });
  const reloadAll = async () => {
    for (let i = 0; i < reloads; i++) {
      execFileSync('/usr/sbin/nginx', ['-q', '-c', nginx.config, '-s', 'reload'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    const keepAlive = await load(nginx.url, true, reloadAll);
    const close = await load(nginx.url, false, reloadAll);
    const lines = [
      `nginx, ${reloads} reloads under 4 clients' steady load: keep-alive clients ${keepAlive.failed} failed of ${keepAlive.requests} requests; Connection: close ${close.failed} failed of ${close.requests}`,
    ];
    for (const l of lines) console.log(l);
    return { reloads, keepAlive, close, lines };
  } finally {
    await nginx.stop();
    await new Promise<void>((r) => app.close(() => r()));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchNginxReload();

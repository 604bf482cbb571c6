// The demo shop: a tiny HTTP app that reloads on `kill -HUP` (or USR2) without dropping a request: like
// Starman on HUP, new workers load the release `current` points to and the old ones finish and exit.
//
//   node server.mjs --deploy-path /srv/app --host 127.0.0.1 --port 8080 [--workers 2]
//
// The master (cluster primary) owns the listening socket and never serves a request itself. It writes its
// pid to <deploy-path>/shared/app.pid and starts workers from the release `<deploy-path>/current` points
// to (this same file, shipped inside every release). On HUP (or USR2) it resolves `current` again, forks new
// workers from that release, waits until they listen, then asks the old ones to drain: they stop taking
// connections, answer each request still coming on a kept-alive connection with `Connection: close`, and
// exit once their last connection is gone. No request is refused or reset along the way.
//
// Routes: /  /health  /buy?user=N (records revenue)  /metrics (Prometheus text). The counters live in the
// master, so a reload never resets them. A release holding a file named BROKEN_REVENUE records ~10 % of
// the normal revenue per sale: it passes every health check and still loses money.
// Plain Node, no dependencies.
import cluster from 'node:cluster';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import { dirname, join } from 'node:path';
import { setInterval, clearInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';

const PRICE = 10;
const USER_WINDOW_MS = 10_000;

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

if (cluster.isPrimary) await master();
else worker();

async function master() {
  const deployPath = arg('deploy-path');
  const host = arg('host', '127.0.0.1');
  const port = Number(arg('port'));
  const workers = Math.max(1, Number(arg('workers', '2')));
  if (!deployPath || !Number.isInteger(port) || port <= 0) {
    console.error('usage: node server.mjs --deploy-path DIR --host ADDR --port N [--workers N]');
    process.exit(2);
  }
  const shared = join(deployPath, 'shared');
  mkdirSync(shared, { recursive: true });
  const pidFile = join(shared, 'app.pid');
  const servedFile = join(shared, 'app.served');
  const log = (m) => console.log(`${new Date().toISOString()} shop[${process.pid}] ${m}`);

  // Metrics, kept here so that reloads never reset a counter.
  let revenue = 0;
  const requests = new Map(); // `path code` -> count
  const users = new Map(); // user -> last seen (ms)
  let reloads = 0;
  let served = '';

  function metrics() {
    const now = Date.now();
    for (const [u, t] of users) if (now - t > USER_WINDOW_MS) users.delete(u);
    const lines = [
      '# HELP shop_concurrent_users Users seen in the last 10 seconds.',
      '# TYPE shop_concurrent_users gauge',
      `shop_concurrent_users ${users.size}`,
      '# HELP shop_revenue_total Revenue recorded by /buy.',
      '# TYPE shop_revenue_total counter',
      `shop_revenue_total ${revenue}`,
      '# HELP http_requests_total HTTP requests served.',
      '# TYPE http_requests_total counter',
      ...[...requests].map(([k, v]) => {
        const [path, code] = k.split(' ');
        return `http_requests_total{path="${path}",code="${code}"} ${v}`;
      }),
      '# HELP shop_reloads_total Reloads done (HUP or USR2).',
      '# TYPE shop_reloads_total counter',
      `shop_reloads_total ${reloads}`,
      '# TYPE shop_release_info gauge',
      `shop_release_info{version="${served}"} 1`,
    ];
    return `${lines.join('\n')}\n`;
  }

  let generation = [];
  cluster.schedulingPolicy = cluster.SCHED_RR; // the master accepts, workers serve: a draining worker gets no new connection

  function onMessage(w, msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.cmd === 'hit') {
      const key = `${msg.path} ${msg.code}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      if (msg.revenue) revenue += msg.revenue;
      if (msg.user) users.set(msg.user, Date.now());
    } else if (msg.cmd === 'metrics') {
      w.send({ cmd: 'metrics', id: msg.id, text: metrics() });
    }
  }

  /** Forks `workers` workers from the release `current` points to; resolves once all listen. */
  async function startGeneration() {
    const release = realpathSync(join(deployPath, 'current'));
    const version = existsSync(join(release, 'VERSION'))
      ? readFileSync(join(release, 'VERSION'), 'utf8').trim()
      : release.split('/').pop();
    cluster.setupPrimary({ exec: join(release, 'server.mjs'), args: [], silent: false });
    const started = [];
    try {
      for (let i = 0; i < workers; i++) {
        const w = cluster.fork({ SHOP_HOST: host, SHOP_PORT: String(port), SHOP_RELEASE: release });
        w.on('message', (msg) => onMessage(w, msg));
        started.push(w);
      }
      await Promise.all(
        started.map(
          (w) =>
            new Promise((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error('worker did not listen within 10 s')), 10_000);
              w.once('listening', () => {
                clearTimeout(timer);
                resolve();
              });
              w.once('exit', (code) => {
                clearTimeout(timer);
                reject(new Error(`worker exited with ${code} before listening`));
              });
            }),
        ),
      );
    } catch (err) {
      for (const w of started) w.process.kill('SIGKILL');
      throw err;
    }
    return { workers: started, version };
  }

  function drain(old) {
    for (const w of old) {
      if (w.isConnected()) w.send({ cmd: 'drain' });
      // A worker whose clients never come back is stopped after a grace period.
      setTimeout(() => w.isDead() || w.process.kill('SIGTERM'), 15_000).unref();
    }
  }

  let reloading = false;
  let pending = false;
  async function reload() {
    if (reloading) {
      pending = true;
      return;
    }
    reloading = true;
    try {
      do {
        pending = false;
        try {
          const next = await startGeneration();
          const old = generation;
          generation = next.workers;
          served = next.version;
          reloads++;
          writeFileSync(servedFile, `${served}\n`);
          drain(old);
          log(`reloaded: now serving ${served} (${old.length} old worker(s) draining)`);
        } catch (err) {
          log(`reload failed, still serving ${served}: ${err.message}`);
        }
      } while (pending);
    } finally {
      reloading = false;
    }
  }

  let stopping = false;
  function stop() {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    try {
      if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) rmSync(pidFile, { force: true });
    } catch {
      // already gone
    }
    setTimeout(() => process.exit(0), 2000).unref();
    const check = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(check);
        process.exit(0);
      }
    }, 50);
  }

  cluster.on('exit', (w, code, signal) => {
    if (stopping || !generation.includes(w)) return;
    // A worker of the serving generation died: replace it (the others keep serving meanwhile).
    log(`worker ${w.process.pid} died (${signal ?? code}); starting a new generation`);
    generation = generation.filter((x) => x !== w);
    void reload();
  });
  process.on('SIGHUP', () => void reload());
  process.on('SIGUSR2', () => void reload());
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const first = await startGeneration();
  generation = first.workers;
  served = first.version;
  writeFileSync(servedFile, `${served}\n`);
  writeFileSync(pidFile, `${process.pid}\n`);
  log(`serving ${served} on http://${host}:${port} with ${workers} worker(s)`);
}

function worker() {
  const release = process.env.SHOP_RELEASE || dirname(fileURLToPath(import.meta.url));
  const version = existsSync(join(release, 'VERSION'))
    ? readFileSync(join(release, 'VERSION'), 'utf8').trim()
    : 'unknown';
  const brokenRevenue = existsSync(join(release, 'BROKEN_REVENUE'));
  const price = brokenRevenue ? PRICE / 10 : PRICE;
  let draining = false;
  let nextId = 0;
  const waiting = new Map();
  const active = new Set(); // sockets with a request in progress
  const sockets = new Set();

  process.on('message', (msg) => {
    if (msg?.cmd === 'metrics') {
      waiting.get(msg.id)?.(msg.text);
      waiting.delete(msg.id);
    } else if (msg?.cmd === 'drain') startDrain();
  });
  const hit = (path, code, extra = {}) => process.send?.({ cmd: 'hit', path, code, ...extra });

  const server = createServer((req, res) => {
    active.add(req.socket);
    res.once('finish', () => active.delete(req.socket));
    res.setHeader('x-shop-version', version);
    // Draining: this answer is the connection's last, the client reconnects to a new worker.
    if (draining) res.setHeader('connection', 'close');
    const url = new URL(req.url ?? '/', 'http://shop');
    const send = (code, type, body, extra) => {
      res.writeHead(code, { 'content-type': type }).end(body);
      hit(
        url.pathname === '/buy' || url.pathname === '/health' || url.pathname === '/metrics' || url.pathname === '/'
          ? url.pathname
          : 'other',
        code,
        extra,
      );
    };
    switch (url.pathname) {
      case '/':
        return send(200, 'text/html', `<h1>shop ${version}</h1><p>served by worker ${process.pid}</p>\n`);
      case '/health':
        return send(200, 'application/json', `${JSON.stringify({ status: 'ok', version, pid: process.pid })}\n`);
      case '/buy': {
        const user = url.searchParams.get('user') || req.socket.remoteAddress || 'anonymous';
        return send(200, 'application/json', `${JSON.stringify({ ok: true, version, amount: price })}\n`, {
          revenue: price,
          user,
        });
      }
      case '/metrics': {
        const id = ++nextId;
        const timer = setTimeout(() => {
          waiting.delete(id);
          send(503, 'text/plain', 'metrics unavailable\n');
        }, 2000);
        waiting.set(id, (text) => {
          clearTimeout(timer);
          send(200, 'text/plain; version=0.0.4', text);
        });
        process.send?.({ cmd: 'metrics', id });
        return undefined;
      }
      default:
        return send(404, 'text/plain', 'not found\n');
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  function startDrain() {
    if (draining) return;
    draining = true;
    // net.Server's close, not http.Server's: the latter also closes idle kept-alive connections at once,
    // which races with a client sending its next request on them. Here each connection ends after its
    // next answer (Connection: close); only connections idle for a long time are closed.
    NetServer.prototype.close.call(server, () => process.exit(0));
    const idleSince = new Map();
    setInterval(() => {
      const now = Date.now();
      for (const s of sockets) {
        if (active.has(s)) idleSince.delete(s);
        else if (!idleSince.has(s)) idleSince.set(s, now);
        else if (now - idleSince.get(s) > 5000) s.destroy();
      }
    }, 250).unref();
  }
  process.on('SIGTERM', () => process.exit(0));
  server.listen(Number(process.env.SHOP_PORT), process.env.SHOP_HOST);
}

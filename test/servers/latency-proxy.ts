// A userspace network delay for the benchmarks (this kernel has no netem): one TCP proxy on 127.0.0.1 per
// target, forwarding every chunk `oneWayMs` after it arrived, in each direction, so a round trip costs
// 2 × oneWayMs. Order is kept, TCP_NODELAY is on both sides, half-close and close are passed on (after the
// same delay, behind the data). A new connection also costs one round trip before its first byte, as the
// TCP handshake does: the proxy dials the target 1.5 RTT after the client connected (SYN there, SYN-ACK
// back, ACK and first data there), so the server speaks at the moment it would on a real link.
// It models propagation delay only: no bandwidth limit, loss or congestion window.
//
//   const p = await startLatencyProxies([{ host: '127.0.0.1', port: 2222 }], 40); // RTT 80 ms
//   p.ports[0]   // connect here instead
//   await p.setDelay(10); await p.close();
//
// spawnLatencyProxies() runs the same proxies in a child process, so a benchmark that runs a client in
// its own process does not share its event loop with the proxy.
// Alone (`npx tsx test/servers/latency-proxy.ts [oneWayMs…]`) it checks itself: echo round trips through it.
import { fork } from 'node:child_process';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Target {
  host: string;
  port: number;
}

export interface LatencyProxies {
  /** Proxy port per target, in the targets' order (all on 127.0.0.1). */
  ports: number[];
  /** Changes the one-way delay for what arrives from now on (what is in flight keeps its order). */
  setDelay(oneWayMs: number): Promise<void>;
  close(): Promise<void>;
}

type Item = { due: number; chunk: Buffer } | { due: number; end: 'end' | 'close' };

/** One direction of one connection: items leave `delay()` ms after they arrived, in arrival order. */
class DelayedPipe {
  private queue: Item[] = [];
  private lastDue = 0;
  private timer?: NodeJS.Timeout;
  private immediate?: NodeJS.Immediate;
  private paused = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly delay: () => number,
    /** False until dst is connected: items wait (and pump() is called again on connect). */
    private readonly ready: () => boolean,
  ) {}

  push(item: { chunk: Buffer } | { end: 'end' | 'close' }): void {
    // Never before an earlier item, even after the delay was lowered.
    const due = Math.max(performance.now() + this.delay(), this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, ...item } as Item);
    if (this.queue.length === 1 && !this.timer && !this.immediate) this.pump();
  }

  pump = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (!this.ready()) return;
    const now = performance.now();
    // Node's timers start from the loop's cached clock and may fire early: check against the real clock.
    if (this.queue.length && this.queue[0].due <= now) {
      this.dst.cork();
      while (this.queue.length && this.queue[0].due <= now) this.deliver(this.queue.shift()!);
      process.nextTick(() => this.dst.uncork());
    }
    if (!this.queue.length) return;
    // Timers have 1 ms steps and fire up to 1 ms late: wait the whole milliseconds, then the rest in loop turns.
    const rest = this.queue[0].due - now;
    if (rest >= 1) this.timer = setTimeout(this.pump, Math.floor(rest));
    else this.immediate = setImmediate(this.pump);
  };

  private deliver(item: Item): void {
    const dst = this.dst;
    if (dst.destroyed) return;
    if ('chunk' in item) {
      if (!dst.writable) return;
      // Backpressure: stop reading the source until the destination drains.
      if (!dst.write(item.chunk) && !this.paused) {
        this.paused = true;
        this.src.pause();
        dst.once('drain', () => {
          this.paused = false;
          this.src.resume();
        });
      }
    } else if (item.end === 'end') {
      if (dst.writable) dst.end();
    } else {
      dst.destroySoon();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.queue = [];
  }
}

/** Starts one delaying proxy per target; see the top of the file. */
export async function startLatencyProxies(targets: Target[], oneWayMs: number): Promise<LatencyProxies> {
  let delay = oneWayMs;
  const sockets = new Set<Socket>();
  const pipes = new Set<DelayedPipe>();
  const servers: Server[] = [];

  const handle = (target: Target, client: Socket) => {
    client.setNoDelay(true);
    const upstream = new Socket({ allowHalfOpen: true });
    sockets.add(client).add(upstream);
    let connected = false;
    const up = new DelayedPipe(
      client,
      upstream,
      () => delay,
      () => connected,
    );
    const down = new DelayedPipe(
      upstream,
      client,
      () => delay,
      () => true,
    );
    pipes.add(up).add(down);
    const wire = (s: Socket, pipe: DelayedPipe) => {
      s.on('data', (chunk: Buffer) => pipe.push({ chunk }));
      s.on('end', () => pipe.push({ end: 'end' }));
      s.on('error', () => {}); // 'close' follows, and is passed on
      s.on('close', () => {
        sockets.delete(s);
        pipe.push({ end: 'close' });
        if (!sockets.has(client) && !sockets.has(upstream)) {
          // Both gone: nothing left to deliver.
          up.stop();
          down.stop();
          pipes.delete(up);
          pipes.delete(down);
        }
      });
    };
    wire(client, up);
    wire(upstream, down);
    const dial = () => {
      if (client.destroyed) return upstream.destroy();
      upstream.connect({ host: target.host, port: target.port }, () => {
        // Explicitly: connect()'s noDelay option is not applied to a `new Socket()` here, and sshd's replies
        // then wait for delayed ACKs (40 ms each).
        upstream.setNoDelay(true);
        connected = true;
        up.pump();
      });
    };
    // The TCP handshake's round trip, and the client's first bytes' way there: 1.5 RTT.
    if (delay > 0) setTimeout(dial, 3 * delay);
    else dial();
  };

  try {
    for (const t of targets) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (c) => handle(t, c));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
  return {
    ports: servers.map((s) => (s.address() as AddressInfo).port),
    async setDelay(ms: number) {
      delay = ms;
    },
    async close() {
      for (const p of pipes) p.stop();
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The same proxies in a child process (this file, forked with the parent's tsx loader), driven over IPC.

type Request =
  { op: 'start'; targets: Target[]; oneWayMs: number } | { op: 'delay'; oneWayMs: number } | { op: 'close' };
type Reply = { ok: true; ports?: number[] } | { ok: false; error: string };

export async function spawnLatencyProxies(targets: Target[], oneWayMs: number): Promise<LatencyProxies> {
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let exited = false;
  child.once('exit', () => (exited = true));
  // One request at a time: replies come back in order.
  const ask = (req: Request) =>
    new Promise<Reply>((resolve, reject) => {
      if (exited) return reject(new Error('latency proxy process has exited'));
      const onExit = (code: number | null) => reject(new Error(`latency proxy process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: Reply) => {
        child.off('exit', onExit);
        if (m.ok) resolve(m);
        else reject(new Error(`latency proxy: ${m.error}`));
      });
      child.send(req);
    });
  const started = await ask({ op: 'start', targets, oneWayMs }).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  return {
    ports: started.ok ? started.ports! : [],
    async setDelay(ms: number) {
      await ask({ op: 'delay', oneWayMs: ms });
    },
    async close() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      await ask({ op: 'close' }).catch(() => undefined);
      await gone;
    },
  };
}

function serve(): void {
  let proxies: LatencyProxies | undefined;
  const reply = (r: Reply) => process.send!(r);
  process.on('message', (req: Request) => {
    void (async () => {
      try {
        if (req.op === 'start') {
          proxies = await startLatencyProxies(req.targets, req.oneWayMs);
          reply({ ok: true, ports: proxies.ports });
        } else if (req.op === 'delay') {
          await proxies!.setDelay(req.oneWayMs);
          reply({ ok: true });
        } else {
          await proxies?.close();
          reply({ ok: true });
          process.disconnect();
          process.exit(0);
        }
      } catch (e) {
        reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  // The parent died: do not linger.
  process.on('disconnect', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// Self-check: an echo server behind the proxy.

export interface ProxyCheck {
  oneWayMs: number;
  /** Connect plus the first echo (≈ 2 RTT: the handshake's and the echo's). */
  firstMs: number;
  /** Median echo round trip on the open connection (≈ RTT). */
  echoMs: number;
}

/** Starts a TCP echo server on 127.0.0.1 (to put behind a proxy). */
export async function startEchoServer(): Promise<{ target: Target; close(): Promise<void> }> {
  const conns = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Times a connect plus first echo, then `rounds` echo round trips, through port (a proxy to an echo server). */
export async function measureEcho(port: number, oneWayMs: number, rounds = 5): Promise<ProxyCheck> {
  const t0 = performance.now();
  const sock = new Socket({ allowHalfOpen: true });
  sock.setNoDelay(true);
  let waiting: (() => void) | undefined;
  let got = 0;
  sock.on('data', (b: Buffer) => {
    got -= b.length;
    if (got <= 0 && waiting) {
      const w = waiting;
      waiting = undefined;
      w();
    }
  });
  const echo = (payload: Buffer) =>
    new Promise<void>((resolve, reject) => {
      got = payload.length;
      waiting = resolve;
      sock.once('error', reject);
      sock.write(payload);
    });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.connect(port, '127.0.0.1', () => resolve());
  });
  await echo(Buffer.from('x'));
  const firstMs = performance.now() - t0;
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const s = performance.now();
    await echo(Buffer.from(`ping ${i}\n`));
    times.push(performance.now() - s);
  }
  // The close travels too: end, then wait for the echo server's end to come back.
  await new Promise<void>((resolve) => {
    sock.once('close', () => resolve());
    sock.end();
  });
  times.sort((a, b) => a - b);
  return { oneWayMs, firstMs, echoMs: times[Math.floor(times.length / 2)] };
}

if (process.argv[2] === 'serve' && process.send) {
  serve();
} else if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const delays = process.argv.slice(2).map(Number);
  const echoServer = await startEchoServer();
  const proxies = await spawnLatencyProxies([echoServer.target], 0);
  try {
    for (const d of delays.length ? delays : [0, 10, 40, 100]) {
      await proxies.setDelay(d);
      const c = await measureEcho(proxies.ports[0], d);
      console.log(
        `one-way ${d} ms (RTT ${2 * d} ms): echo round trip ${c.echoMs.toFixed(1)} ms, ` +
          `connect + first echo ${c.firstMs.toFixed(1)} ms (expected ≈ ${4 * d} ms)`,
      );
    }
  } finally {
    await proxies.close();
    await echoServer.close();
  }
}

// nginx: rewrite the `server` lines of lb-upstream-file (weight=, down), check with `nginx -t`, reload.
// nginx has no per-server drain: a host goes out of rotation with `down` and a reload, and its in-flight
// requests finish in the old worker processes, which exit when done; draining waits for them.
import { Semaphore, sleep as realSleep } from '../common/concurrency.js';
import { quote } from '../common/shell.js';
import {
  LoadBalancerError,
  currentSplit,
  waitDrained,
  canaryWeights,
  checkName,
  computeSplit,
  countInRotation,
  matchServers,
  perHost,
  type LbExec,
  type LbServer,
  type LoadBalancer,
  type RequestCounts,
  type TrafficSplit,
} from './types.js';

const FILE_PATH = /^\/[A-Za-z0-9_./-]{1,255}$/;

export function checkUpstreamFile(path: string): string {
  if (!FILE_PATH.test(path)) throw new LoadBalancerError(`lb-upstream-file '${path}' must be an absolute path of letters, digits and _ . / -`);
  return path;
}

const SERVER_LINE = /^(\s*)server\s+([^\s;]+)([^;]*);(.*)$/;

/** The `upstream <name> { … }` block's line range, or the whole file when it holds no upstream block. */
function upstreamRange(lines: string[], upstream: string): [number, number] {
  const anyBlock = lines.some((l) => /^\s*upstream\s+\S+\s*\{/.test(l));
  if (!anyBlock) return [0, lines.length];
  const start = lines.findIndex((l) => new RegExp(`^\\s*upstream\\s+${upstream.replace(/[.]/g, '\\.')}\\s*\\{`).test(l));
  if (start < 0) throw new LoadBalancerError(`the upstream file has no 'upstream ${upstream} {' block`);
  let depth = 0;
  for (let i = start; i < lines.length; i++) {
    depth += (lines[i].match(/\{/g) ?? []).length - (lines[i].match(/\}/g) ?? []).length;
    if (depth <= 0 && i > start) return [start, i];
  }
  return [start, lines.length];
}

function splitAddress(address: string): { address: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address);
  if (!m) return { address, port: 0 };
  return { address: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 80 };
}

/** The upstream's servers: name = the address as written (`10.0.0.1:8080`), weight (default 1), `down`. */
export function parseUpstream(text: string, upstream: string): LbServer[] {
  const lines = text.split('\n');
  const [from, to] = upstreamRange(lines, upstream);
  const out: LbServer[] = [];
  for (let i = from; i < to; i++) {
    const m = SERVER_LINE.exec(lines[i].replace(/#.*$/, ''));
    if (!m) continue;
    const params = m[3].trim().split(/\s+/).filter(Boolean);
    const weight = params.find((p) => p.startsWith('weight='));
    out.push({
      name: m[2],
      ...splitAddress(m[2]),
      weight: weight ? Number(weight.slice(7)) : 1,
      state: params.includes('down') ? 'maint' : 'ready',
    });
  }
  return out;
}

export interface ServerSetting {
  weight: number;
  down: boolean;
}

/**
 * The file with the named servers' `weight=` and `down` set as given; every other parameter, line and
 * comment stays as it was. `weight=1` is written as no weight (nginx's default).
 */
export function rewriteUpstream(text: string, upstream: string, settings: Map<string, ServerSetting>): string {
  const lines = text.split('\n');
  const [from, to] = upstreamRange(lines, upstream);
  for (let i = from; i < to; i++) {
    const comment = /#.*$/.exec(lines[i])?.[0] ?? '';
    const m = SERVER_LINE.exec(lines[i].replace(/#.*$/, ''));
    if (!m) continue;
    const want = settings.get(m[2]);
    if (!want) continue;
    if (!Number.isInteger(want.weight) || want.weight < 1) throw new LoadBalancerError(`nginx weight must be a positive integer, got ${want.weight}`);
    const params = m[3].trim().split(/\s+/).filter((p) => p && !p.startsWith('weight=') && p !== 'down');
    const words = [`server ${m[2]}`, ...(want.weight !== 1 ? [`weight=${want.weight}`] : []), ...params, ...(want.down ? ['down'] : [])];
    lines[i] = `${m[1]}${words.join(' ')};${m[4].replace(/#.*$/, '')}${comment}`;
  }
  return lines.join('\n');
}

/**
 * Finds the nginx master whose configuration (as `nginx -T` lists it) includes the upstream file and
 * prints `<pid> <config>`; nginx started without `-c` uses /etc/nginx/nginx.conf.
 */
export function findMasterCommand(file: string): string {
  const f = quote(checkUpstreamFile(file));
  return [
    // A login shell of a non-root user may not have /usr/sbin on its PATH.
    'PATH="$PATH:/usr/sbin:/sbin"',
    'ps -eo pid=,args= | while read -r pid args; do',
    '  case "$args" in "nginx: master process"*) ;; *) continue ;; esac',
    "  conf=$(printf '%s\\n' \"$args\" | sed -n 's/.* -c \\([^ ]*\\).*/\\1/p')",
    '  [ -n "$conf" ] || conf=/etc/nginx/nginx.conf',
    `  if nginx -T -c "$conf" 2>/dev/null | grep -qxF "# configuration file "${f}":"; then echo "$pid $conf"; fi`,
    'done',
  ].join('\n');
}

/**
 * Writes the new file (base64 in the command: no stdin needed), checks the whole configuration with
 * `nginx -t` and reloads; when the check fails the previous file is put back and the command fails.
 */
export function applyCommand(file: string, conf: string, content: string): string {
  const f = quote(checkUpstreamFile(file));
  const c = quote(checkUpstreamFile(conf));
  const b64 = Buffer.from(content, 'utf8').toString('base64');
  return [
    'set -e',
    'PATH="$PATH:/usr/sbin:/sbin"',
    `f=${f}`,
    'cp -p "$f" "$f.fivestep-prev"',
    `printf '%s' '${b64}' | base64 -d > "$f"`,
    `if ! nginx -t -q -c ${c} 2>"$f.fivestep-err"; then cat "$f.fivestep-prev" > "$f"; rm -f "$f.fivestep-prev"; cat "$f.fivestep-err" >&2; rm -f "$f.fivestep-err"; exit 1; fi`,
    'rm -f "$f.fivestep-prev" "$f.fivestep-err"',
    `nginx -q -c ${c} -s reload`,
  ].join('\n');
}

/** The pids of the worker processes of master `pid`, one a line. */
export function workersCommand(pid: number): string {
  if (!Number.isInteger(pid) || pid < 1) throw new LoadBalancerError(`bad nginx pid ${pid}`);
  return `ps -eo pid=,ppid= | awk '$2 == ${pid} { print $1 }'`;
}

export interface NginxOptions {
  upstream: string;
  file: string;
  exec: LbExec;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  pollMs?: number;
}

export function createNginx(opts: NginxOptions): LoadBalancer {
  const { upstream, file, exec } = opts;
  checkName('lb-backend', upstream);
  checkUpstreamFile(file);
  const clock = { now: opts.now ?? Date.now, sleep: opts.sleep ?? realSleep, pollMs: opts.pollMs ?? 100 };
  // One change at a time (nginx rewrites one file; haproxy's state is tracked in memory).
  const mutex = new Semaphore(1);
  let originalText = '';
  let master = { pid: 0, conf: '' };
  let byHost = new Map<string, LbServer>();
  const original = new Map<string, LbServer>();
  const current = new Map<string, LbServer>();
  let canary: Map<string, number> | null = null;

  const run = async (command: string, what: string): Promise<string> => {
    const r = await exec(command);
    if (r.code !== 0) throw new LoadBalancerError(`nginx ${what} failed: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`);
    return r.stdout;
  };
  const serverOf = (host: string): LbServer => {
    const s = byHost.get(host);
    if (!s) throw new LoadBalancerError(`${host} is not matched to a server of upstream '${upstream}'`);
    return s;
  };
  /** Writes `current` into the file (every other byte as captured), checks and reloads. */
  const write = async (text?: string) => {
    const settings = new Map([...current].map(([name, s]) => [name, { weight: Math.max(1, s.weight), down: s.state !== 'ready' }]));
    await run(applyCommand(file, master.conf, text ?? rewriteUpstream(originalText, upstream, settings)), `reload with ${file}`);
  };
  const weightNow = (s: LbServer) => canary?.get(s.name) ?? original.get(s.name)!.weight;
  const workers = async () => (await run(workersCommand(master.pid), 'worker list')).split('\n').map((l) => l.trim()).filter(Boolean);

  return {
    kind: 'nginx',
    async inspect(hosts, named) {
      originalText = await run(`cat ${quote(file)}`, `read of ${file}`);
      const servers = parseUpstream(originalText, upstream);
      if (servers.length === 0) throw new LoadBalancerError(`upstream '${upstream}' in ${file} has no server lines`);
      byHost = matchServers(hosts, servers, upstream, named);
      const found = (await run(findMasterCommand(file), 'master lookup')).trim().split('\n').filter(Boolean);
      if (found.length !== 1) throw new LoadBalancerError(`expected one running nginx master whose configuration includes ${file}, found ${found.length}`);
      const [pid, conf] = found[0].split(' ');
      master = { pid: Number(pid), conf };
      for (const s of servers) {
        original.set(s.name, { ...s });
        current.set(s.name, { ...s });
      }
    },
    serverOf: (host) => ({ ...serverOf(host) }),
    inRotation: (hosts = []) => countInRotation(current.values(), new Set(hosts.map((h) => serverOf(h).name))),
    drain: (host, timeoutMs) =>
      mutex
        .run(async () => {
          // The reload is asynchronous: drained means every worker that ran before it has exited
          // (old workers finish their in-flight requests first).
          const before = await workers();
          current.get(serverOf(host).name)!.state = 'drain';
          await write();
          return before;
        })
        .then((before) =>
          waitDrained(
            async () => {
              const alive = new Set(await workers());
              return before.filter((p) => alive.has(p)).length;
            },
            timeoutMs,
            clock,
          ),
        ),
    enable: (host) =>
      mutex.run(async () => {
        const s = serverOf(host);
        Object.assign(current.get(s.name)!, { state: 'ready', weight: weightNow(s) });
        await write();
      }),
    setCanary: (hosts, share) =>
      mutex.run(async () => {
        const names = new Set(hosts.map((h) => serverOf(h).name));
        const matched = [...byHost.values()].map((s) => original.get(s.name)!);
        canary = canaryWeights(matched, names, share, 1000);
        for (const [name, w] of canary) current.get(name)!.weight = Math.max(1, w);
        await write();
        return computeSplit(`canary ${Math.round(share * 1000) / 10}%`, byHost, (s) => current.get(s.name)!.weight);
      }),
    endCanary: () =>
      mutex.run(async () => {
        if (!canary) return;
        for (const name of canary.keys()) current.get(name)!.weight = original.get(name)!.weight;
        canary = null;
        await write();
      }),
    restore: (keepOut = []) =>
      mutex.run(async () => {
        canary = null;
        for (const [name, s] of original) Object.assign(current.get(name)!, s);
        // Byte for byte as captured, unless a host stays out of rotation.
        if (keepOut.length === 0) return write(originalText);
        for (const h of keepOut) current.get(serverOf(h).name)!.state = 'maint';
        await write();
      }),
    settle: (ready, out) =>
      mutex.run(async () => {
        for (const h of ready) Object.assign(current.get(serverOf(h).name)!, { state: 'ready', weight: 1 });
        for (const h of out) current.get(serverOf(h).name)!.state = 'maint';
        await write();
      }),
    split: (label: string, out: string[] = []): TrafficSplit => currentSplit(label, byHost, current, out),
    // nginx OSS exposes no per-server request counters (stub_status is server-wide; the per-upstream
    // API is NGINX Plus only), so this is the configuration as written by us: weights, not traffic.
    requestCounts: async (): Promise<RequestCounts> => ({
      measured: false,
      byHost: perHost(byHost, (s) => {
        const now = current.get(s.name)!;
        return now.state === 'ready' ? now.weight : 0;
      }),
    }),
  };
}

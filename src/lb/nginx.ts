// nginx: rewrite the `server` lines of lb-upstream-file (weight=, down), check with `nginx -t`, reload.
// nginx has no per-server drain: a host goes out of rotation with `down` and a reload, and its in-flight
// requests finish in the old worker processes, which exit when done; draining waits for them.
import { sleep } from '../common/concurrency.js';
import { quote } from '../common/shell.js';
import {
  LoadBalancerError,
  checkName,
  perHost,
  type LbExec,
  type LbServer,
  type LoadBalancer,
  type RequestCounts,
} from './types.js';
import { createTrackedBalancer, type BalancerClock } from './weights.js';

const FILE_PATH = /^\/[A-Za-z0-9_./-]{1,255}$/;

export function checkUpstreamFile(path: string): string {
  if (!FILE_PATH.test(path))
    throw new LoadBalancerError(`lb-upstream-file '${path}' must be an absolute path of letters, digits and _ . / -`);
  return path;
}

const SERVER_LINE = /^(\s*)server\s+([^\s;]+)([^;]*);(.*)$/;

/** The `upstream <name> { … }` block's line range, or the whole file when it holds no upstream block. */
function upstreamRange(lines: string[], upstream: string): [number, number] {
  const anyBlock = lines.some((l) => /^\s*upstream\s+\S+\s*\{/.test(l));
  if (!anyBlock) return [0, lines.length];
  const start = lines.findIndex((l) =>
    new RegExp(`^\\s*upstream\\s+${upstream.replace(/[.]/g, '\\.')}\\s*\\{`).test(l),
  );
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
    if (!Number.isInteger(want.weight) || want.weight < 1)
      throw new LoadBalancerError(`nginx weight must be a positive integer, got ${want.weight}`);
    const params = m[3]
      .trim()
      .split(/\s+/)
      .filter((p) => p && !p.startsWith('weight=') && p !== 'down');
    const words = [
      `server ${m[2]}`,
      ...(want.weight !== 1 ? [`weight=${want.weight}`] : []),
      ...params,
      ...(want.down ? ['down'] : []),
    ];
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
    `if ! nginx -t -q -c ${c} 2>"$f.fivestep-err"; then cat "$f.fivestep-prev" > "$f"; rm -f "$f.fivestep-prev"; ` +
      `cat "$f.fivestep-err" >&2; rm -f "$f.fivestep-err"; exit 1; fi`,
    'rm -f "$f.fivestep-prev" "$f.fivestep-err"',
    `nginx -q -c ${c} -s reload`,
  ].join('\n');
}

/** The worker processes of master `pid`, one a line: its pid, then its title. */
export function workersCommand(pid: number): string {
  if (!Number.isInteger(pid) || pid < 1) throw new LoadBalancerError(`bad nginx pid ${pid}`);
  return `ps -eo pid=,ppid=,args= | awk '$2 == ${pid} { $2 = ""; print }'`;
}

/** A worker of the master; `retiring`: told to quit by a reload (it finishes what it has in flight). */
export interface NginxWorker {
  pid: number;
  retiring: boolean;
}

/** workersCommand's answer: nginx titles an old worker "nginx: worker process is shutting down". */
export function parseWorkers(stdout: string): NginxWorker[] {
  const workers: NginxWorker[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m) workers.push({ pid: Number(m[1]), retiring: /is shutting down/.test(m[2]) });
  }
  return workers;
}

/** How long nginx's master may take to act on a reload signal before the change counts as failed. */
export const RELOAD_APPLIED_MS = 10_000;

/** nginx has no weight 0 and no drain: a server out of rotation is `down`. */
function serverSetting(s: LbServer): ServerSetting {
  return { weight: Math.max(1, s.weight), down: s.state !== 'ready' };
}

/**
 * The upstream file that gives every server its setting in `next`: the file as captured, byte for byte,
 * when each server's setting is as captured; else rewritten from it (rewriteUpstream).
 */
export function upstreamFor(
  captured: string,
  upstream: string,
  capturedServers: LbServer[],
  next: ReadonlyMap<string, LbServer>,
): string {
  const same = (a: ServerSetting, b: ServerSetting) => a.weight === b.weight && a.down === b.down;
  if (capturedServers.every((s) => same(serverSetting(s), serverSetting(next.get(s.name)!)))) return captured;
  return rewriteUpstream(captured, upstream, new Map([...next].map(([name, s]) => [name, serverSetting(s)])));
}

export interface NginxOptions extends BalancerClock {
  upstream: string;
  file: string;
  exec: LbExec;
}

/** Runs an nginx command on the balancer host; a failure names what it was for. */
async function runNginx(exec: LbExec, command: string, what: string): Promise<string> {
  const r = await exec(command);
  if (r.code !== 0)
    throw new LoadBalancerError(`nginx ${what} failed: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** The one running nginx master whose configuration includes `file`: its pid and configuration path. */
async function findMaster(exec: LbExec, file: string): Promise<{ pid: number; conf: string }> {
  const found = (await runNginx(exec, findMasterCommand(file), 'master lookup')).trim().split('\n').filter(Boolean);
  if (found.length !== 1) {
    const why = `expected one running nginx master whose configuration includes ${file}, found ${found.length}`;
    throw new LoadBalancerError(why);
  }
  const [pid, conf] = found[0].split(' ');
  return { pid: Number(pid), conf };
}

// nginx OSS exposes no per-server request counters (stub_status is server-wide; the per-upstream
// API is NGINX Plus only), so this is the configuration as written by us: weights, not traffic.
const configuredCounts = async (
  byHost: ReadonlyMap<string, LbServer>,
  current: ReadonlyMap<string, LbServer>,
): Promise<RequestCounts> => ({
  measured: false,
  byHost: perHost(byHost, (s) => (current.get(s.name)!.state === 'ready' ? current.get(s.name)!.weight : 0)),
});

export function createNginx(opts: NginxOptions): LoadBalancer {
  const { upstream, file, exec } = opts;
  checkName('lb-backend', upstream);
  checkUpstreamFile(file);
  let originalText = '';
  let originalServers: LbServer[] = [];
  let master = { pid: 0, conf: '' };
  const run = (command: string, what: string) => runNginx(exec, command, what);
  const workers = async () => parseWorkers(await run(workersCommand(master.pid), 'worker list'));
  const clock = { now: opts.now ?? Date.now, sleep: opts.sleep ?? sleep, pollMs: opts.pollMs ?? 50 };
  /**
   * `nginx -s reload` only signals the master, which acts on it later. Until it has, the workers serve the
   * old configuration, and a drain that snapshotted them before would miss the ones a reload still pending
   * starts: so a change is done only once every worker that served before it is retiring or gone.
   */
  const applied = async (serving: number[]) => {
    const deadline = clock.now() + RELOAD_APPLIED_MS;
    for (;;) {
      const live = new Set((await workers()).filter((w) => !w.retiring).map((w) => w.pid));
      if (!serving.some((pid) => live.has(pid))) return;
      if (clock.now() >= deadline) {
        const within = `within ${RELOAD_APPLIED_MS / 1000}s`;
        throw new LoadBalancerError(
          `nginx did not act on the reload ${within}: its workers serve the old configuration`,
        );
      }
      await clock.sleep(clock.pollMs);
    }
  };

  return createTrackedBalancer(
    {
      kind: 'nginx',
      backend: upstream,
      backendLabel: `upstream '${upstream}'`,
      // Any positive weight goes; 1000 keeps a small canary share close to the one asked for.
      maxWeight: 1000,
      async readServers() {
        originalText = await run(`cat ${quote(file)}`, `read of ${file}`);
        originalServers = parseUpstream(originalText, upstream);
        if (originalServers.length === 0) {
          throw new LoadBalancerError(`upstream '${upstream}' in ${file} has no server lines`);
        }
        return originalServers;
      },
      async afterMatch() {
        master = await findMaster(exec, file);
      },
      async apply(_changes, next) {
        const text = upstreamFor(originalText, upstream, originalServers, next);
        const serving = (await workers()).filter((w) => !w.retiring).map((w) => w.pid);
        await run(applyCommand(file, master.conf, text), `reload with ${file}`);
        await applied(serving);
      },
      // Drained means every worker that ran before the reload has exited (old workers finish their
      // in-flight requests first); apply() waits until the master acted on it, so none is missed.
      async inFlight() {
        const before = (await workers()).map((w) => w.pid);
        return async () => {
          const alive = new Set((await workers()).map((w) => w.pid));
          return before.filter((p) => alive.has(p)).length;
        };
      },
      requestCounts: configuredCounts,
    },
    opts,
  );
}

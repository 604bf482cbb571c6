// haproxy through its runtime API (the admin socket on lb-host, reached over SSH with socat or nc -U).
// Pure builders and parsers first (exact-string tested), then the provider.
import { quote } from '../common/shell.js';
import {
  LoadBalancerError,
  checkName,
  perHost,
  type LbExec,
  type LbServer,
  type LoadBalancer,
  type RequestCounts,
  type ServerState,
} from './types.js';
import { createTrackedBalancer, type BalancerClock } from './weights.js';

/** A socket path socat's address syntax and the shell both take literally. */
const SOCKET_PATH = /^\/[A-Za-z0-9_./-]{1,255}$/;

export function checkSocket(path: string): string {
  if (!SOCKET_PATH.test(path))
    throw new LoadBalancerError(`lb-socket '${path}' must be an absolute path of letters, digits and _ . / -`);
  return path;
}

/** `set server <backend>/<server> state ready|drain|maint`. */
export function setStateLine(backend: string, server: string, state: ServerState): string {
  return `set server ${checkName('backend', backend)}/${checkName('server', server)} state ${state}`;
}

/** `set server <backend>/<server> weight <0-256>`. */
export function setWeightLine(backend: string, server: string, weight: number): string {
  if (!Number.isInteger(weight) || weight < 0 || weight > 256)
    throw new LoadBalancerError(`haproxy weight must be an integer 0-256, got ${weight}`);
  return `set server ${checkName('backend', backend)}/${checkName('server', server)} weight ${weight}`;
}

export function showServersStateLine(backend: string): string {
  return `show servers state ${checkName('backend', backend)}`;
}

/** `show stat <backend> 4 -1`: the backend's servers only (type 4), for their current sessions. */
export function showStatLine(backend: string): string {
  return `show stat ${checkName('backend', backend)} 4 -1`;
}

/**
 * One runtime-API request: the lines joined by `;` (haproxy's CLI separator), sent through socat, or
 * `nc -U` where socat is missing.
 */
export function runtimeCommand(socket: string, lines: string[]): string {
  for (const l of lines)
    if (/[;\n\r'\\]/.test(l)) throw new LoadBalancerError(`runtime API line '${l}' holds a separator or quote`);
  const request = quote(lines.join('; '));
  const sock = quote(checkSocket(socket));
  return [
    'if command -v socat >/dev/null 2>&1; then',
    `  printf '%s\\n' ${request} | socat -t 10 stdio UNIX-CONNECT:${sock}`,
    'elif command -v nc >/dev/null 2>&1; then',
    `  printf '%s\\n' ${request} | nc -U ${sock}`,
    'else',
    "  echo 'fivestep: neither socat nor nc is installed on the balancer host' >&2; exit 127",
    'fi',
  ].join('\n');
}

// srv_admin_state bits (haproxy include/haproxy/server-t.h): FMAINT 0x01, IMAINT 0x02, CMAINT 0x04,
// FDRAIN 0x08, IDRAIN 0x10, RMAINT 0x20, HMAINT 0x40.
const MAINT_BITS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const DRAIN_BITS = 0x08 | 0x10;

/** Parses `show servers state <backend>` (version line, `# be_id be_name …` header, one line a server). */
export function parseServersState(text: string, backend: string): LbServer[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) {
    const message = lines.join(' ') || 'no output';
    throw new LoadBalancerError(`haproxy has no backend '${backend}' (or the socket refused the request): ${message}`);
  }
  const cols = header.slice(2).split(/\s+/);
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new LoadBalancerError(`unexpected 'show servers state' header: no ${name}`);
    return i;
  };
  const [be, name, addr, admin, uweight, iweight, port] = [
    'be_name',
    'srv_name',
    'srv_addr',
    'srv_admin_state',
    'srv_uweight',
    'srv_iweight',
    'srv_port',
  ].map(at);
  const out: LbServer[] = [];
  for (const l of lines) {
    if (l.startsWith('#') || /^\d+$/.test(l)) continue;
    const f = l.split(/\s+/);
    if (f[be] !== backend) continue;
    const a = Number(f[admin]);
    out.push({
      name: f[name],
      address: f[addr],
      port: Number(f[port]),
      weight: Number(f[uweight]),
      state: a & MAINT_BITS ? 'maint' : a & DRAIN_BITS ? 'drain' : 'ready',
      configWeight: Number(f[iweight]),
    });
  }
  return out;
}

/** The server rows of `show stat` CSV for `backend` as column → value (BACKEND/FRONTEND summary rows left out). */
function statServers(csv: string, backend: string): Map<string, Record<string, string>> {
  const lines = csv.split('\n').filter((l) => l.trim());
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) throw new LoadBalancerError(`unexpected 'show stat' output: ${csv.slice(0, 200)}`);
  const cols = header.slice(2).split(',');
  const out = new Map<string, Record<string, string>>();
  for (const l of lines) {
    if (l.startsWith('#')) continue;
    const f = l.split(',');
    const row = Object.fromEntries(cols.map((c, i) => [c, f[i] ?? '']));
    if (row.pxname !== backend || row.svname === 'BACKEND' || row.svname === 'FRONTEND') continue;
    out.set(row.svname, row);
  }
  return out;
}

/** Current sessions per server from `show stat` CSV (column `scur`). */
export function parseSessions(csv: string, backend: string): Map<string, number> {
  return new Map([...statServers(csv, backend)].map(([name, row]) => [name, Number(row.scur) || 0]));
}

/**
 * HTTP requests sent so far per server, from `show stat` CSV column `req_tot`. Not `stot`: on haproxy
 * 2.6 it counts every connection attempt (a request retried 3 times on a dead server is 4 there and 0 in
 * req_tot), and in `mode tcp` connections, not the requests on them. In `mode tcp` req_tot is empty:
 * haproxy does not see requests there, which is an error rather than a wrong share.
 */
export function parseRequests(csv: string, backend: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, row] of statServers(csv, backend)) {
    const n = row.req_tot ? Number(row.req_tot) : NaN;
    if (!Number.isInteger(n)) {
      throw new LoadBalancerError(
        `haproxy counts no HTTP requests for server ${backend}/${name} (req_tot '${row.req_tot ?? ''}'): ` +
          `the backend must be in mode http`,
      );
    }
    out.set(name, n);
  }
  return out;
}

export interface HaproxyOptions extends BalancerClock {
  backend: string;
  socket: string;
  exec: LbExec;
}

export function createHaproxy(opts: HaproxyOptions): LoadBalancer {
  const { backend, socket, exec } = opts;
  checkName('lb-backend', backend);
  checkSocket(socket);

  const send = async (lines: string[]): Promise<string> => {
    const r = await exec(runtimeCommand(socket, lines));
    if (r.code !== 0)
      throw new LoadBalancerError(
        `haproxy runtime API (${socket}) failed: ${r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`,
      );
    return r.stdout;
  };
  /** Setters print nothing on success; any text is haproxy's error. */
  const apply = async (lines: string[]): Promise<void> => {
    if (lines.length === 0) return;
    const out = (await send(lines)).trim();
    if (out) throw new LoadBalancerError(`haproxy refused '${lines.join('; ')}': ${out.replace(/\s+/g, ' ')}`);
  };

  return createTrackedBalancer(
    {
      kind: 'haproxy',
      backend,
      backendLabel: `'${backend}'`,
      maxWeight: 256,
      async readServers() {
        const servers = parseServersState(await send([showServersStateLine(backend)]), backend);
        if (servers.length === 0) throw new LoadBalancerError(`haproxy backend '${backend}' has no servers`);
        return servers;
      },
      // haproxy's state is in memory: each change is a runtime-API line, weight before state.
      apply: (changes) =>
        apply(
          changes.flatMap((c) => [
            ...(c.weight !== undefined ? [setWeightLine(backend, c.name, c.weight)] : []),
            ...(c.state !== undefined ? [setStateLine(backend, c.name, c.state)] : []),
          ]),
        ),
      inFlight: async (server) => async () => {
        const sessions = parseSessions(await send([showStatLine(backend)]), backend);
        return sessions.get(server.name) ?? 0;
      },
      async requestCounts(byHost): Promise<RequestCounts> {
        const perServer = parseRequests(await send([showStatLine(backend)]), backend);
        const count = (s: LbServer) => {
          const n = perServer.get(s.name);
          // A server removed at runtime since inspect(): its host's count would silently shrink.
          if (n === undefined) {
            throw new LoadBalancerError(`haproxy backend '${backend}' no longer has server ${s.name}`);
          }
          return n;
        };
        return { measured: true, byHost: perHost(byHost, count) };
      },
    },
    opts,
  );
}

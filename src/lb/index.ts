// The balancer in front of the hosts: its inputs, and the provider the `load-balancer` input chooses,
// driven over one SSH session to lb-host (same key and known-hosts as the hosts).
import {
  InputError,
  hostId,
  optional,
  parseBool,
  parseDuration,
  parseHostSpec,
  parseInteger,
  type InputSource,
} from '../common/inputs.js';
import type { Connector, RemoteSession, SshCredentials } from '../ssh/types.js';
import { checkSocket, createHaproxy } from './haproxy.js';
import { checkUpstreamFile, createNginx } from './nginx.js';
import {
  LB_NAME,
  type LoadBalancer,
  type LoadBalancerKind,
  type LoadBalancerSettings,
  type NamedServers,
  type RolloutLbSettings,
} from './types.js';
import { errorMessage } from '../common/errors.js';

export * from './types.js';
export * from './request-series.js';

/** The inputs both actions share; null when `load-balancer` is empty (then the other lb inputs must be too). */
export function readLoadBalancerInputs(source: InputSource): LoadBalancerSettings | null {
  const kind = optional(source, 'load-balancer');
  if (kind === '') {
    for (const name of ['lb-host', 'lb-backend', 'lb-upstream-file', 'lb-servers', 'canary-weight']) {
      if (optional(source, name) !== '') throw new InputError(name, 'is set but load-balancer is empty');
    }
    if (optional(source, 'health-url').includes('{port}')) {
      throw new InputError(
        'health-url',
        "uses {port}, the port of each host's balancer server, but load-balancer is empty: write the app's " +
          'port in the URL',
      );
    }
    return null;
  }
  if (kind !== 'haproxy' && kind !== 'nginx')
    throw new InputError('load-balancer', `must be haproxy or nginx, got '${kind}'`);
  const hostText = optional(source, 'lb-host');
  if (!hostText) throw new InputError('lb-host', 'is required when load-balancer is set');
  const defaults = {
    user: optional(source, 'user', 'deploy'),
    port: parseInteger('port', optional(source, 'port', '22'), { min: 1, max: 65535 }),
  };
  const backend = optional(source, 'lb-backend');
  if (!LB_NAME.test(backend))
    throw new InputError(
      'lb-backend',
      backend ? `'${backend}' is not a backend/upstream name` : 'is required when load-balancer is set',
    );
  const socket = optional(source, 'lb-socket', '/run/haproxy/admin.sock');
  if (kind === 'haproxy') wrap('lb-socket', () => checkSocket(socket));
  const upstreamFile = optional(source, 'lb-upstream-file');
  if (kind === 'nginx') {
    if (!upstreamFile) throw new InputError('lb-upstream-file', 'is required when load-balancer is nginx');
    wrap('lb-upstream-file', () => checkUpstreamFile(upstreamFile));
  }
  const servers = parseLbServers(optional(source, 'lb-servers'), kind, defaults);
  return { kind, host: parseHostSpec('lb-host', hostText, defaults), backend, socket, upstreamFile, servers };
}

/** A server as nginx writes it (`10.0.0.1:8080`, `[::1]:80`, `unix:/run/app.sock`): no space, quote or `;`. */
const NGINX_SERVER = /^[A-Za-z0-9_.:/[\]@-]{1,255}$/;

/**
 * `lb-servers`: one `host[:port]=server` a line, the host as a `hosts` line names it (its port defaults
 * to `port`), the server as the balancer names it (haproxy: its name; nginx: its address as written).
 */
export function parseLbServers(
  text: string,
  kind: LoadBalancerKind,
  defaults: { user: string; port: number },
): NamedServers {
  const out = new Map<string, string>();
  for (const line of text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))) {
    const eq = line.lastIndexOf('=');
    if (eq < 0) throw new InputError('lb-servers', `'${line}' is not host[:port]=server`);
    const host = hostId(parseHostSpec('lb-servers', line.slice(0, eq), defaults));
    const server = line.slice(eq + 1).trim();
    const valid = kind === 'haproxy' ? LB_NAME.test(server) : NGINX_SERVER.test(server);
    if (!valid)
      throw new InputError(
        'lb-servers',
        `'${server}' is not ` +
          `${kind === 'haproxy' ? 'a haproxy server name' : 'an nginx server address (host:port or unix:/path)'}`,
      );
    if (out.has(host)) throw new InputError('lb-servers', `${host} is named twice`);
    out.set(host, server);
  }
  return out;
}

/** `5%`, `5` or `0.05` → 0.05; must be above 0 and below 100%. */
export function parseShare(name: string, text: string): number {
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?)\s*(%?)$/.exec(t);
  if (!m) throw new InputError(name, `'${text}' is not a percentage like 5%`);
  const n = Number(m[1]);
  const share = m[2] || n >= 1 ? n / 100 : n;
  if (!(share > 0 && share < 1)) throw new InputError(name, `'${text}' must be above 0% and below 100%`);
  return share;
}

/** ssh-rollout's balancer inputs, with canary-weight, drain and drain-timeout. */
export function readRolloutLbSettings(source: InputSource): RolloutLbSettings | null {
  const base = readLoadBalancerInputs(source);
  const drainText = optional(source, 'drain');
  if (!base) {
    if (drainText && parseBool('drain', drainText, false))
      throw new InputError('drain', 'is true but load-balancer is empty');
    return null;
  }
  const canary = optional(source, 'canary-weight');
  return {
    ...base,
    canaryShare: canary ? parseShare('canary-weight', canary) : null,
    drain: parseBool('drain', drainText, true),
    drainTimeoutMs: parseDuration('drain-timeout', optional(source, 'drain-timeout', '30s')),
  };
}

function wrap(name: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    throw new InputError(name, errorMessage(err));
  }
}

/** Picks the provider for `settings.kind` over an open session to lb-host. */
export function createLoadBalancer(settings: LoadBalancerSettings, session: Pick<RemoteSession, 'exec'>): LoadBalancer {
  const exec = (command: string) => session.exec(command, { timeoutMs: 60_000 });
  return settings.kind === 'haproxy'
    ? createHaproxy({ backend: settings.backend, socket: settings.socket, exec })
    : createNginx({ upstream: settings.backend, file: settings.upstreamFile, exec });
}

/** Connects to lb-host and returns the provider with a close(). */
export async function connectLoadBalancer(
  settings: LoadBalancerSettings,
  connector: Connector,
  credentials: SshCredentials,
): Promise<{ lb: LoadBalancer; close: () => Promise<void> }> {
  const session = await connector(settings.host, credentials);
  return { lb: createLoadBalancer(settings, session), close: () => session.close() };
}

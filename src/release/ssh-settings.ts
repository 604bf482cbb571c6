// The SSH inputs shared by ssh-rollout and auto-revert, read and validated once by one reader
// (so both actions accept exactly the same `hosts`, key and known-hosts text).
import {
  hostId,
  InputError,
  optional,
  parseBool,
  parseDuration,
  parseHostSpec,
  parseInteger,
  parseList,
  parseUser,
  required,
  type HostSpec,
  type InputSource,
} from '../common/inputs.js';
import { parsePrivateKey } from '../ssh/keys.js';
import type { SshCredentials } from '../ssh/types.js';
import { validateDeployPath } from './layout.js';

export interface SshSettings {
  /** In the order `hosts` lists them (waves depend on it); no duplicates. */
  hosts: HostSpec[];
  credentials: SshCredentials;
  deployPath: string;
  maxParallel: number;
  reloadCommand: string;
  healthCommand: string;
  /** '' when none; may contain `{host}`. */
  healthUrl: string;
  /** '' when none; text a health-url 2xx body must contain; may contain `{release}`. */
  healthExpect: string;
  /** health-samples: consecutive health-url answers (each on a new connection) that must all be healthy. */
  healthSamples: number;
  healthTimeoutMs: number;
  /** Things to print as warnings on every run (e.g. host keys not checked). */
  warnings: string[];
}

export interface SshSettingsContext {
  /** Registers a secret with the runner (core.setSecret) so it never shows in logs. */
  mask: (secret: string) => void;
}

export const INSECURE_HOST_KEY_WARNING =
  'insecure-skip-host-key-check is true: host keys are NOT verified, so anyone who can intercept the ' +
  'connection can impersonate the hosts. Use known-hosts instead.';

/** The hint every known-hosts error carries: where the lines come from. */
export function knownHostsHint(hosts: HostSpec[]): string {
  const h = hosts[0] ?? { host: 'HOST', port: 22 };
  return (
    `get the lines with \`ssh-keyscan -p ${h.port} ${h.host}\` (one call per host) from a machine you ` +
    `trust, check the fingerprints, and store them in a secret or variable`
  );
}

/** Reads hosts, credentials and the host-side commands. Throws InputError naming the input at fault. */
export function readSshSettings(source: InputSource, ctx: SshSettingsContext): SshSettings {
  const user = parseUser('user', optional(source, 'user', 'deploy'));
  const port = parseInteger('port', optional(source, 'port', '22'), { min: 1, max: 65535 });
  const defaults = { user, port };
  // Commas are accepted in lists, but a host line never contains one, so both forms parse alike.
  const hosts = parseList(required(source, 'hosts')).map((line) => parseHostSpec('hosts', line, defaults));
  if (hosts.length === 0) throw new InputError('hosts', 'lists no host');
  const seen = new Set<string>();
  for (const h of hosts) {
    const id = hostId(h);
    // Two entries for one host would race on its `current` link.
    if (seen.has(id)) throw new InputError('hosts', `'${id}' is listed twice`);
    seen.add(id);
  }

  const privateKey = normaliseKey(source('private-key'));
  if (privateKey === '') throw new InputError('private-key', 'is required');
  maskMultiline(privateKey, ctx.mask);
  const passphrase = source('passphrase');
  if (passphrase !== '') ctx.mask(passphrase);
  // Parsed (and decrypted) now, so a bad key or passphrase stops the run before any host is touched.
  // parsePrivateKey throws an InputError naming private-key or passphrase and never echoes the key.
  parsePrivateKey(privateKey, passphrase === '' ? undefined : passphrase);

  const insecure = parseBool('insecure-skip-host-key-check', source('insecure-skip-host-key-check'), false);
  const knownHosts = source('known-hosts').trim();
  const warnings: string[] = [];
  if (insecure) {
    warnings.push(INSECURE_HOST_KEY_WARNING);
  } else if (knownHosts === '') {
    throw new InputError(
      'known-hosts',
      `is required unless insecure-skip-host-key-check is true: ${knownHostsHint(hosts)}`,
    );
  } else if (!knownHosts.split(/\r?\n/).some((l) => /^\s*(@\S+\s+)?\S+\s+\S+\s+\S+/.test(l) && !/^\s*#/.test(l))) {
    throw new InputError('known-hosts', `has no known_hosts line ('host keytype key'): ${knownHostsHint(hosts)}`);
  }

  const jumpText = optional(source, 'jump-host');
  const jumpHost = jumpText ? parseHostSpec('jump-host', jumpText, defaults) : undefined;

  const healthUrl = optional(source, 'health-url');
  if (healthUrl) validateHealthUrl(healthUrl);
  const healthExpect = optional(source, 'health-expect');
  if (healthExpect) validateHealthExpect(healthExpect, healthUrl);

  const credentials: SshCredentials = {
    privateKey,
    hostKeys: insecure ? { kind: 'insecure' } : { kind: 'known-hosts', knownHosts },
  };
  if (passphrase !== '') credentials.passphrase = passphrase;
  if (jumpHost) credentials.jumpHost = jumpHost;

  return {
    hosts,
    credentials,
    deployPath: validateDeployPath('deploy-path', required(source, 'deploy-path')),
    maxParallel: parseInteger('max-parallel', optional(source, 'max-parallel', '20'), { min: 1, max: 1000 }),
    reloadCommand: optional(source, 'reload-command'),
    healthCommand: optional(source, 'health-command'),
    healthUrl,
    healthExpect,
    healthSamples: parseInteger('health-samples', optional(source, 'health-samples', '3'), { min: 1, max: 100 }),
    healthTimeoutMs: parseDuration('health-timeout', optional(source, 'health-timeout', '60s')),
    warnings,
  };
}

/** Secrets pasted into the UI often carry CRLF or lose the final newline; ssh2 wants neither. */
function normaliseKey(text: string): string {
  const t = text.replace(/\r\n?/g, '\n').trim();
  return t === '' ? '' : `${t}\n`;
}

/** The runner masks per line, so a multi-line key is registered whole and line by line. */
function maskMultiline(secret: string, mask: (s: string) => void): void {
  mask(secret.trim());
  for (const line of secret.split('\n')) {
    const l = line.trim();
    if (l.length >= 8 && !l.startsWith('-----')) mask(l);
  }
}

function validateHealthUrl(template: string): void {
  let url: URL;
  try {
    url = new URL(template.replace(/\{host\}/g, 'example.com').replace(/\{port\}/g, '8080'));
  } catch {
    throw new InputError(
      'health-url',
      `'${template}' is not a URL ({host} is replaced by each host's name, {port} by the port of its balancer server)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError('health-url', `'${template}' must be http:// or https://`);
}

/** Longest health-expect accepted: it is matched against a body, not a document. */
export const MAX_HEALTH_EXPECT = 1000;

function validateHealthExpect(text: string, healthUrl: string): void {
  if (healthUrl === '')
    throw new InputError('health-expect', 'needs health-url: it is the text the health-url response body must contain');
  if (text.length > MAX_HEALTH_EXPECT)
    throw new InputError('health-expect', `is ${text.length} characters long, more than ${MAX_HEALTH_EXPECT}`);
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\x00-\x1f\x7f]/.test(text))
    throw new InputError('health-expect', 'must be one line without control characters');
}

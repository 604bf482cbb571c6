// Pure known_hosts handling with OpenSSH semantics: parsing, host matching, key decisions, fingerprints.
import { createHash, createHmac } from 'node:crypto';

export type KnownHostMarker = 'cert-authority' | 'revoked';

/** One non-comment line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number;
  marker?: KnownHostMarker;
  /** The host field as written (a pattern list or one `|1|salt|hash`). */
  hosts: string;
  /** Key type as written on the line, e.g. `ssh-ed25519`. */
  keyType: string;
  /** The public key blob (wire format). */
  key: Buffer;
  comment?: string;
}

export interface KnownHostsParseResult {
  entries: KnownHostEntry[];
  /** Lines that could not be understood; OpenSSH skips them too, callers may warn. */
  errors: { line: number; message: string }[];
}

const KEY_TYPE = new RegExp(
  '^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|' +
    'sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com)$',
);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parseKnownHosts(text: string): KnownHostsParseResult {
  const entries: KnownHostEntry[] = [];
  const errors: { line: number; message: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = trimmed.split(/\s+/);
    let marker: KnownHostMarker | undefined;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!.toLowerCase();
      if (m === '@cert-authority') marker = 'cert-authority';
      else if (m === '@revoked') marker = 'revoked';
      else {
        errors.push({ line, message: `unknown marker '${m}'` });
        return;
      }
    }
    if (fields.length < 3) {
      errors.push({ line, message: 'expected: [marker] hosts key-type base64-key [comment]' });
      return;
    }
    const [hosts, keyType, b64, ...rest] = fields;
    if (!KEY_TYPE.test(keyType)) {
      errors.push({ line, message: `unsupported key type '${keyType}'` });
      return;
    }
    if (!BASE64.test(b64)) {
      errors.push({ line, message: 'the key is not base64' });
      return;
    }
    const key = Buffer.from(b64, 'base64');
    let embedded: string;
    try {
      embedded = keyTypeOf(key);
    } catch {
      errors.push({ line, message: 'the key blob is malformed' });
      return;
    }
    // A line whose declared type disagrees with its blob is corrupt (OpenSSH rejects it too).
    if (embedded !== keyType) {
      errors.push({ line, message: `key type '${keyType}' does not match the key's own type '${embedded}'` });
      return;
    }
    if (hosts.startsWith('|') && !parseHashed(hosts)) {
      errors.push({ line, message: 'malformed hashed host field (expected |1|salt|hash)' });
      return;
    }
    entries.push({ line, marker, hosts, keyType, key, comment: rest.length ? rest.join(' ') : undefined });
  });
  return { entries, errors };
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function parseHashed(field: string): { salt: Buffer; hash: Buffer } | undefined {
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field);
  if (!m) return undefined;
  const salt = Buffer.from(m[1], 'base64');
  const hash = Buffer.from(m[2], 'base64');
  // HMAC-SHA1: 20-byte salt (the key) and 20-byte digest.
  if (salt.length !== 20 || hash.length !== 20) return undefined;
  return { salt, hash };
}

/** `|1|salt|hash` for a name, as `ssh-keygen -H` writes it (salt random unless given). */
export function hashHostName(name: string, salt: Buffer): string {
  const hash = createHmac('sha1', salt).update(name).digest();
  return `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** OpenSSH match_hostname: any matching negated pattern vetoes; otherwise any positive match wins. */
export function matchPatternList(name: string, list: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (globToRegExp(pattern).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Whether a line's host field covers host:port. */
export function entryMatches(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hosts.startsWith('|')) {
    const h = parseHashed(entry.hosts);
    if (!h) return false;
    return createHmac('sha1', h.salt).update(name).digest().equals(h.hash);
  }
  // OpenSSH compares host names case-insensitively (it lowercases the name it looks up).
  return matchPatternList(name.toLowerCase(), entry.hosts);
}

export type HostKeyDecision =
  | { ok: true; entry: KnownHostEntry }
  | {
      ok: false;
      /**
       * unknown: no plain line for this host, or none of the presented key's type;
       * mismatch: lines of the presented key's type exist but none holds this key;
       * revoked: listed under @revoked.
       */
      reason: 'unknown' | 'mismatch' | 'revoked';
      message: string;
      /**
       * The plain lines for this host the key was compared with: those of its type (mismatch) or of other types
       * (unknown).
       */
      expected: KnownHostEntry[];
    };

/** Plain (marker-less) lines whose host field covers host:port. */
function plainEntriesFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  return entries.filter((e) => e.marker === undefined && entryMatches(e, host, port));
}

/** An @revoked line for host:port holding key. */
function revokedEntryFor(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): KnownHostEntry | undefined {
  return entries.find((e) => e.marker === 'revoked' && e.key.equals(key) && entryMatches(e, host, port));
}

const listLines = (entries: KnownHostEntry[]) =>
  entries.map((e) => `${describeKey(e.key)} (line ${e.line})`).join(', ');

/**
 * Decides whether the plain key `key` presented by host:port is trusted (certificates are handled by the caller).
 * Only lines of the presented key's type can contradict it: a host that has no key of a listed type (or was
 * asked for another type) is not known by that key, which is `unknown`, not the re-keying that `mismatch` signals.
 */
export function checkHostKey(
  known: string | KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyDecision {
  const entries = typeof known === 'string' ? parseKnownHosts(known).entries : known;
  const name = knownHostsName(host, port);
  const presented = describeKey(key);
  const revoked = revokedEntryFor(entries, host, port, key);
  if (revoked) {
    return {
      ok: false,
      reason: 'revoked',
      message: `the ${presented} key is marked @revoked (known-hosts line ${revoked.line})`,
      expected: [],
    };
  }
  const forHost = plainEntriesFor(entries, host, port);
  const exact = forHost.find((e) => e.key.equals(key));
  if (exact) return { ok: true, entry: exact };
  if (forHost.length === 0) {
    return {
      ok: false,
      reason: 'unknown',
      message: `${name} is not in known-hosts; it presented the ${presented} key`,
      expected: [],
    };
  }
  const type = keyTypeOfSafe(key);
  const sameType = forHost.filter((e) => e.keyType === type);
  if (sameType.length === 0) {
    const types = [...new Set(forHost.map((e) => e.keyType))].join(', ');
    return {
      ok: false,
      reason: 'unknown',
      message:
        `${name} presented the ${presented} key, but known-hosts lists only ${types} keys for it ` +
        `(${listLines(forHost)})`,
      expected: forHost,
    };
  }
  return {
    ok: false,
    reason: 'mismatch',
    message:
      `the ${presented} key presented by ${name} does not match known-hosts, which lists ` +
      `${listLines(sameType)} — the host was re-keyed or someone is in the middle`,
    expected: sameType,
  };
}

/**
 * The server host key algorithms ssh2 can negotiate, in OpenSSH's (and ssh2's default) order of preference.
 * ssh-dss is left out: ssh2 supports it, but neither ssh2 nor OpenSSH (7.0+) offers it by default.
 */
export const HOST_KEY_ALGORITHMS: readonly string[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** The key type a host key algorithm is proved with: one RSA key signs with three algorithms. */
export function keyTypeOfAlgorithm(algorithm: string): string {
  return algorithm === 'rsa-sha2-512' || algorithm === 'rsa-sha2-256' ? 'ssh-rsa' : algorithm;
}

/**
 * The host key algorithms to ask host:port for (ssh2's `algorithms.serverHostKey`), as OpenSSH's
 * order_hostkeyalgs (sshconnect2.c) orders them: the server picks the first algorithm of this list it has a
 * key for, so asking for a type known-hosts lists first is what makes an RSA-only (or ECDSA-only) line work
 * for a host that also has an ed25519 key. Like OpenSSH, the list is kept as is when the first-preference
 * type (ed25519) is known; otherwise the algorithms of the known types come first, the rest after, each
 * part in preference order. Only plain lines count, and not one whose key is @revoked for the host.
 * undefined (ssh2's defaults) when no plain line names the host.
 */
export function hostKeyAlgorithmsFor(
  known: string | KnownHostEntry[],
  host: string,
  port: number,
): string[] | undefined {
  const entries = typeof known === 'string' ? parseKnownHosts(known).entries : known;
  const forHost = plainEntriesFor(entries, host, port);
  if (forHost.length === 0) return undefined;
  const types = new Set(forHost.filter((e) => !revokedEntryFor(entries, host, port, e.key)).map((e) => e.keyType));
  const isKnown = (algorithm: string) => types.has(keyTypeOfAlgorithm(algorithm));
  if (isKnown(HOST_KEY_ALGORITHMS[0])) return [...HOST_KEY_ALGORITHMS];
  return [...HOST_KEY_ALGORITHMS.filter(isKnown), ...HOST_KEY_ALGORITHMS.filter((a) => !isKnown(a))];
}

/** `@cert-authority` lines whose host patterns cover host:port. */
export function certAuthoritiesFor(known: string | KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const entries = typeof known === 'string' ? parseKnownHosts(known).entries : known;
  return entries.filter((e) => e.marker === 'cert-authority' && entryMatches(e, host, port));
}

/** Whether a key is listed under @revoked (for CA keys and certified keys). */
export function isRevoked(known: string | KnownHostEntry[], key: Buffer): boolean {
  const entries = typeof known === 'string' ? parseKnownHosts(known).entries : known;
  return entries.some((e) => e.marker === 'revoked' && e.key.equals(key));
}

/** OpenSSH's `SHA256:` fingerprint: base64 of the blob's SHA-256, without padding. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The type name stored at the start of a key or certificate blob, e.g. `ssh-ed25519`. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) throw new Error('key blob too short');
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) throw new Error('key blob has no valid type name');
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** keyTypeOf, or `unknown-type` for a blob without a type name (messages must not throw). */
function keyTypeOfSafe(blob: Buffer): string {
  try {
    return keyTypeOf(blob);
  } catch {
    return 'unknown-type';
  }
}

/** `ssh-ed25519 SHA256:…`, the form every message uses. */
export function describeKey(key: Buffer): string {
  return `${keyTypeOfSafe(key)} ${fingerprint(key)}`;
}

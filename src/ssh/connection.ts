// The ssh2-backed Connector: one authenticated connection per host, host keys checked against
// known-hosts (plain, hashed, [host]:port, @cert-authority), transient connect failures retried.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import type { ClientChannel, ConnectConfig, ParsedKey, ServerHostKeyAlgorithm } from 'ssh2';
import { hostId, InputError, type HostSpec } from '../common/inputs.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { sleep } from '../common/concurrency.js';
import { checkHostCertificate, isCertificateType, parseCertificate } from './certificate.js';
import { certAuthoritiesFor, checkHostKey, describeKey, hostKeyAlgorithmsFor, isRevoked, keyTypeOf, parseKnownHosts, type KnownHostEntry } from './known-hosts.js';
import { PermanentConnectError, type Connector, type ExecOptions, type ExecResult, type RemoteSession, type SshCredentials } from './types.js';

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** Exit code reported when `timeoutMs` stopped a command, as GNU `timeout` does. */
export const TIMEOUT_EXIT_CODE = 124;

// ---------------------------------------------------------------------------------------------
// Private keys

const keyCache = new Map<string, ParsedKey>();

/**
 * Parses and validates the `private-key` input (OpenSSH or PEM), decrypting it with `passphrase`.
 * Throws an InputError naming `private-key` or `passphrase`; never echoes key material.
 * Results are cached, so an encrypted key's (slow, bcrypt) decryption happens once per run.
 */
export function parsePrivateKey(text: string, passphrase?: string): ParsedKey {
  // Secrets pasted from Windows or with stray indentation still parse.
  const normalized = text.replace(/\r\n?/g, '\n').trim();
  if (normalized === '') throw new InputError('private-key', 'is empty; pass the private key text (e.g. ${{ secrets.DEPLOY_KEY }})');
  const cacheKey = createHash('sha256').update(normalized).update('\0').update(passphrase ?? '').digest('hex');
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  const parsed = utils.parseKey(normalized, passphrase === '' ? undefined : passphrase);
  if (parsed instanceof Error) {
    const msg = parsed.message;
    if (/no passphrase/i.test(msg)) throw new InputError('passphrase', 'is required: the private key is encrypted');
    if (/passphrase|decrypt|integrity/i.test(msg)) throw new InputError('passphrase', 'does not decrypt the private key (wrong passphrase?)');
    throw new InputError('private-key', `cannot be parsed as an OpenSSH or PEM private key (${msg}); pass the whole key, BEGIN and END lines included`);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) throw new InputError('private-key', 'holds a public key; pass the private key');
  keyCache.set(cacheKey, key);
  return key;
}

// ---------------------------------------------------------------------------------------------
// Host certificates

/** Fetches the certificate blobs a host offers (`*-cert-v01@openssh.com`). */
export type CertificateFetcher = (host: string, port: number) => Promise<Buffer[]>;

/**
 * ssh2 cannot negotiate certificate host key algorithms, so the certificate comes from a second,
 * unauthenticated handshake by the system ssh-keyscan. It is only trusted because its embedded key
 * must equal the key ssh2's own handshake proved the server holds.
 */
export const keyscanCertificates: CertificateFetcher = (host, port) =>
  new Promise((resolve, reject) => {
    execFile('ssh-keyscan', ['-c', '-T', '5', '-p', String(port), '--', host], { timeout: 15_000 }, (err, stdout) => {
      // ssh-keyscan exits 1 when the host offers no certificate: that is an answer, not a failure.
      const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
      if (e && (typeof e.code !== 'number' || e.killed)) {
        const why = e.code === 'ENOENT' ? 'ssh-keyscan is not installed (it comes with openssh-client)' : e.killed ? 'ssh-keyscan timed out' : e.message;
        reject(new Error(`cannot fetch the host certificate for @cert-authority: ${why}`));
        return;
      }
      const certs: Buffer[] = [];
      for (const line of stdout.split('\n')) {
        if (line.startsWith('#')) continue;
        // With -c, ssh-keyscan 9.2 prints `type base64` without the host field; accept both forms.
        const f = line.trim().split(/\s+/);
        const at = f.findIndex(isCertificateType);
        if (at >= 0 && f[at + 1]) certs.push(Buffer.from(f[at + 1], 'base64'));
      }
      resolve(certs);
    });
  });

// ---------------------------------------------------------------------------------------------
// Connecting

export interface ConnectorOptions {
  logger?: Logger;
  /** Delay before the first retry; doubles for each further attempt (default 500 ms). */
  retryDelayMs?: number;
  /** How host certificates are obtained (default: ssh-keyscan -c). */
  fetchCertificates?: CertificateFetcher;
  /** Seconds between keepalives, so a host that vanishes is noticed (default 5). */
  keepaliveSeconds?: number;
}

/** Connecting gave up after every attempt failed on a transient error. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/** Timeouts, resets and refusals can pass (a host restarting, sshd's MaxStartups shedding load); nothing else will. */
export function isRetryable(err: unknown): boolean {
  // Duck-typed: errors from node:net come from another realm under jest's VM modules, so instanceof Error fails.
  if (err instanceof PermanentConnectError || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; level?: string; message?: string };
  if (e.level === 'client-timeout') return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  return /Connection lost before handshake|Timed out while waiting for handshake|socket hang up|Channel open failure/i.test(String(e.message));
}

interface HostKeySeen {
  key?: Buffer;
  rejection?: string;
}

/** `type` narrows the scan to the one key type the line is missing for (ssh-keyscan -t takes the full name). */
function keyscanHint(h: { host: string; port: number }, type?: string): string {
  return `get the line with: ssh-keyscan ${type ? `-t ${type} ` : ''}-p ${h.port} ${h.host}`;
}

/**
 * known-hosts parsed once per text: every session keeps the entries it was checked against, so a
 * parse per connection made a thousand-host rollout hold a thousand copies of a thousand lines.
 */
const parsedKnownHosts = new Map<string, KnownHostEntry[]>();
function knownHostsOf(text: string): KnownHostEntry[] {
  let entries = parsedKnownHosts.get(text);
  if (!entries) {
    entries = parseKnownHosts(text).entries;
    // One run has one known-hosts text (a jump host shares it); a bound keeps tests that make many from growing it.
    if (parsedKnownHosts.size >= 8) parsedKnownHosts.clear();
    parsedKnownHosts.set(text, entries);
  }
  return entries;
}

/** Creates a Connector. `connectSsh` is one with default options. */
export function createConnector(options: ConnectorOptions = {}): Connector {
  const logger = options.logger ?? silentLogger;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const fetchCertificates = options.fetchCertificates ?? keyscanCertificates;
  const keepaliveInterval = (options.keepaliveSeconds ?? 5) * 1000;

  return async (host: HostSpec, credentials: SshCredentials): Promise<RemoteSession> => {
    const key = parsePrivateKey(credentials.privateKey, credentials.passphrase);
    const known = credentials.hostKeys.kind === 'known-hosts' ? knownHostsOf(credentials.hostKeys.knownHosts) : undefined;
    const attempts = Math.max(1, credentials.connectAttempts ?? 3);
    const id = hostId(host);
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await connectOnce(host, credentials, key, known);
      } catch (err) {
        last = err;
        if (!isRetryable(err)) throw err;
        if (attempt < attempts) {
          // Jitter spreads retries of many hosts that failed together (e.g. MaxStartups).
          const delay = Math.round(retryDelayMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4));
          logger.info(`${id}: connect attempt ${attempt}/${attempts} failed (${(err as Error).message}); retrying in ${delay} ms`);
          await sleep(delay);
        }
      }
    }
    const reason = String((last as Error).message).replace(`${id}: `, '');
    throw new ConnectError(`${id}: cannot connect after ${attempts} attempts: ${reason}`, attempts);
  };

  async function connectOnce(host: HostSpec, credentials: SshCredentials, key: ParsedKey, known: KnownHostEntry[] | undefined): Promise<SshSession> {
    let bastion: SshClient | undefined;
    if (credentials.jumpHost) {
      const jump = credentials.jumpHost;
      try {
        bastion = await handshake(jump, credentials, key, known);
      } catch (err) {
        const e = err as Error;
        e.message = `${hostId(host)} via jump host ${hostId(jump)}: ${e.message}`;
        throw e;
      }
    }
    try {
      const sock = bastion ? await forward(bastion, host) : undefined;
      const client = await handshake(host, credentials, key, known, sock, bastion);
      return new SshSession(host, client, bastion);
    } catch (err) {
      bastion?.end();
      throw err;
    }
  }

  function handshake(host: HostSpec, credentials: SshCredentials, key: ParsedKey, known: KnownHostEntry[] | undefined, sock?: Readable, via?: SshClient): Promise<SshClient> {
    const id = hostId(host);
    const seen: HostKeySeen = {};
    const client = new Client();
    return new Promise<SshClient>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(err);
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        client.removeAllListeners('error');
        // Errors after the handshake surface through exec (a lost connection); keep them from crashing the process.
        client.on('error', () => {});
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string }) => {
        if (seen.rejection) {
          fail(new PermanentConnectError(`${id}: host key verification failed: ${seen.rejection}`));
        } else if (err.level === 'client-authentication') {
          const hostKey = seen.key ? `; the host's key is ${describeKey(seen.key)}` : '';
          fail(
            new PermanentConnectError(
              `${host.user}@${id}: authentication failed: the server refused the ${describeKey(key.getPublicSSH())} key for user '${host.user}'${hostKey}. ` +
                `Add the matching public key to ~${host.user}/.ssh/authorized_keys on the host, or check the user.`,
            ),
          );
        } else {
          err.message = `${id}: ${err.message}`;
          fail(err);
        }
      });
      client.on('close', () => {
        if (seen.rejection) fail(new PermanentConnectError(`${id}: host key verification failed: ${seen.rejection}`));
        else fail(Object.assign(new Error(`${id}: Connection lost before handshake`), { code: 'ECONNRESET' }));
      });

      const config: ConnectConfig = {
        host: host.host,
        port: host.port,
        username: host.user,
        readyTimeout: credentials.readyTimeoutMs ?? 20_000,
        keepaliveInterval,
        keepaliveCountMax: 3,
        // A parsed key cannot go through `privateKey` (ssh2 accepts only text there), so offer it here.
        authHandler: (_methods, _partial, next) => {
          // `false` (no more methods) is valid at runtime but missing from @types/ssh2.
          const nextAuth = authTried ? false : { type: 'publickey' as const, username: host.user, key };
          authTried = true;
          (next as (m: unknown) => void)(nextAuth);
        },
        hostVerifier: (presented: Buffer, verify: (ok: boolean) => void) => {
          seen.key = Buffer.from(presented);
          verifyHostKey(host, presented, credentials, known, via).then(
            (rejection) => {
              seen.rejection = rejection;
              verify(rejection === undefined);
            },
            (err: Error) => {
              seen.rejection = `could not check the host key: ${err.message}`;
              verify(false);
            },
          );
        },
      };
      let authTried = false;
      if (sock) config.sock = sock;
      // Ask for a key type known-hosts lists for this host first, as OpenSSH does; otherwise ssh2 asks for
      // ed25519 first and a host known by its RSA or ECDSA line fails as a mismatch. (Insecure: no known-hosts.)
      const hostKeyAlgorithms = known ? hostKeyAlgorithmsFor(known, host.host, host.port) : undefined;
      if (hostKeyAlgorithms) config.algorithms = { serverHostKey: hostKeyAlgorithms as ServerHostKeyAlgorithm[] };
      client.connect(config);
      // Nagle's algorithm holds back each small SSH packet (~40 ms a round trip on loopback); commands are small.
      const raw = (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock;
      raw?.setNoDelay?.(true);
    });
  }

  /** undefined when the key is trusted, otherwise why not (with a hint). */
  async function verifyHostKey(host: HostSpec, presented: Buffer, credentials: SshCredentials, known: KnownHostEntry[] | undefined, via?: SshClient): Promise<string | undefined> {
    if (credentials.hostKeys.kind === 'insecure' || !known) {
      logger.debug(`${hostId(host)}: host key not checked (insecure): ${describeKey(presented)}`);
      return undefined;
    }
    const decision = checkHostKey(known, host.host, host.port, presented);
    if (decision.ok) {
      logger.debug(`${hostId(host)}: host key ${describeKey(presented)} matches known-hosts line ${decision.entry.line}`);
      return undefined;
    }
    if (decision.reason === 'revoked') return `${decision.message}. Remove it from the host, or the @revoked line if that was a mistake.`;
    const cas = certAuthoritiesFor(known, host.host, host.port).filter((ca) => !isRevoked(known, ca.key));
    const hint =
      decision.reason === 'mismatch'
        ? `If the host was re-keyed on purpose, replace its line; ${keyscanHint(host)}`
        : decision.expected.length > 0
          ? `Add its ${keyTypeOf(presented)} line to known-hosts (check the fingerprint out of band); ${keyscanHint(host, keyTypeOf(presented))}`
          : `Add its line to known-hosts (check the fingerprint out of band); ${keyscanHint(host)}`;
    if (cas.length === 0) return `${decision.message}. ${hint}`;

    const certs = via ? await withLocalForward(via, host, (port) => fetchCertificates('127.0.0.1', port)) : await fetchCertificates(host.host, host.port);
    const problems: string[] = [];
    for (const blob of certs) {
      let cert;
      try {
        cert = parseCertificate(blob);
      } catch (e) {
        problems.push(`unreadable certificate (${(e as Error).message})`);
        continue;
      }
      // The certificate is only evidence about the key the handshake proved the server holds.
      if (!cert.publicKey.equals(presented)) continue;
      if (isRevoked(known, cert.publicKey)) {
        problems.push(`the certified key ${describeKey(presented)} is @revoked`);
        continue;
      }
      const check = checkHostCertificate(cert, { hostname: host.host, authorities: cas.map((c) => c.key) });
      if (check.ok) {
        logger.debug(`${hostId(host)}: host key ${describeKey(presented)} certified by ${describeKey(check.ca)} (certificate '${cert.keyId}')`);
        return undefined;
      }
      problems.push(check.reason);
    }
    if (problems.length === 0) problems.push(`the host offers no certificate for its ${describeKey(presented)} key`);
    return `${decision.message}, and the @cert-authority check failed: ${problems.join('; ')}. ${hint}`;
  }
}

/** A ready-to-use Connector with default options. */
export const connectSsh: Connector = createConnector();

/** A direct-tcpip channel from the bastion to the target. */
function forward(bastion: SshClient, target: HostSpec): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    bastion.forwardOut('127.0.0.1', 0, target.host, target.port, (err, channel) => {
      if (err) reject(Object.assign(err, { message: `${hostId(target)}: the jump host cannot reach it: ${err.message}` }));
      else resolve(channel);
    });
  });
}

/** Runs fn with a loopback port that tunnels to target through the bastion (so ssh-keyscan can reach it). */
async function withLocalForward<T>(bastion: SshClient, target: HostSpec, fn: (port: number) => Promise<T>): Promise<T> {
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    forward(bastion, target).then(
      (ch) => {
        sock.pipe(ch).pipe(sock);
        sock.on('error', () => ch.close());
        ch.on('error', () => sock.destroy());
      },
      () => sock.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn((server.address() as AddressInfo).port);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions

/**
 * Sends SIGKILL to a channel's command. ssh2's Channel.signal() silently does nothing once stdin
 * has been closed (it requires a writable stream), which is always the case here, so this sends
 * the same request through the channel's protocol object.
 */
function killChannel(stream: ClientChannel): void {
  const ch = stream as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, sig: string): void } } };
  const state = ch.outgoing?.state;
  if (ch.outgoing && (state === 'open' || state === 'eof')) {
    try {
      ch._client?._protocol?.signal(ch.outgoing.id, 'KILL');
    } catch {
      // the connection is going away; closing the channel is all that is left
    }
  }
}

/** One authenticated connection; commands run as channels on it, in parallel if asked. */
export class SshSession implements RemoteSession {
  readonly id: string;
  private closed = false;
  private lostReason?: string;
  private readonly pending = new Set<(err: Error) => void>();
  private readonly ended = new Set<SshClient>();

  constructor(
    readonly spec: HostSpec,
    private readonly client: SshClient,
    private readonly bastion?: SshClient,
  ) {
    this.id = hostId(spec);
    client.once('close', () => this.ended.add(client));
    bastion?.once('close', () => this.ended.add(bastion));
    const lost = (why: string) => {
      if (this.closed) return;
      this.lostReason = why;
      for (const reject of this.pending) reject(new Error(`${this.id}: connection lost while running a command (${why})`));
      this.pending.clear();
    };
    client.on('close', () => lost('the connection closed'));
    client.on('error', (err: Error) => lost(err.message));
    bastion?.on('close', () => lost('the jump host connection closed'));
  }

  /** Whether the connection is still usable. */
  get alive(): boolean {
    return !this.closed && this.lostReason === undefined;
  }

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.id}: session is closed`));
    if (this.lostReason) return Promise.reject(new Error(`${this.id}: connection lost (${this.lostReason})`));
    return new Promise<ExecResult>((resolve, reject) => {
      let done = false;
      const abort = (err: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        reject(err);
      };
      this.pending.add(abort);
      let timer: ReturnType<typeof setTimeout> | undefined;
      this.client.exec(command, (err, stream) => {
        if (err) {
          abort(new Error(`${this.id}: cannot start a command: ${err.message}`));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let code: number | null | undefined;
        let signal: string | undefined;
        let timedOut = false;
        if (options.timeoutMs !== undefined) {
          timer = setTimeout(() => {
            timedOut = true;
            // Closing the channel alone leaves e.g. `sleep` running on the host; OpenSSH (7.8+) kills
            // the command's process group on a `signal` request.
            killChannel(stream);
            stream.close();
          }, options.timeoutMs);
        }
        stream.on('data', (d: Buffer) => {
          stdout.push(d);
          options.onStdout?.(d.toString('utf8'));
        });
        stream.stderr.on('data', (d: Buffer) => stderr.push(d));
        stream.on('exit', (c: number | null, sig?: string) => {
          code = c;
          signal = sig;
        });
        stream.on('close', () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.pending.delete(abort);
          const out = Buffer.concat(stdout).toString('utf8');
          let errText = Buffer.concat(stderr).toString('utf8');
          if (timedOut) {
            errText += `${errText && !errText.endsWith('\n') ? '\n' : ''}fivestep: command timed out after ${options.timeoutMs} ms and was killed\n`;
            resolve({ code: TIMEOUT_EXIT_CODE, stdout: out, stderr: errText });
          } else if (typeof code === 'number') {
            resolve({ code, stdout: out, stderr: errText });
          } else if (signal) {
            const n = (osConstants.signals as Record<string, number>)[`SIG${signal}`] ?? 0;
            resolve({ code: 128 + n, stdout: out, stderr: `${errText}fivestep: command killed by signal ${signal}\n` });
          } else {
            reject(new Error(`${this.id}: connection lost while running a command${this.lostReason ? ` (${this.lostReason})` : ''}`));
          }
        });
        const input = options.stdin;
        if (input === undefined) stream.end();
        else if (Buffer.isBuffer(input)) stream.end(input);
        else {
          input.on('error', (e) => {
            abort(new Error(`${this.id}: reading the command's input failed: ${e.message}`));
            stream.close();
          });
          input.pipe(stream);
        }
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ended = (c: SshClient) => new Promise<void>((resolve) => {
      if (this.ended.has(c)) return resolve();
      c.once('close', () => resolve());
      c.end();
      // A dead peer never answers the disconnect; do not wait for it.
      setTimeout(resolve, 1000).unref();
    });
    await ended(this.client);
    if (this.bastion) await ended(this.bastion);
  }
}

// The ssh2-backed Connector: one authenticated connection per host, through a jump host if asked, host
// keys checked against known-hosts (host-key-verification.ts), transient connect failures retried.
import type { Readable } from 'node:stream';
import ssh2 from 'ssh2';
import type { Client as SshClient, ConnectConfig, ParsedKey, ServerHostKeyAlgorithm } from 'ssh2';
import { hostId, type HostSpec } from '../common/inputs.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { sleep } from '../common/concurrency.js';
import { keyscanCertificates, type CertificateFetcher } from './certificate.js';
import { createHostKeyVerifier, type HostKeyVerifier } from './host-key-verification.js';
import { describeKey, hostKeyAlgorithmsFor, type KnownHostEntry } from './known-hosts.js';
import { knownHostEntries, parsePrivateKey } from './keys.js';
import { signWithoutAsking } from './early-send.js';
import { SshSession } from './session.js';
import { forwardChannel } from './tunnel.js';
import { PermanentConnectError, type Connector, type SshCredentials } from './types.js';

const { Client } = ssh2;

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

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);
const RETRYABLE_MESSAGES =
  /Connection lost before handshake|Timed out while waiting for handshake|socket hang up|Channel open failure/i;

/** Timeouts, resets and refusals can pass (a host restarting, sshd's MaxStartups shedding load); nothing else will. */
export function isRetryable(err: unknown): boolean {
  // Duck-typed: errors from node:net come from another realm under jest's VM modules, so instanceof Error fails.
  if (err instanceof PermanentConnectError || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; level?: string; message?: string };
  if (e.level === 'client-timeout') return true;
  if (e.code && RETRYABLE_CODES.has(e.code)) return true;
  return RETRYABLE_MESSAGES.test(String(e.message));
}

/** ConnectorOptions with the defaults filled in. */
interface ConnectorSettings {
  logger: Logger;
  retryDelayMs: number;
  keepaliveInterval: number;
  verifyHostKey: HostKeyVerifier;
}

/** One connect call: what the jump host's handshake and the target's share. */
interface ConnectContext {
  settings: ConnectorSettings;
  credentials: SshCredentials;
  key: ParsedKey;
  /** undefined when host keys are not checked (insecure). */
  known: KnownHostEntry[] | undefined;
}

/** What the handshake learnt of the server's host key, to explain a failure with. */
interface HostKeySeen {
  key?: Buffer;
  rejection?: string;
}

/** Creates a Connector. `connectSsh` is one with default options. */
export function createConnector(options: ConnectorOptions = {}): Connector {
  const logger = options.logger ?? silentLogger;
  const fetchCertificates = options.fetchCertificates ?? keyscanCertificates;
  const settings: ConnectorSettings = {
    logger,
    retryDelayMs: options.retryDelayMs ?? 500,
    keepaliveInterval: (options.keepaliveSeconds ?? 5) * 1000,
    verifyHostKey: createHostKeyVerifier({ logger, fetchCertificates }),
  };

  return async (host, credentials) => {
    const key = parsePrivateKey(credentials.privateKey, credentials.passphrase);
    const hostKeys = credentials.hostKeys;
    const known = hostKeys.kind === 'known-hosts' ? knownHostEntries(hostKeys.knownHosts) : undefined;
    const ctx: ConnectContext = { settings, credentials, key, known };
    const attempts = Math.max(1, credentials.connectAttempts ?? 3);
    const id = hostId(host);
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await connectOnce(ctx, host);
      } catch (err) {
        last = err;
        if (!isRetryable(err)) throw err;
        if (attempt < attempts) {
          // Jitter spreads retries of many hosts that failed together (e.g. MaxStartups).
          const delay = Math.round(settings.retryDelayMs * 2 ** (attempt - 1) * (0.8 + Math.random() * 0.4));
          const why = (err as Error).message;
          logger.info(`${id}: connect attempt ${attempt}/${attempts} failed (${why}); retrying in ${delay} ms`);
          await sleep(delay);
        }
      }
    }
    const reason = String((last as Error).message).replace(`${id}: `, '');
    throw new ConnectError(`${id}: cannot connect after ${attempts} attempts: ${reason}`, attempts);
  };
}

/** A ready-to-use Connector with default options. */
export const connectSsh: Connector = createConnector();

/** Connects to the jump host if there is one, then to the host, through the jump host's channel. */
async function connectOnce(ctx: ConnectContext, host: HostSpec): Promise<SshSession> {
  let bastion: SshClient | undefined;
  const jump = ctx.credentials.jumpHost;
  if (jump) {
    try {
      bastion = await handshake(ctx, jump);
    } catch (err) {
      const e = err as Error;
      e.message = `${hostId(host)} via jump host ${hostId(jump)}: ${e.message}`;
      throw e;
    }
  }
  try {
    const sock = bastion ? await forwardChannel(bastion, host) : undefined;
    const client = await handshake(ctx, host, sock, bastion);
    return new SshSession(host, client, bastion);
  } catch (err) {
    bastion?.end();
    throw err;
  }
}

/** An authenticated ssh2 client for host, over `sock` when it is reached through the jump host `via`. */
function handshake(ctx: ConnectContext, host: HostSpec, sock?: Readable, via?: SshClient): Promise<SshClient> {
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
    client.on('error', (err: Error & { level?: string }) => fail(handshakeError(host, ctx.key, seen, err)));
    client.on('close', () => {
      if (seen.rejection) fail(hostKeyRejected(host, seen.rejection));
      else fail(Object.assign(new Error(`${hostId(host)}: Connection lost before handshake`), { code: 'ECONNRESET' }));
    });
    client.connect(connectConfig(ctx, host, seen, sock, via));
    signWithoutAsking(client, ctx.key);
    // Nagle's algorithm holds back each small SSH packet (~40 ms a round trip on loopback); commands are small.
    const raw = (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock;
    raw?.setNoDelay?.(true);
  });
}

function hostKeyRejected(host: HostSpec, rejection: string): PermanentConnectError {
  return new PermanentConnectError(`${hostId(host)}: host key verification failed: ${rejection}`);
}

/** The error a failed handshake rejects with: a refused host key or client key is permanent, the rest may pass. */
function handshakeError(host: HostSpec, key: ParsedKey, seen: HostKeySeen, err: Error & { level?: string }): Error {
  const id = hostId(host);
  if (seen.rejection) return hostKeyRejected(host, seen.rejection);
  if (err.level === 'client-authentication') {
    const hostKey = seen.key ? `; the host's key is ${describeKey(seen.key)}` : '';
    return new PermanentConnectError(
      `${host.user}@${id}: authentication failed: ` +
        `the server refused the ${describeKey(key.getPublicSSH())} key for user '${host.user}'${hostKey}. ` +
        `Add the matching public key to ~${host.user}/.ssh/authorized_keys on the host, or check the user.`,
    );
  }
  err.message = `${id}: ${err.message}`;
  return err;
}

/** ssh2's settings for one handshake: the client key, the host key check, the host key types to ask for. */
function connectConfig(
  ctx: ConnectContext,
  host: HostSpec,
  seen: HostKeySeen,
  sock?: Readable,
  via?: SshClient,
): ConnectConfig {
  const { credentials, key, known, settings } = ctx;
  let authTried = false;
  const config: ConnectConfig = {
    host: host.host,
    port: host.port,
    username: host.user,
    readyTimeout: credentials.readyTimeoutMs ?? 20_000,
    keepaliveInterval: settings.keepaliveInterval,
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
      settings.verifyHostKey(host, presented, known, via).then(
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
  if (sock) config.sock = sock;
  // Ask for a key type known-hosts lists for this host first, as OpenSSH does; otherwise ssh2 asks for
  // ed25519 first and a host known by its RSA or ECDSA line fails as a mismatch. (Insecure: no known-hosts.)
  const hostKeyAlgorithms = known ? hostKeyAlgorithmsFor(known, host.host, host.port) : undefined;
  if (hostKeyAlgorithms) config.algorithms = { serverHostKey: hostKeyAlgorithms as ServerHostKeyAlgorithm[] };
  return config;
}

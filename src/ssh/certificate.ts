// OpenSSH certificates (PROTOCOL.certkeys), parsed and verified in pure TypeScript with node:crypto.
// ssh2 cannot negotiate the *-cert-v01@openssh.com host key algorithms, so fivestep checks host
// certificates itself, fetching them with the system ssh-keyscan (keyscanCertificates, at the end).
import { execFile } from 'node:child_process';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { describeKey, matchPatternList } from './known-hosts.js';

export const USER_CERT = 1;
export const HOST_CERT = 2;

export interface OpenSshCertificate {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  certType: string;
  /** e.g. `ssh-ed25519`. */
  keyType: string;
  /** The certified key as a plain public key blob, comparable with what the server signs the handshake with. */
  publicKey: Buffer;
  serial: bigint;
  /** 1 = user, 2 = host. */
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  extensions: string[];
  /** The CA public key blob. */
  signatureKey: Buffer;
  /** The signature blob (`string alg, string sig`). */
  signature: Buffer;
  /** The bytes the CA signed: everything before the signature field. */
  signedData: Buffer;
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get offset(): number {
    return this.pos;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('certificate is truncated');
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(): Buffer {
    const len = this.uint32();
    this.need(len);
    const v = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
  string(): string {
    return this.bytes().toString('utf8');
  }
  /** A `string` field holding packed strings (principals, option names). */
  list(): string[] {
    const inner = new Reader(this.bytes());
    const out: string[] = [];
    while (!inner.done) out.push(inner.string());
    return out;
  }
  /** Name/data pairs (critical options, extensions); only the names matter here. */
  names(): string[] {
    const inner = new Reader(this.bytes());
    const out: string[] = [];
    while (!inner.done) {
      out.push(inner.string());
      inner.bytes();
    }
    return out;
  }
  slice(from: number, to: number): Buffer {
    return this.buf.subarray(from, to);
  }
}

function sshString(b: Buffer | string): Buffer {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** Number of public-key fields (each an SSH string or mpint) after the nonce, per certified key type. */
const KEY_FIELDS: Record<string, number> = {
  'ssh-ed25519': 1,
  'ssh-rsa': 2,
  'ssh-dss': 4,
  'ecdsa-sha2-nistp256': 2,
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
};

export function isCertificateType(type: string): boolean {
  return /-cert-v01@openssh\.com$/.test(type);
}

/** Parses a certificate blob (the base64 part of a `*-cert.pub` line, decoded). */
export function parseCertificate(blob: Buffer): OpenSshCertificate {
  const r = new Reader(blob);
  const certType = r.string();
  const m = /^(.+)-cert-v01@openssh\.com$/.exec(certType);
  if (!m || KEY_FIELDS[m[1]] === undefined)
    throw new Error(`'${certType}' is not a supported OpenSSH certificate type`);
  const keyType = m[1];
  r.bytes(); // nonce
  const fields: Buffer[] = [];
  for (let i = 0; i < KEY_FIELDS[keyType]; i++) fields.push(r.bytes());
  const publicKey = Buffer.concat([sshString(keyType), ...fields.map(sshString)]);
  const serial = r.uint64();
  const type = r.uint32();
  const keyId = r.string();
  const principals = r.list();
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions = r.names();
  const extensions = r.names();
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  const signedData = r.slice(0, r.offset);
  const signature = r.bytes();
  if (!r.done) throw new Error('certificate has trailing data');
  return {
    certType,
    keyType,
    publicKey,
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    signatureKey,
    signature,
    signedData,
  };
}

const b64url = (b: Buffer): string => b.toString('base64url');
/** mpints carry a leading zero byte when the high bit is set; JWK wants the bare magnitude. */
const unsigned = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  nistp256: { crv: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { crv: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { crv: 'P-521', size: 66, hash: 'sha512' },
};

/** A node:crypto public key from an SSH public key blob (ed25519, RSA, ECDSA). */
export function publicKeyObject(blob: Buffer): KeyObject {
  const r = new Reader(blob);
  const type = r.string();
  if (type === 'ssh-ed25519')
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(r.bytes()) }, format: 'jwk' });
  if (type === 'ssh-rsa') {
    const e = unsigned(r.bytes());
    const n = unsigned(r.bytes());
    return createPublicKey({ key: { kty: 'RSA', n: b64url(n), e: b64url(e) }, format: 'jwk' });
  }
  const ec = /^ecdsa-sha2-(nistp\d+)$/.exec(type);
  if (ec && CURVES[ec[1]]) {
    const curve = CURVES[ec[1]];
    r.bytes(); // curve name, repeated
    const q = r.bytes();
    if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) throw new Error('only uncompressed ECDSA points are supported');
    const x = q.subarray(1, 1 + curve.size);
    const y = q.subarray(1 + curve.size);
    return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' });
  }
  throw new Error(`unsupported CA key type '${type}'`);
}

/**
 * Verifies an SSH signature blob (`string alg, string sig`) over data with the key blob. Throws on unsupported
 * algorithms.
 */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, signatureBlob: Buffer): boolean {
  const key = publicKeyObject(keyBlob);
  const r = new Reader(signatureBlob);
  const alg = r.string();
  const sig = r.bytes();
  switch (alg) {
    case 'ssh-ed25519':
      return verify(null, data, key, sig);
    case 'rsa-sha2-256':
      return verify('sha256', data, key, sig);
    case 'rsa-sha2-512':
      return verify('sha512', data, key, sig);
    case 'ssh-rsa':
      // SHA-1 signatures: OpenSSH 8.2+ refuses them for certificates (CASignatureAlgorithms); so do we.
      throw new Error('the CA signed with ssh-rsa (SHA-1), which OpenSSH no longer accepts; re-sign with rsa-sha2-512');
  }
  const ec = /^ecdsa-sha2-(nistp\d+)$/.exec(alg);
  if (ec && CURVES[ec[1]]) {
    const curve = CURVES[ec[1]];
    const rs = new Reader(sig);
    const pad = (b: Buffer): Buffer => {
      const u = unsigned(b);
      return Buffer.concat([Buffer.alloc(Math.max(0, curve.size - u.length)), u]);
    };
    const p1363 = Buffer.concat([pad(rs.bytes()), pad(rs.bytes())]);
    return verify(curve.hash, data, { key, dsaEncoding: 'ieee-p1363' }, p1363);
  }
  throw new Error(`unsupported signature algorithm '${alg}'`);
}

export type CertCheck = { ok: true; ca: Buffer } | { ok: false; reason: string };

/**
 * Checks a host certificate as OpenSSH's client does: a host certificate, signed by one of the
 * trusted CA keys, naming `hostname` among its principals (or none), valid at `now`, no unknown
 * critical options, and a signature that verifies.
 */
export function checkHostCertificate(
  cert: OpenSshCertificate,
  opts: { hostname: string; authorities: Buffer[]; now?: Date },
): CertCheck {
  if (cert.type !== HOST_CERT)
    return { ok: false, reason: `certificate '${cert.keyId}' is a user certificate, not a host certificate` };
  const ca = opts.authorities.find((a) => a.equals(cert.signatureKey));
  if (!ca)
    return {
      ok: false,
      reason:
        `certificate '${cert.keyId}' is signed by ${describeKey(cert.signatureKey)}, which no matching ` +
        `@cert-authority line trusts`,
    };
  const now = BigInt(Math.floor((opts.now ?? new Date()).getTime() / 1000));
  if (now < cert.validAfter)
    return { ok: false, reason: `certificate '${cert.keyId}' is not valid yet (from ${formatTime(cert.validAfter)})` };
  if (now >= cert.validBefore)
    return { ok: false, reason: `certificate '${cert.keyId}' expired at ${formatTime(cert.validBefore)}` };
  const host = opts.hostname.toLowerCase();
  // OpenSSH 8.x+ accepts wildcard principals in host certificates; an empty list means any host.
  if (
    cert.principals.length > 0 &&
    !cert.principals.some((p) => matchPatternList(host, p.toLowerCase().replace(/,/g, '')))
  ) {
    return {
      ok: false,
      reason: `certificate '${cert.keyId}' is for ${cert.principals.join(', ')}, not ${opts.hostname}`,
    };
  }
  if (cert.criticalOptions.length > 0)
    return {
      ok: false,
      reason:
        `certificate '${cert.keyId}' has critical options this client does not know: ` +
        `${cert.criticalOptions.join(', ')}`,
    };
  let valid: boolean;
  try {
    valid = verifySshSignature(cert.signatureKey, cert.signedData, cert.signature);
  } catch (e) {
    return { ok: false, reason: `certificate '${cert.keyId}': ${(e as Error).message}` };
  }
  if (!valid)
    return { ok: false, reason: `certificate '${cert.keyId}' has a signature that does not verify with its CA key` };
  return { ok: true, ca };
}

function formatTime(t: bigint): string {
  if (t >= 0xffffffffffffffffn) return 'forever';
  return new Date(Number(t) * 1000).toISOString();
}

/** Fetches the certificate blobs a host offers (`*-cert-v01@openssh.com`). */
export type CertificateFetcher = (host: string, port: number) => Promise<Buffer[]>;

/**
 * ssh2 cannot negotiate certificate host key algorithms, so the certificate comes from a second,
 * unauthenticated handshake by the system ssh-keyscan. It is only trusted because its embedded key
 * must equal the key ssh2's own handshake proved the server holds.
 */
export const keyscanCertificates: CertificateFetcher = (host, port) =>
  new Promise((resolve, reject) => {
    const args = ['-c', '-T', '5', '-p', String(port), '--', host];
    execFile('ssh-keyscan', args, { timeout: 15_000 }, (err, stdout) => {
      // ssh-keyscan exits 1 when the host offers no certificate: that is an answer, not a failure.
      const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
      if (e && (typeof e.code !== 'number' || e.killed)) {
        reject(new Error(`cannot fetch the host certificate for @cert-authority: ${keyscanFailure(e)}`));
        return;
      }
      resolve(certificatesInKeyscanOutput(stdout));
    });
  });

function keyscanFailure(e: Error & { code?: unknown; killed?: boolean }): string {
  if (e.code === 'ENOENT') return 'ssh-keyscan is not installed (it comes with openssh-client)';
  return e.killed ? 'ssh-keyscan timed out' : e.message;
}

function certificatesInKeyscanOutput(stdout: string): Buffer[] {
  const certs: Buffer[] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('#')) continue;
    // With -c, ssh-keyscan 9.2 prints `type base64` without the host field; accept both forms.
    const f = line.trim().split(/\s+/);
    const at = f.findIndex(isCertificateType);
    if (at >= 0 && f[at + 1]) certs.push(Buffer.from(f[at + 1], 'base64'));
  }
  return certs;
}

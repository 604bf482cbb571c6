// Whether the host key a server presents in the handshake is trusted: a plain known-hosts line, or a
// host certificate signed by an @cert-authority; @revoked keys never are. A refusal says why and how to fix it.
import type { Client as SshClient } from 'ssh2';
import { hostId, type HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { checkHostCertificate, parseCertificate, type CertificateFetcher } from './certificate.js';
import {
  certAuthoritiesFor,
  checkHostKey,
  describeKey,
  isRevoked,
  keyTypeOf,
  type HostKeyDecision,
  type KnownHostEntry,
} from './known-hosts.js';
import { withLocalForward } from './tunnel.js';

export interface HostKeyVerifierOptions {
  logger: Logger;
  /** How host certificates are obtained, for hosts an @cert-authority line covers. */
  fetchCertificates: CertificateFetcher;
}

/**
 * Resolves to undefined when `presented` is trusted for host, otherwise to why not (with a hint).
 * `known` is undefined when host keys are not checked (insecure); `via` is the jump host the host is
 * reached through, which certificates are then fetched through too.
 */
export type HostKeyVerifier = (
  host: HostSpec,
  presented: Buffer,
  known: KnownHostEntry[] | undefined,
  via?: SshClient,
) => Promise<string | undefined>;

export function createHostKeyVerifier({ logger, fetchCertificates }: HostKeyVerifierOptions): HostKeyVerifier {
  return async (host, presented, known, via) => {
    const id = hostId(host);
    if (!known) {
      logger.debug(`${id}: host key not checked (insecure): ${describeKey(presented)}`);
      return undefined;
    }
    const decision = checkHostKey(known, host.host, host.port, presented);
    if (decision.ok) {
      logger.debug(`${id}: host key ${describeKey(presented)} matches known-hosts line ${decision.entry.line}`);
      return undefined;
    }
    if (decision.reason === 'revoked') {
      return `${decision.message}. Remove it from the host, or the @revoked line if that was a mistake.`;
    }
    const cas = certAuthoritiesFor(known, host.host, host.port).filter((ca) => !isRevoked(known, ca.key));
    const hint = untrustedKeyHint(host, presented, decision);
    if (cas.length === 0) return `${decision.message}. ${hint}`;

    const certs = via
      ? await withLocalForward(via, host, (port) => fetchCertificates('127.0.0.1', port))
      : await fetchCertificates(host.host, host.port);
    const verdict = checkCertificates(certs, presented, host.host, known, cas);
    if (verdict.ok) {
      const certified = `certified by ${describeKey(verdict.ca)} (certificate '${verdict.keyId}')`;
      logger.debug(`${id}: host key ${describeKey(presented)} ${certified}`);
      return undefined;
    }
    return `${decision.message}, and the @cert-authority check failed: ${verdict.problems.join('; ')}. ${hint}`;
  };
}

/** How to make known-hosts trust the key, when a line for it is missing or differs. */
function untrustedKeyHint(host: HostSpec, presented: Buffer, decision: HostKeyDecision & { ok: false }): string {
  if (decision.reason === 'mismatch') {
    return `If the host was re-keyed on purpose, replace its line; ${keyscanHint(host)}`;
  }
  if (decision.expected.length > 0) {
    const type = keyTypeOf(presented);
    return `Add its ${type} line to known-hosts (check the fingerprint out of band); ${keyscanHint(host, type)}`;
  }
  return `Add its line to known-hosts (check the fingerprint out of band); ${keyscanHint(host)}`;
}

/** `type` narrows the scan to the one key type the line is missing for (ssh-keyscan -t takes the full name). */
function keyscanHint(h: { host: string; port: number }, type?: string): string {
  return `get the line with: ssh-keyscan ${type ? `-t ${type} ` : ''}-p ${h.port} ${h.host}`;
}

type CertificateVerdict = { ok: true; ca: Buffer; keyId: string } | { ok: false; problems: string[] };

/** Looks among the host's certificates for one that certifies `presented` and that one of `cas` signed. */
function checkCertificates(
  certs: Buffer[],
  presented: Buffer,
  hostname: string,
  known: KnownHostEntry[],
  cas: KnownHostEntry[],
): CertificateVerdict {
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
    const check = checkHostCertificate(cert, { hostname, authorities: cas.map((c) => c.key) });
    if (check.ok) return { ok: true, ca: check.ca, keyId: cert.keyId };
    problems.push(check.reason);
  }
  if (problems.length === 0) problems.push(`the host offers no certificate for its ${describeKey(presented)} key`);
  return { ok: false, problems };
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkHostCertificate,
  HOST_CERT,
  parseCertificate,
  USER_CERT,
  verifySshSignature,
  type OpenSshCertificate,
} from '../../src/ssh/certificate.js';

let dir: string;
const blobOf = (file: string) => Buffer.from(readFileSync(file, 'utf8').trim().split(/\s+/)[1], 'base64');

function keygen(name: string, type: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
  return file;
}

/** Signs name.pub with the CA and returns the parsed certificate. */
function sign(ca: string, key: string, args: string[]): OpenSshCertificate {
  execFileSync('ssh-keygen', ['-q', '-s', ca, ...args, `${key}.pub`]);
  return parseCertificate(blobOf(`${key}-cert.pub`));
}

let caEd: string;
let caRsa: string;
let caEcdsa: string;
let otherCa: string;
let hostKey: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-cert-'));
  caEd = keygen('ca_ed', 'ed25519');
  caRsa = keygen('ca_rsa', 'rsa');
  caEcdsa = keygen('ca_ecdsa', 'ecdsa');
  otherCa = keygen('ca_other', 'ed25519');
  hostKey = keygen('host', 'ed25519');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('parses every field of a host certificate made by ssh-keygen', () => {
  const cert = sign(caEd, hostKey, ['-I', 'web1-id', '-h', '-n', '127.0.0.1,web1.example.com', '-z', '42']);
  expect(cert.certType).toBe('ssh-ed25519-cert-v01@openssh.com');
  expect(cert.keyType).toBe('ssh-ed25519');
  expect(cert.type).toBe(HOST_CERT);
  expect(cert.keyId).toBe('web1-id');
  expect(cert.serial).toBe(42n);
  expect(cert.principals).toEqual(['127.0.0.1', 'web1.example.com']);
  expect(cert.validBefore).toBe(0xffffffffffffffffn);
  expect(cert.publicKey.equals(blobOf(`${hostKey}.pub`))).toBe(true);
  expect(cert.signatureKey.equals(blobOf(`${caEd}.pub`))).toBe(true);
});

test.each([
  ['ed25519', () => caEd],
  ['rsa (rsa-sha2-512)', () => caRsa],
  ['ecdsa', () => caEcdsa],
])('a host certificate signed by a trusted %s CA is accepted', (_name, ca) => {
  const cert = sign(ca(), hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1']);
  expect(checkHostCertificate(cert, { hostname: '127.0.0.1', authorities: [blobOf(`${ca()}.pub`)] })).toMatchObject({
    ok: true,
  });
});

test('other CAs, other names, user certificates and expired or future certificates are refused', () => {
  const trusted = [blobOf(`${caEd}.pub`)];
  const good = sign(caEd, hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1,*.example.com']);
  expect(checkHostCertificate(good, { hostname: 'web9.example.com', authorities: trusted })).toMatchObject({
    ok: true,
  });
  expect(checkHostCertificate(good, { hostname: '127.0.0.2', authorities: trusted })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('not 127.0.0.2'),
  });

  const wrongCa = sign(otherCa, hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1']);
  expect(checkHostCertificate(wrongCa, { hostname: '127.0.0.1', authorities: trusted })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('which no matching @cert-authority line trusts'),
  });

  const user = sign(caEd, hostKey, ['-I', 'id', '-n', '127.0.0.1']);
  expect(user.type).toBe(USER_CERT);
  expect(checkHostCertificate(user, { hostname: '127.0.0.1', authorities: trusted })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('user certificate'),
  });

  const expired = sign(caEd, hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1', '-V', '-2d:-1d']);
  expect(checkHostCertificate(expired, { hostname: '127.0.0.1', authorities: trusted })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('expired'),
  });
  const future = sign(caEd, hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1', '-V', '+1d:+2d']);
  expect(checkHostCertificate(future, { hostname: '127.0.0.1', authorities: trusted })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('not valid yet'),
  });
  // The same certificate is fine at a time inside its window.
  expect(
    checkHostCertificate(future, {
      hostname: '127.0.0.1',
      authorities: trusted,
      now: new Date(Date.now() + 36 * 3600_000),
    }),
  ).toMatchObject({ ok: true });
});

test('an empty principal list is valid for any host', () => {
  const cert = sign(caEd, hostKey, ['-I', 'id', '-h']);
  expect(cert.principals).toEqual([]);
  expect(checkHostCertificate(cert, { hostname: 'anything', authorities: [blobOf(`${caEd}.pub`)] })).toMatchObject({
    ok: true,
  });
});

test('a tampered certificate fails signature verification', () => {
  const cert = sign(caEd, hostKey, ['-I', 'id', '-h', '-n', '127.0.0.1']);
  expect(verifySshSignature(cert.signatureKey, cert.signedData, cert.signature)).toBe(true);
  const tampered = Buffer.from(cert.signedData);
  tampered[tampered.length - 40] ^= 1;
  expect(verifySshSignature(cert.signatureKey, tampered, cert.signature)).toBe(false);
  // Swap the principal for another name of the same length: signature no longer matches.
  const blob = blobOf(`${hostKey}-cert.pub`);
  const at = blob.indexOf(Buffer.from('127.0.0.1'));
  Buffer.from('127.0.0.2').copy(blob, at);
  const forged = parseCertificate(blob);
  expect(forged.principals).toEqual(['127.0.0.2']);
  expect(checkHostCertificate(forged, { hostname: '127.0.0.2', authorities: [blobOf(`${caEd}.pub`)] })).toMatchObject({
    ok: false,
    reason: expect.stringContaining('does not verify'),
  });
});

test('truncated data and non-certificates are rejected with a clear error', () => {
  expect(() => parseCertificate(blobOf(`${hostKey}.pub`))).toThrow(/not a supported OpenSSH certificate type/);
  const cert = blobOf(`${hostKey}-cert.pub`);
  expect(() => parseCertificate(cert.subarray(0, cert.length - 10))).toThrow(/truncated/);
});

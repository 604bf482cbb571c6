import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  certAuthoritiesFor,
  checkHostKey,
  describeKey,
  entryMatches,
  fingerprint,
  hashHostName,
  HOST_KEY_ALGORITHMS,
  hostKeyAlgorithmsFor,
  isRevoked,
  keyTypeOf,
  keyTypeOfAlgorithm,
  knownHostsName,
  matchPatternList,
  parseKnownHosts,
} from '../../src/ssh/known-hosts.js';

interface Key {
  type: string;
  b64: string;
  blob: Buffer;
  file: string;
}

let dir: string;
let ed: Key;
let ed2: Key;
let ecdsa: Key;
let ecdsa384: Key;
let rsa: Key;
let rsa2: Key;

function makeKey(name: string, type: string, bits?: number): Key {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-f', file]);
  const [t, b64] = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/);
  return { type: t, b64, blob: Buffer.from(b64, 'base64'), file };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-kh-'));
  ed = makeKey('ed', 'ed25519');
  ed2 = makeKey('ed2', 'ed25519');
  ecdsa = makeKey('ecdsa', 'ecdsa');
  ecdsa384 = makeKey('ecdsa384', 'ecdsa', 384);
  rsa = makeKey('rsa', 'rsa');
  rsa2 = makeKey('rsa2', 'rsa', 2048);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (hosts: string, k: Key, marker = '') => `${marker ? `${marker} ` : ''}${hosts} ${k.type} ${k.b64}`;

describe('parseKnownHosts', () => {
  test('reads plain, marker and commented lines, skipping blanks and comments', () => {
    const text = [
      '# a comment',
      '',
      `  ${line('web1,web2', ed)} deploy key`,
      line('*', ed2, '@cert-authority'),
      line('*', rsa, '@revoked'),
      '\r',
    ].join('\r\n');
    const { entries, errors } = parseKnownHosts(text);
    expect(errors).toEqual([]);
    expect(entries.map((e) => [e.line, e.marker, e.hosts, e.keyType])).toEqual([
      [3, undefined, 'web1,web2', 'ssh-ed25519'],
      [4, 'cert-authority', '*', 'ssh-ed25519'],
      [5, 'revoked', '*', 'ssh-rsa'],
    ]);
    expect(entries[0].comment).toBe('deploy key');
    expect(entries[0].key.equals(ed.blob)).toBe(true);
  });

  test('reports malformed lines with their line numbers and keeps the good ones', () => {
    const text = [
      'web1 ssh-ed25519', // too few fields
      `web1 ssh-foo ${ed.b64}`, // unknown type
      'web1 ssh-ed25519 !!!notbase64', // bad base64
      `web1 ssh-rsa ${ed.b64}`, // declared type differs from the blob's
      `@bogus web1 ${ed.type} ${ed.b64}`, // unknown marker
      `|1|abc|def ${ed.type} ${ed.b64}`, // hashed field of the wrong size
      line('web1', ed),
    ].join('\n');
    const { entries, errors } = parseKnownHosts(text);
    expect(entries).toHaveLength(1);
    expect(errors.map((e) => e.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors[3].message).toMatch(/does not match the key's own type 'ssh-ed25519'/);
    expect(errors[4].message).toMatch(/unknown marker '@bogus'/);
  });
});

describe('host matching', () => {
  test('port 22 is looked up as the bare name, other ports as [host]:port', () => {
    expect(knownHostsName('web1', 22)).toBe('web1');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  test('wildcards, negation and case follow OpenSSH', () => {
    expect(matchPatternList('web1.example.com', '*.example.com')).toBe(true);
    expect(matchPatternList('web1.example.com', 'web?.example.com')).toBe(true);
    expect(matchPatternList('web10.example.com', 'web?.example.com')).toBe(false);
    expect(matchPatternList('db.example.com', '*.example.com,!db.example.com')).toBe(false);
    // A negation alone never matches anything.
    expect(matchPatternList('web1', '!db')).toBe(false);
    expect(matchPatternList('[127.0.0.1]:2222', '[127.0.0.1]:*')).toBe(true);
    // Regex metacharacters in a pattern are literal.
    expect(matchPatternList('web1xexample', 'web1.example')).toBe(false);
    const [entry] = parseKnownHosts(line('Web1.Example.COM', ed)).entries;
    expect(entryMatches(entry, 'WEB1.example.com', 22)).toBe(true);
  });

  test('a bare host line does not cover other ports, and [host]:port covers only that port', () => {
    const known = [line('web1', ed), line('[web1]:2222', ed2)].join('\n');
    expect(checkHostKey(known, 'web1', 22, ed.blob)).toMatchObject({ ok: true });
    expect(checkHostKey(known, 'web1', 2222, ed2.blob)).toMatchObject({ ok: true });
    expect(checkHostKey(known, 'web1', 2222, ed.blob)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(checkHostKey(known, 'web1', 2223, ed2.blob)).toMatchObject({ ok: false, reason: 'unknown' });
  });
});

describe('checkHostKey', () => {
  test('accepts the listed key, among several key types and comma lists', () => {
    const known = [line('web1,web2,10.0.0.1', rsa), line('web1,web2', ed), line('web2', ecdsa)].join('\n');
    for (const k of [rsa, ed]) expect(checkHostKey(known, 'web1', 22, k.blob)).toMatchObject({ ok: true });
    const decision = checkHostKey(known, 'web2', 22, ecdsa.blob);
    expect(decision.ok && decision.entry.line).toBe(3);
  });

  test('a different key for a known host is a mismatch that names both fingerprints', () => {
    const known = line('[127.0.0.1]:2201', ed);
    const decision = checkHostKey(known, '127.0.0.1', 2201, ed2.blob);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.reason).toBe('mismatch');
    expect(decision.expected).toHaveLength(1);
    expect(decision.message).toContain(fingerprint(ed2.blob));
    expect(decision.message).toContain(fingerprint(ed.blob));
    expect(decision.message).toContain('[127.0.0.1]:2201');
  });

  test('a key of a type known-hosts does not list for the host is unknown, naming the listed types, not a mismatch', () => {
    const known = [line('[127.0.0.1]:2201', ed), line('[127.0.0.1]:2201', ecdsa), line('[127.0.0.1]:2202', rsa2)].join(
      '\n',
    );
    const d = checkHostKey(known, '127.0.0.1', 2201, rsa.blob);
    expect(d).toMatchObject({ ok: false, reason: 'unknown' });
    if (d.ok) return;
    expect(d.message).toBe(
      `[127.0.0.1]:2201 presented the ssh-rsa ${fingerprint(rsa.blob)} key, but known-hosts lists only ssh-ed25519, ecdsa-sha2-nistp256 keys for it ` +
        `(ssh-ed25519 ${fingerprint(ed.blob)} (line 1), ecdsa-sha2-nistp256 ${fingerprint(ecdsa.blob)} (line 2))`,
    );
    expect(d.message).not.toMatch(/middle/);
    expect(d.expected.map((e) => e.line)).toEqual([1, 2]);
    // Each ECDSA curve is a type of its own, as in the algorithm names.
    expect(checkHostKey(known, '127.0.0.1', 2201, ecdsa384.blob)).toMatchObject({ ok: false, reason: 'unknown' });
  });

  test('a mismatch is only a listed key of the same type that differs, and names the listed and the presented key', () => {
    const known = [line('web1', ed), line('web1', rsa2)].join('\n');
    const d = checkHostKey(known, 'web1', 22, rsa.blob);
    expect(d).toMatchObject({ ok: false, reason: 'mismatch' });
    if (d.ok) return;
    expect(d.message).toBe(
      `the ssh-rsa ${fingerprint(rsa.blob)} key presented by web1 does not match known-hosts, which lists ssh-rsa ${fingerprint(rsa2.blob)} (line 2) — the host was re-keyed or someone is in the middle`,
    );
    expect(d.expected.map((e) => e.line)).toEqual([2]);
    // The other-type line neither vouches for nor contradicts it; the same key on another line still matches.
    expect(checkHostKey(`${known}\n${line('web1', rsa)}`, 'web1', 22, rsa.blob)).toMatchObject({ ok: true });
  });

  test('an unlisted host is unknown; negated patterns exclude hosts', () => {
    const known = line('*.example.com,!db.example.com', ed);
    expect(checkHostKey(known, 'web.example.com', 22, ed.blob)).toMatchObject({ ok: true });
    const d = checkHostKey(known, 'db.example.com', 22, ed.blob);
    expect(d).toMatchObject({ ok: false, reason: 'unknown' });
    expect(!d.ok && d.message).toContain(`ssh-ed25519 ${fingerprint(ed.blob)}`);
  });

  test('@revoked wins over a matching plain line; @cert-authority lines are not plain keys', () => {
    const known = [line('web1', ed), line('*', ed, '@revoked'), line('web2', ed2, '@cert-authority')].join('\n');
    expect(checkHostKey(known, 'web1', 22, ed.blob)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(checkHostKey(known, 'web2', 22, ed2.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(isRevoked(known, ed.blob)).toBe(true);
    expect(isRevoked(known, ed2.blob)).toBe(false);
  });

  test('certAuthoritiesFor returns only the CA lines whose patterns cover the host', () => {
    const known = [
      line('*.prod.example.com', ed, '@cert-authority'),
      line('[127.0.0.1]:*', ed2, '@cert-authority'),
      line('web1.prod.example.com', rsa),
    ].join('\n');
    expect(certAuthoritiesFor(known, 'web1.prod.example.com', 22).map((e) => e.line)).toEqual([1]);
    expect(certAuthoritiesFor(known, '127.0.0.1', 2201).map((e) => e.line)).toEqual([2]);
    expect(certAuthoritiesFor(known, '127.0.0.1', 22)).toEqual([]);
  });
});

describe('hostKeyAlgorithmsFor', () => {
  const rsaAlgorithms = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

  test('lists exactly the host key algorithms ssh2 offers by default, in its order', () => {
    expect(HOST_KEY_ALGORITHMS).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      ...rsaAlgorithms,
    ]);
    // ssh2 refuses a name it does not support, so an upgrade that changes its list must show here.
    const ssh2Constants = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as {
      DEFAULT_SERVER_HOST_KEY: string[];
    };
    expect(HOST_KEY_ALGORITHMS).toEqual(ssh2Constants.DEFAULT_SERVER_HOST_KEY);
    expect(keyTypeOfAlgorithm('rsa-sha2-512')).toBe('ssh-rsa');
    expect(keyTypeOfAlgorithm('ecdsa-sha2-nistp384')).toBe('ecdsa-sha2-nistp384');
  });

  test('an RSA-only line asks for the RSA algorithms first, then the rest in preference order', () => {
    expect(hostKeyAlgorithmsFor(line('web1', rsa), 'web1', 22)).toEqual([
      ...rsaAlgorithms,
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
    ]);
  });

  test('an ECDSA-only line asks for its curve first', () => {
    expect(hostKeyAlgorithmsFor(line('web1', ecdsa), 'web1', 22)).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      ...rsaAlgorithms,
    ]);
    expect(hostKeyAlgorithmsFor(line('web1', ecdsa384), 'web1', 22)!.slice(0, 2)).toEqual([
      'ecdsa-sha2-nistp384',
      'ssh-ed25519',
    ]);
  });

  test('ECDSA and RSA lines: both first, in preference order, whatever the line order', () => {
    const list = hostKeyAlgorithmsFor([line('web1', rsa), line('web1', ecdsa)].join('\n'), 'web1', 22);
    expect(list).toEqual([
      'ecdsa-sha2-nistp256',
      ...rsaAlgorithms,
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
    ]);
  });

  test('a known ed25519 key keeps the whole list as is (OpenSSH: the first-preference type is known)', () => {
    expect(hostKeyAlgorithmsFor(line('web1', ed), 'web1', 22)).toEqual([...HOST_KEY_ALGORITHMS]);
    expect(hostKeyAlgorithmsFor([line('web1', rsa), line('web1', ed)].join('\n'), 'web1', 22)).toEqual([
      ...HOST_KEY_ALGORITHMS,
    ]);
  });

  test('only lines for host:port count: [host]:port entries, patterns and other hosts', () => {
    const known = [
      line('[127.0.0.1]:2201', rsa),
      line('[127.0.0.1]:2202', ecdsa),
      line('127.0.0.1', ed),
      line('*.example.com', ecdsa),
    ].join('\n');
    expect(hostKeyAlgorithmsFor(known, '127.0.0.1', 2201)!.slice(0, 3)).toEqual(rsaAlgorithms);
    expect(hostKeyAlgorithmsFor(known, '127.0.0.1', 2202)![0]).toBe('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithmsFor(known, '127.0.0.1', 22)).toEqual([...HOST_KEY_ALGORITHMS]);
    expect(hostKeyAlgorithmsFor(known, 'web1.example.com', 22)![0]).toBe('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithmsFor(known, '127.0.0.1', 2203)).toBeUndefined();
    expect(hostKeyAlgorithmsFor(known, 'db.internal', 22)).toBeUndefined();
  });

  test('hashed host names (ssh-keygen -H) are matched', () => {
    const file = join(dir, 'known_hosts_algs');
    writeFileSync(file, `${line('[127.0.0.1]:2201', rsa)}\n${line('web1.example.com', ecdsa)}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('127.0.0.1');
    expect(hostKeyAlgorithmsFor(text, '127.0.0.1', 2201)!.slice(0, 3)).toEqual(rsaAlgorithms);
    expect(hostKeyAlgorithmsFor(text, 'web1.example.com', 22)![0]).toBe('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithmsFor(text, '127.0.0.1', 2202)).toBeUndefined();
  });

  test('@cert-authority lines alone leave ssh2 its defaults; @revoked lines and revoked keys do not count', () => {
    expect(hostKeyAlgorithmsFor(line('*', rsa, '@cert-authority'), 'web1', 22)).toBeUndefined();
    expect(hostKeyAlgorithmsFor(line('web1', rsa, '@revoked'), 'web1', 22)).toBeUndefined();
    // web1's RSA line is for a revoked key: only its ECDSA line orders the list.
    const known = [line('web1', rsa), line('web1', ecdsa), line('*', rsa, '@revoked')].join('\n');
    expect(hostKeyAlgorithmsFor(known, 'web1', 22)).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      ...rsaAlgorithms,
    ]);
    // A line naming the host with nothing usable (a revoked key) still gives an explicit list, in default order.
    expect(hostKeyAlgorithmsFor([line('web1', rsa), line('*', rsa, '@revoked')].join('\n'), 'web1', 22)).toEqual([
      ...HOST_KEY_ALGORITHMS,
    ]);
  });

  test('accepts parsed entries as well as text', () => {
    const { entries } = parseKnownHosts(line('web1', rsa));
    expect(hostKeyAlgorithmsFor(entries, 'web1', 22)).toEqual(hostKeyAlgorithmsFor(line('web1', rsa), 'web1', 22));
  });
});

describe('hashed lines', () => {
  test('lines hashed by the real ssh-keygen -H match, for port 22 and [host]:port', () => {
    const file = join(dir, 'known_hosts_hashed');
    writeFileSync(file, `${line('web1.example.com', ed)}\n${line('[127.0.0.1]:2201', ed2)}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('web1.example.com');
    expect(text).toMatch(/^\|1\|/m);
    const { entries, errors } = parseKnownHosts(text);
    expect(errors).toEqual([]);
    expect(entries).toHaveLength(2);
    expect(checkHostKey(text, 'web1.example.com', 22, ed.blob)).toMatchObject({ ok: true });
    expect(checkHostKey(text, '127.0.0.1', 2201, ed2.blob)).toMatchObject({ ok: true });
    // Same host, wrong key: a mismatch, even though the name is hashed.
    expect(checkHostKey(text, '127.0.0.1', 2201, ed.blob)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(checkHostKey(text, '127.0.0.1', 2202, ed2.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(checkHostKey(text, 'web2.example.com', 22, ed.blob)).toMatchObject({ ok: false, reason: 'unknown' });
  });

  test('hashHostName reproduces ssh-keygen -H with the same salt', () => {
    const file = join(dir, 'known_hosts_one');
    writeFileSync(file, `${line('[10.1.2.3]:2222', ed)}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const hashed = readFileSync(file, 'utf8').split(/\s+/)[0];
    const salt = Buffer.from(hashed.split('|')[2], 'base64');
    expect(hashHostName('[10.1.2.3]:2222', salt)).toBe(hashed);
    expect(hashHostName('10.1.2.3', salt)).not.toBe(hashed);
  });
});

describe('fingerprints and key types', () => {
  test.each(['ed', 'ecdsa', 'rsa'])('%s: matches ssh-keygen -l', (name) => {
    const k = { ed, ecdsa, rsa }[name as 'ed' | 'ecdsa' | 'rsa'];
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k.file}.pub`], { encoding: 'utf8' });
    expect(out.split(/\s+/)[1]).toBe(fingerprint(k.blob));
    expect(fingerprint(k.blob)).not.toMatch(/=$/);
    expect(keyTypeOf(k.blob)).toBe(k.type);
    expect(describeKey(k.blob)).toBe(`${k.type} ${fingerprint(k.blob)}`);
  });

  test('a blob without a type name is rejected', () => {
    expect(() => keyTypeOf(Buffer.from([0, 0, 0]))).toThrow(/too short/);
    expect(() => keyTypeOf(Buffer.from([0, 0, 1, 0, 65]))).toThrow(/no valid type/);
    expect(describeKey(Buffer.alloc(2))).toMatch(/^unknown-type SHA256:/);
  });
});

// The credentials' keys: the private-key and passphrase inputs (keys made by ssh-keygen) and the known-hosts cache.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/common/inputs.js';
import { knownHostEntries, parsePrivateKey } from '../../src/ssh/keys.js';
import { rejection } from './helpers.js';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fivestep-keys-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A new key pair from ssh-keygen (OpenSSH format): the private key text and the public key line. */
function keygen(type: 'rsa' | 'ed25519', passphrase = ''): { privateKey: string; publicKey: string } {
  const file = join(work, `${type}_${Math.random().toString(36).slice(2, 8)}`);
  const bits = type === 'rsa' ? ['-b', '2048'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', passphrase, '-C', 'fivestep-keys', '-f', file]);
  return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

test('a missing or wrong passphrase, or a bad key, is an error naming the input', async () => {
  const { privateKey } = keygen('rsa', 'right');
  const missing = await rejection((async () => parsePrivateKey(privateKey))());
  expect(missing).toBeInstanceOf(InputError);
  expect(missing.message).toBe("input 'passphrase': is required: the private key is encrypted");
  const wrong = await rejection((async () => parsePrivateKey(privateKey, 'wrong'))());
  expect(wrong.message).toBe("input 'passphrase': does not decrypt the private key (wrong passphrase?)");

  for (const bad of ['', 'not a key', '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----']) {
    const e = await rejection((async () => parsePrivateKey(bad))());
    expect((e as InputError).input).toBe('private-key');
    expect(e.message).not.toContain('AAAA');
  }
  const client = keygen('ed25519');
  const pub = await rejection((async () => parsePrivateKey(client.publicKey))());
  expect(pub.message).toBe("input 'private-key': holds a public key; pass the private key");
  // Windows line endings and surrounding blank lines are tolerated.
  expect(parsePrivateKey(`\n${client.privateKey.replace(/\n/g, '\r\n')}\n`).type).toBe('ssh-ed25519');
});

test('a key is parsed once per text and passphrase', () => {
  const { privateKey } = keygen('rsa', 'right');
  const key = parsePrivateKey(privateKey, 'right');
  expect(parsePrivateKey(`${privateKey}\n\n`, 'right')).toBe(key);
  expect(key.type).toBe('ssh-rsa');
});

test('known-hosts text is parsed once, and a new text gets its own entries', () => {
  const client = keygen('ed25519');
  const text = `[127.0.0.1]:2222 ${client.publicKey}\n`;
  const entries = knownHostEntries(text);
  expect(entries).toHaveLength(1);
  expect(knownHostEntries(text)).toBe(entries);
  expect(knownHostEntries(`${text}# another text\n`)).not.toBe(entries);
});

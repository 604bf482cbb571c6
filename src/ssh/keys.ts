// The keys in SshCredentials, parsed once per run: the client's private key (the `private-key` and
// `passphrase` inputs) and the known-hosts lines host keys are checked against.
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { InputError } from '../common/inputs.js';
import { parseKnownHosts, type KnownHostEntry } from './known-hosts.js';

const { utils } = ssh2;

const keyCache = new Map<string, ParsedKey>();

/**
 * Parses and validates the `private-key` input (OpenSSH or PEM), decrypting it with `passphrase`.
 * Throws an InputError naming `private-key` or `passphrase`; never echoes key material.
 * Results are cached, so an encrypted key's (slow, bcrypt) decryption happens once per run.
 */
export function parsePrivateKey(text: string, passphrase?: string): ParsedKey {
  // Secrets pasted from Windows or with stray indentation still parse.
  const normalized = text.replace(/\r\n?/g, '\n').trim();
  if (normalized === '') {
    throw new InputError('private-key', 'is empty; pass the private key text (e.g. ${{ secrets.DEPLOY_KEY }})');
  }
  const cacheKey = createHash('sha256')
    .update(normalized)
    .update('\0')
    .update(passphrase ?? '')
    .digest('hex');
  const cached = keyCache.get(cacheKey);
  if (cached) return cached;
  const parsed = utils.parseKey(normalized, passphrase === '' ? undefined : passphrase);
  if (parsed instanceof Error) throw keyParseError(parsed.message);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) throw new InputError('private-key', 'holds a public key; pass the private key');
  keyCache.set(cacheKey, key);
  return key;
}

/** The input to blame for ssh2's parse error `msg`: a missing or wrong passphrase, or the key text itself. */
function keyParseError(msg: string): InputError {
  if (/no passphrase/i.test(msg)) return new InputError('passphrase', 'is required: the private key is encrypted');
  if (/passphrase|decrypt|integrity/i.test(msg)) {
    return new InputError('passphrase', 'does not decrypt the private key (wrong passphrase?)');
  }
  return new InputError(
    'private-key',
    `cannot be parsed as an OpenSSH or PEM private key (${msg}); pass the whole key, BEGIN and END lines included`,
  );
}

/**
 * known-hosts parsed once per text: every session keeps the entries it was checked against, so a
 * parse per connection made a thousand-host rollout hold a thousand copies of a thousand lines.
 */
const parsedKnownHosts = new Map<string, KnownHostEntry[]>();

/** The entries of a known-hosts text, from the cache when this text was parsed before. */
export function knownHostEntries(text: string): KnownHostEntry[] {
  let entries = parsedKnownHosts.get(text);
  if (!entries) {
    entries = parseKnownHosts(text).entries;
    // One run has one known-hosts text (a jump host shares it); a bound keeps tests that make many from growing it.
    if (parsedKnownHosts.size >= 8) parsedKnownHosts.clear();
    parsedKnownHosts.set(text, entries);
  }
  return entries;
}

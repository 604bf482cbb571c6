// src/ssh/early-send.ts against real OpenSSH (test/servers/fleet.ts): the signed public-key request goes without
// asking first, and a session's command costs one round trip (its channel was opened ahead), measured through a
// latency proxy (test/servers/latency-proxy.ts). These reach into ssh2's internals: if an ssh2 upgrade changes
// them, these tests say so (the fallback to ssh2's own path keeps working, only slower).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Client as SshClient, ConnectConfig, ParsedKey } from 'ssh2';
import type { HostSpec } from '../../src/common/inputs.js';
import { connectSsh } from '../../src/ssh/connector.js';
import { signWithoutAsking } from '../../src/ssh/early-send.js';
import type { RemoteSession, SshCredentials } from '../../src/ssh/types.js';
import { Fleet } from '../servers/fleet.js';
import { startLatencyProxies, type LatencyProxies } from '../servers/latency-proxy.js';
import { rejection } from './helpers.js';

let fleet: Fleet;
const clients: SshClient[] = [];
const sessions: RemoteSession[] = [];
const proxies: LatencyProxies[] = [];

beforeAll(async () => {
  // DEBUG3: sshd logs whether it was asked about a key ("querying") and which signature it verified.
  fleet = await Fleet.start(1, { logLevel: 'DEBUG3' });
}, 30_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.end();
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await fleet?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sshdLog = () => readFileSync(join(fleet.hosts[0].dir, 'sshd.log'), 'utf8');

/** A plain ssh2 client logged in with `key` as the connector does it; `early` sends the signed request at once. */
async function rawLogin(key: ParsedKey, early: boolean): Promise<{ debug: string[]; sshd: string }> {
  const debug: string[] = [];
  const before = sshdLog().length;
  const client = new ssh2.Client();
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: fleet.hosts[0].port,
      username: fleet.user,
      debug: (line) => debug.push(line),
      authHandler: (_methods, _partial, next) =>
        (next as (m: unknown) => void)({ type: 'publickey', username: fleet.user, key }),
    });
    if (early) expect(signWithoutAsking(client, key)).toBe(true);
  });
  // sshd's log lines for this login (its monitor writes them as it goes; the login is done by now).
  return { debug, sshd: sshdLog().slice(before) };
}

function parse(text: string, passphrase?: string): ParsedKey {
  const key = ssh2.utils.parseKey(text, passphrase);
  if (key instanceof Error) throw key;
  return Array.isArray(key) ? key[0] : key;
}

describe('public-key authentication without asking first', () => {
  const ASK = 'Sending USERAUTH_REQUEST (publickey -- check)';
  const SIGNED = 'Sending USERAUTH_REQUEST (publickey)';

  test('ed25519: the signed request goes at once, and the host accepts it', async () => {
    // One round trip less per connection: no "would you accept this key?" before the signature.
    const key = parse(fleet.clientKey);
    const { debug, sshd } = await rawLogin(key, true);
    expect(debug.some((l) => l.includes(SIGNED))).toBe(true);
    expect(debug.some((l) => l.includes(ASK) || l.includes('USERAUTH_PK_OK'))).toBe(false);
    expect(sshd).not.toMatch(/querying public key/);
    expect(sshd).toMatch(/ED25519 signature using ssh-ed25519 verified/);
  });

  test('ed25519 without it: ssh2 asks first (what the test above would see if early sending broke)', async () => {
    const { debug, sshd } = await rawLogin(parse(fleet.clientKey), false);
    expect(debug.some((l) => l.includes(ASK))).toBe(true);
    expect(debug.some((l) => l.includes('Received USERAUTH_PK_OK'))).toBe(true);
    expect(sshd).toMatch(/querying public key ssh-ed25519/);
  });

  test('RSA: signed at once with the rsa-sha2-256 hash the request names', async () => {
    // An RSA key signs with the hash its algorithm name says (SHA-1 would be refused by OpenSSH 8.8+).
    const { privateKey } = await fleet.rsaKeyWithPassphrase('early pass');
    const key = parse(privateKey, 'early pass');
    const early = await rawLogin(key, true);
    expect(early.debug.some((l) => l.includes(SIGNED))).toBe(true);
    expect(early.debug.some((l) => l.includes(ASK))).toBe(false);
    expect(early.sshd).not.toMatch(/querying public key/);
    expect(early.sshd).toMatch(/RSA signature using rsa-sha2-256 verified/);

    const asked = await rawLogin(key, false);
    expect(asked.debug.some((l) => l.includes(ASK))).toBe(true);
    expect(asked.sshd).toMatch(/querying public key rsa-sha2-256/);
  });

  // A key the host refuses: covered by test/ssh/connector.test.ts ("a key the hosts do not accept fails at once
  // with a clear message"), which goes through the connector and so through signWithoutAsking.
});

describe('a command costs one round trip', () => {
  const ONE_WAY_MS = 150;
  const RTT = 2 * ONE_WAY_MS;

  /** Host 0 behind its own latency proxy: the spec and credentials that reach it there. */
  async function behindProxy(
    oneWayMs: number,
  ): Promise<{ spec: HostSpec; creds: SshCredentials; proxy: LatencyProxies }> {
    const h = fleet.hosts[0];
    const proxy = await startLatencyProxies([{ host: h.host, port: h.port }], oneWayMs);
    proxies.push(proxy);
    const port = proxy.ports[0];
    // The host's own key, under the name the client dials.
    const knownHosts = `[127.0.0.1]:${port} ${h.hostKey.split(/\s+/).slice(0, 2).join(' ')}\n`;
    return {
      spec: { user: fleet.user, host: '127.0.0.1', port },
      creds: fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts } }),
      proxy,
    };
  }

  async function session(spec: HostSpec, creds: SshCredentials): Promise<RemoteSession> {
    const s = await connectSsh(spec, creds);
    sessions.push(s);
    return s;
  }

  async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
    const start = performance.now();
    const value = await fn();
    return { ms: performance.now() - start, value };
  }

  /** ssh2's own exec (open a channel, then exec on it), until the command's channel closes. */
  function rawExec(client: SshClient, command: string): Promise<number | null> {
    return new Promise((resolve, reject) =>
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let code: number | null = null;
        stream.on('exit', (c: number | null) => (code = c));
        stream.on('close', () => resolve(code));
        stream.resume();
      }),
    );
  }

  test(`at RTT ${RTT} ms: a session's exec takes one round trip, ssh2's own exec two`, async () => {
    // On a real network each round trip is what a user waits for; every step of a rollout is a command.
    const { spec, creds } = await behindProxy(ONE_WAY_MS);
    const s = await session(spec, creds);
    expect((await s.exec('echo first')).stdout).toBe('first\n');
    await sleep(RTT); // the next spare channel is open by now
    const ours = await timed(() => s.exec('true'));
    expect(ours.value.code).toBe(0);

    const raw = new ssh2.Client();
    clients.push(raw);
    const config: ConnectConfig = {
      host: spec.host,
      port: spec.port,
      username: spec.user,
      privateKey: fleet.clientKey,
    };
    await new Promise<void>((resolve, reject) =>
      raw
        .once('ready', () => resolve())
        .once('error', reject)
        .connect(config),
    );
    await rawExec(raw, 'true');
    const theirs = await timed(() => rawExec(raw, 'true'));
    expect(theirs.value).toBe(0);

    console.log(
      `exec at RTT ${RTT} ms: session ${Math.round(ours.ms)} ms (${(ours.ms / RTT).toFixed(2)} RTT), ` +
        `ssh2 client.exec ${Math.round(theirs.ms)} ms (${(theirs.ms / RTT).toFixed(2)} RTT)`,
    );
    // One round trip plus margin for sshd starting the command.
    expect(ours.ms).toBeLessThan(1.5 * RTT);
    // Physically two round trips (open, then exec): a lower bound, so never flaky.
    expect(theirs.ms).toBeGreaterThanOrEqual(2 * RTT);
  }, 30_000);

  test('5 execs at once on one session: each runs and returns its own output', async () => {
    // One takes the spare channel, the others open their own; none may be lost or get another's output.
    const { spec, creds } = await behindProxy(ONE_WAY_MS);
    const s = await session(spec, creds);
    await s.exec('true');
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => s.exec(`echo out${i}; echo err${i} >&2`)));
    expect(results).toEqual(
      Array.from({ length: 5 }, (_, i) => ({ code: 0, stdout: `out${i}\n`, stderr: `err${i}\n` })),
    );
    // And the session goes on working after the burst.
    expect((await s.exec('echo after')).stdout).toBe('after\n');
  }, 30_000);

  test('a lost connection fails the running command, one started as it goes, and later ones: none hangs', async () => {
    // A host that vanishes must fail its step promptly, not leave the rollout waiting on a channel opened ahead.
    const { spec, creds, proxy } = await behindProxy(ONE_WAY_MS);
    const s = await session(spec, creds);
    await s.exec('true');
    await sleep(RTT);
    const running = rejection(s.exec('sleep 20'));
    await sleep(RTT); // the command runs on the host
    const lostAt = performance.now();
    const closing = proxy.close(); // cuts the connection in both directions at once
    const asItGoes = rejection(s.exec('echo late')); // takes the spare channel of a connection already cut
    await closing;
    const [r1, r2] = await Promise.all([running, asItGoes]);
    expect(r1.message).toMatch(/connection lost/);
    expect(r2.message).toMatch(/connection lost/);
    expect(performance.now() - lostAt).toBeLessThan(3000);
    expect((await rejection(s.exec('true'))).message).toMatch(/connection lost/);
  }, 15_000);
});

// Integration tests of the ssh2 Connector against real OpenSSH servers (test/servers/fleet.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { ConnectError, createConnector } from '../../src/ssh/connector.js';
import { fingerprint } from '../../src/ssh/known-hosts.js';
import { PermanentConnectError, type RemoteSession } from '../../src/ssh/types.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { rejection } from './helpers.js';

let fleet: Fleet;
let work: string;
const sessions: RemoteSession[] = [];
const keyBlob = (line: string) => Buffer.from(line.split(/\s+/)[1], 'base64');

/** A connector that logs to memory and retries fast. */
function connector() {
  const logger = new MemoryLogger();
  return { logger, connect: createConnector({ logger, retryDelayMs: 50 }) };
}

async function open(i: number, overrides: Parameters<Fleet['credentials']>[0] = {}): Promise<RemoteSession> {
  const s = await connector().connect(fleet.hosts[i].spec, fleet.credentials(overrides));
  sessions.push(s);
  return s;
}

beforeAll(async () => {
  fleet = await Fleet.start(20, { certHosts: [2], bastion: true });
  work = mkdtempSync(join(tmpdir(), 'fivestep-conn-'));
});

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await fleet?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('host keys', () => {
  test('a wrong host key fails at once with the host, key type and fingerprint, without retrying', async () => {
    const { logger, connect } = connector();
    const h = fleet.hosts[0];
    // known-hosts claims host 0 has host 1's key.
    const knownHosts = `[127.0.0.1]:${h.port} ${fleet.hosts[1].hostKey}\n`;
    const err = await rejection(
      connect(h.spec, fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts }, connectAttempts: 3 })),
    );
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toContain(h.id);
    expect(err.message).toContain(`ssh-ed25519 ${fingerprint(keyBlob(h.hostKey))}`);
    expect(err.message).toContain(fingerprint(keyBlob(fleet.hosts[1].hostKey)));
    expect(err.message).toMatch(/does not match known-hosts/);
    expect(logger.text()).not.toMatch(/retrying/);
  });

  test('an unknown host fails with the ssh-keyscan hint', async () => {
    const h = fleet.hosts[0];
    const err = await rejection(
      connector().connect(
        h.spec,
        fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts: fleet.knownHosts([1]) } }),
      ),
    );
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toContain(`get the line with: ssh-keyscan -p ${h.port} 127.0.0.1`);
    expect(err.message).toContain(fingerprint(keyBlob(h.hostKey)));
  });

  test('hashed known_hosts lines (ssh-keygen -H) are accepted', async () => {
    const file = join(work, 'known_hosts');
    writeFileSync(file, fleet.knownHosts());
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const knownHosts = readFileSync(file, 'utf8');
    expect(knownHosts).not.toContain('127.0.0.1');
    const s = await open(0, { hostKeys: { kind: 'known-hosts', knownHosts } });
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  });

  test('insecure mode accepts any host key', async () => {
    const s = await open(0, { hostKeys: { kind: 'insecure' } });
    expect((await s.exec('echo ok')).code).toBe(0);
  });

  test('@cert-authority: a host key signed by the trusted CA is accepted without a plain line', async () => {
    const knownHosts = `${fleet.ca.knownHostsLine}\n`;
    const s = await open(2, { hostKeys: { kind: 'known-hosts', knownHosts } });
    expect((await s.exec('echo certified')).stdout).toBe('certified\n');
  });

  test('@cert-authority: another CA, or a host without a certificate, is refused', async () => {
    const otherCa = join(work, 'other_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherCa]);
    const otherLine = `@cert-authority [127.0.0.1]:* ${readFileSync(`${otherCa}.pub`, 'utf8').trim()}`;
    const wrongCa = await rejection(
      connector().connect(
        fleet.hosts[2].spec,
        fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts: otherLine } }),
      ),
    );
    expect(wrongCa).toBeInstanceOf(PermanentConnectError);
    expect(wrongCa.message).toMatch(
      /cert-authority check failed: certificate 'fivestep-host2' is signed by ssh-ed25519 SHA256:\S+, which no matching @cert-authority line trusts/,
    );

    const plainHost = await rejection(
      connector().connect(
        fleet.hosts[0].spec,
        fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts: fleet.ca.knownHostsLine } }),
      ),
    );
    expect(plainHost).toBeInstanceOf(PermanentConnectError);
    expect(plainHost.message).toMatch(/the host offers no certificate for its ssh-ed25519 SHA256:/);
  });

  test('@revoked refuses a key even when a plain line lists it', async () => {
    const h = fleet.hosts[0];
    const knownHosts = `${h.knownHostsLine}\n@revoked * ${h.hostKey}\n`;
    const err = await rejection(
      connector().connect(h.spec, fleet.credentials({ hostKeys: { kind: 'known-hosts', knownHosts } })),
    );
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toMatch(/@revoked/);
  });
});

describe('authentication and keys', () => {
  test('a key the hosts do not accept fails at once with a clear message', async () => {
    const { logger, connect } = connector();
    const started = Date.now();
    const err = await rejection(
      connect(
        fleet.hosts[0].spec,
        fleet.credentials({ privateKey: await fleet.unauthorizedKey(), connectAttempts: 3 }),
      ),
    );
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toMatch(
      new RegExp(
        `${fleet.user}@${fleet.hosts[0].id}: authentication failed: the server refused the ssh-ed25519 SHA256:\\S+ key for user '${fleet.user}'`,
      ),
    );
    expect(err.message).toContain(fingerprint(keyBlob(fleet.hosts[0].hostKey)));
    expect(logger.text()).not.toMatch(/retrying/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('an encrypted RSA key works with its passphrase (OpenSSH and PEM formats)', async () => {
    for (const pem of [false, true]) {
      const { privateKey } = await fleet.rsaKeyWithPassphrase('s3cret pass', { pem });
      const s = await open(0, { privateKey, passphrase: 's3cret pass' });
      expect((await s.exec('echo rsa')).stdout).toBe('rsa\n');
    }
  });

  test('a wrong passphrase fails before any connection, naming the input', async () => {
    const { privateKey } = await fleet.rsaKeyWithPassphrase('right');
    // The connector validates the key as parsePrivateKey does (test/ssh/keys.test.ts), before any connection.
    const viaConnect = await rejection(
      connector().connect(fleet.hosts[0].spec, fleet.credentials({ privateKey, passphrase: 'wrong' })),
    );
    expect((viaConnect as InputError).input).toBe('passphrase');
  });
});

describe('transient failures', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A TCP server on a free port that handles each connection with fn, counting them. */
  async function fakeServer(fn: (sock: Socket) => void): Promise<{ port: number; count: () => number }> {
    let n = 0;
    const sockets: Socket[] = [];
    server = createServer((sock) => {
      n++;
      sockets.push(sock);
      fn(sock);
    });
    server.on('close', () => sockets.forEach((s) => s.destroy()));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    return { port: typeof addr === 'object' && addr ? addr.port : 0, count: () => n };
  }

  test('connection refused is retried with backoff, then fails naming the attempts', async () => {
    const { logger, connect } = connector();
    const port = await freePort();
    const started = Date.now();
    const err = await rejection(
      connect({ user: fleet.user, host: '127.0.0.1', port }, fleet.credentials({ connectAttempts: 3 })),
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).attempts).toBe(3);
    expect(err.message).toMatch(new RegExp(`127.0.0.1:${port}: cannot connect after 3 attempts: .*ECONNREFUSED`));
    expect(logger.lines.filter((l) => /retrying in \d+ ms/.test(l))).toHaveLength(2);
    // Backoff 50 ms then 100 ms, with ±20% jitter.
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
  });

  test('a handshake timeout is retried', async () => {
    const silent = await fakeServer(() => {});
    const err = await rejection(
      connector().connect(
        { user: fleet.user, host: '127.0.0.1', port: silent.port },
        fleet.credentials({ connectAttempts: 2, readyTimeoutMs: 300 }),
      ),
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.message).toMatch(/Timed out while waiting for handshake/);
    expect(silent.count()).toBe(2);
  });

  test('a reset while connecting is retried, and a later attempt can succeed', async () => {
    const reset = await fakeServer((sock) => sock.resetAndDestroy());
    const err = await rejection(
      connector().connect(
        { user: fleet.user, host: '127.0.0.1', port: reset.port },
        fleet.credentials({ connectAttempts: 3 }),
      ),
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect(reset.count()).toBe(3);

    // Host 4 is down for the first attempt and back for the second.
    await fleet.killHost(4);
    const { logger, connect } = createConnectorWithRestart(4);
    const s = await connect(fleet.hosts[4].spec, fleet.credentials({ connectAttempts: 3 }));
    sessions.push(s);
    expect((await s.exec('echo up')).stdout).toBe('up\n');
    expect(logger.text()).toMatch(/attempt 1\/3 failed .*ECONNREFUSED/);
  });

  /** A connector that brings host i back while it waits to retry (a host restarting during a rollout). */
  function createConnectorWithRestart(i: number) {
    class RestartOnRetry extends MemoryLogger {
      info(message: string): void {
        super.info(message);
        if (/retrying/.test(message)) void fleet.restartHost(i);
      }
    }
    const logger = new RestartOnRetry();
    return { logger, connect: createConnector({ logger, retryDelayMs: 1000 }) };
  }
});

describe('jump host', () => {
  test('connects through the bastion (its host key is verified too)', async () => {
    const bastion = fleet.bastion();
    const s = await open(5, { jumpHost: bastion.spec });
    const r = await s.exec('echo $SSH_CONNECTION');
    expect(r.code).toBe(0);
    // The target sees the connection coming from a port the bastion's sshd owns, not this process.
    const clientPort = r.stdout.trim().split(' ')[1];
    const owner = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${clientPort} )`], {
      encoding: 'utf8',
    });
    expect(owner).toMatch(/sshd/);
    expect(owner).not.toMatch(/node/);
  });

  test('an unknown bastion key fails, naming the jump host', async () => {
    const bastion = fleet.bastion();
    const err = await rejection(
      connector().connect(
        fleet.hosts[5].spec,
        fleet.credentials({
          jumpHost: bastion.spec,
          hostKeys: { kind: 'known-hosts', knownHosts: fleet.hosts[5].knownHostsLine },
        }),
      ),
    );
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toContain(`${fleet.hosts[5].id} via jump host ${bastion.id}`);
    expect(err.message).toContain(`ssh-keyscan -p ${bastion.port} 127.0.0.1`);
  });

  test('@cert-authority works through the bastion', async () => {
    const knownHosts = `${fleet.ca.knownHostsLine}\n${fleet.bastion().knownHostsLine}\n`;
    const s = await open(2, { jumpHost: fleet.bastion().spec, hostKeys: { kind: 'known-hosts', knownHosts } });
    expect((await s.exec('echo ok')).stdout).toBe('ok\n');
  });
});

test('20 parallel connections succeed', async () => {
  const { connect } = connector();
  const started = Date.now();
  const all = await Promise.all(fleet.hosts.map((h) => connect(h.spec, fleet.credentials())));
  sessions.push(...all);
  const results = await Promise.all(all.map((s) => s.exec('echo $((6*7))')));
  expect(results.map((r) => r.stdout)).toEqual(Array(20).fill('42\n'));
  expect(new Set(all.map((s) => s.id)).size).toBe(20);
  // Loose bound: a regression to serial handshakes with retries would blow past it.
  expect(Date.now() - started).toBeLessThan(20_000);
});

// Hosts with several host key types against real OpenSSH servers: the connector asks for a key type
// known-hosts lists for the host (as OpenSSH's ssh does), and accepts exactly what `ssh` accepts.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MemoryLogger } from '../../src/common/logger.js';
import { createConnector } from '../../src/ssh/connector.js';
import { fingerprint } from '../../src/ssh/known-hosts.js';
import { PermanentConnectError, type RemoteSession } from '../../src/ssh/types.js';
import { Fleet, type FleetHost, type HostKeyType } from '../servers/fleet.js';
import { rejection } from './helpers.js';

const run = promisify(execFile);

/** Hosts with ed25519, ECDSA and RSA keys, the ed25519 one CA-signed (and a bastion with the same three keys). */
let multi: Fleet;
/** A host with only an RSA key. */
let rsaOnly: Fleet;
/** A host with ECDSA and RSA keys, no ed25519. */
let ecdsaRsa: Fleet;
let work: string;
/** Another RSA and ed25519 key, that no host has. */
let strangerRsa: string;
let strangerEd: string;
const sessions: RemoteSession[] = [];

/** The key blob of a public key or known-hosts line: the field after the key type. */
function blobOf(line: string): Buffer {
  const fields = line.split(/\s+/);
  return Buffer.from(fields[fields.findIndex((f) => /^(ssh|ecdsa-sha2)-/.test(f)) + 1], 'base64');
}
const keyOf = (h: FleetHost, type: HostKeyType) => h.knownHostsLines[type] ?? '';
/** `[host]:port type base64` for a key the host does not have. */
const strangerLine = (h: FleetHost, publicKey: string) =>
  `[${h.host}]:${h.port} ${publicKey.split(/\s+/).slice(0, 2).join(' ')}`;

function connector() {
  const logger = new MemoryLogger();
  return { logger, connect: createConnector({ logger, retryDelayMs: 50 }) };
}

/** Connects to h (optionally through a jump host) with exactly these known-hosts lines. */
async function connect(fleet: Fleet, h: FleetHost, lines: string[], jumpHost?: FleetHost) {
  const { logger, connect: c } = connector();
  const s = await c(
    h.spec,
    fleet.credentials({
      hostKeys: { kind: 'known-hosts', knownHosts: `${lines.join('\n')}\n` },
      jumpHost: jumpHost?.spec,
      connectAttempts: 1,
    }),
  );
  sessions.push(s);
  return { session: s, logger };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'fivestep-hkt-'));
  [multi, rsaOnly, ecdsaRsa] = await Promise.all([
    Fleet.start(1, { hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'], bastion: true, certHosts: true }),
    Fleet.start(1, { hostKeyTypes: ['rsa'] }),
    Fleet.start(1, { hostKeyTypes: ['ecdsa', 'rsa'] }),
  ]);
  for (const [name, type] of [
    ['rsa', 'rsa'],
    ['ed', 'ed25519'],
  ])
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(work, name)]);
  strangerRsa = readFileSync(join(work, 'rsa.pub'), 'utf8').trim();
  strangerEd = readFileSync(join(work, 'ed.pub'), 'utf8').trim();
});

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await Promise.all([multi?.stop(), rsaOnly?.stop(), ecdsaRsa?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe('fleet hostKeyTypes', () => {
  test('each host has one key per type, and known-hosts lines for each; hostKey stays the ed25519 one', () => {
    const h = multi.hosts[0];
    expect(Object.keys(h.knownHostsLines).sort()).toEqual(['ecdsa', 'ed25519', 'rsa']);
    expect(h.knownHostsLines.ed25519).toBe(h.knownHostsLine);
    expect(h.knownHostsLine).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 `));
    expect(h.knownHostsLines.ecdsa).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ecdsa-sha2-nistp256 `));
    expect(h.knownHostsLines.rsa).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-rsa `));
    expect(multi.bastion().knownHostsLines.rsa).toMatch(new RegExp(`:${multi.bastion().port} ssh-rsa `));
    expect(rsaOnly.hosts[0].knownHostsLine).toBe(rsaOnly.hosts[0].knownHostsLines.rsa);
    // What the real sshd serves is what the lines say.
    const scanned = execFileSync('ssh-keyscan', ['-p', String(h.port), '127.0.0.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const line of Object.values(h.knownHostsLines)) expect(scanned).toContain(line);
  });
});

describe('a host with ed25519, ECDSA and RSA keys', () => {
  test('known-hosts holding only its RSA line connects, and the verified key is the RSA one', async () => {
    const h = multi.hosts[0];
    const { session, logger } = await connect(multi, h, [keyOf(h, 'rsa')]);
    expect((await session.exec('echo rsa')).stdout).toBe('rsa\n');
    expect(logger.text()).toContain(
      `${h.id}: host key ssh-rsa ${fingerprint(blobOf(keyOf(h, 'rsa')))} matches known-hosts line 1`,
    );
  });

  test('known-hosts holding only its ECDSA line connects with the ECDSA key', async () => {
    const h = multi.hosts[0];
    const { session, logger } = await connect(multi, h, [keyOf(h, 'ecdsa')]);
    expect((await session.exec('echo ecdsa')).stdout).toBe('ecdsa\n');
    expect(logger.text()).toContain(`host key ecdsa-sha2-nistp256 ${fingerprint(blobOf(keyOf(h, 'ecdsa')))} matches`);
  });

  test('with every line listed, the ed25519 key is the one checked (OpenSSH preference order)', async () => {
    const h = multi.hosts[0];
    const { logger } = await connect(multi, h, [keyOf(h, 'rsa'), keyOf(h, 'ecdsa'), keyOf(h, 'ed25519')]);
    expect(logger.text()).toContain(
      `host key ssh-ed25519 ${fingerprint(blobOf(keyOf(h, 'ed25519')))} matches known-hosts line 3`,
    );
  });

  test('an RSA line holding another RSA key is a mismatch naming the listed and the presented key', async () => {
    const h = multi.hosts[0];
    const err = await rejection(connect(multi, h, [strangerLine(h, strangerRsa)]));
    expect(err).toBeInstanceOf(PermanentConnectError);
    expect(err.message).toContain(
      `${h.id}: host key verification failed: the ssh-rsa ${fingerprint(blobOf(keyOf(h, 'rsa')))} key presented by [127.0.0.1]:${h.port} does not match known-hosts`,
    );
    expect(err.message).toContain(`which lists ssh-rsa ${fingerprint(blobOf(strangerRsa))} (line 1)`);
    expect(err.message).toMatch(/re-keyed or someone is in the middle/);
  });

  test('insecure mode leaves ssh2 its defaults (the ed25519 key)', async () => {
    const h = multi.hosts[0];
    const { logger, connect: c } = connector();
    sessions.push(await c(h.spec, multi.credentials({ hostKeys: { kind: 'insecure' } })));
    expect(logger.text()).toContain(
      `host key not checked (insecure): ssh-ed25519 ${fingerprint(blobOf(keyOf(h, 'ed25519')))}`,
    );
  });

  test('@cert-authority alone still works (ssh2 asks for ed25519, the certified key); with an RSA line too, that line is used', async () => {
    const h = multi.hosts[0];
    expect(h.certSigned).toBe(true);
    const viaCa = await connect(multi, h, [multi.ca.knownHostsLine]);
    expect(viaCa.logger.text()).toContain(
      `host key ssh-ed25519 ${fingerprint(blobOf(keyOf(h, 'ed25519')))} certified by`,
    );
    const both = await connect(multi, h, [multi.ca.knownHostsLine, keyOf(h, 'rsa')]);
    expect(both.logger.text()).toContain(
      `host key ssh-rsa ${fingerprint(blobOf(keyOf(h, 'rsa')))} matches known-hosts line 2`,
    );
  });

  test('through a jump host known only by RSA lines, for the bastion and the target alike', async () => {
    const h = multi.hosts[0];
    const bastion = multi.bastion();
    const { session, logger } = await connect(multi, h, [keyOf(bastion, 'rsa'), keyOf(h, 'ecdsa')], bastion);
    expect((await session.exec('echo via')).stdout).toBe('via\n');
    expect(logger.text()).toContain(
      `${bastion.id}: host key ssh-rsa ${fingerprint(blobOf(keyOf(bastion, 'rsa')))} matches known-hosts line 1`,
    );
    expect(logger.text()).toContain(
      `${h.id}: host key ecdsa-sha2-nistp256 ${fingerprint(blobOf(keyOf(h, 'ecdsa')))} matches known-hosts line 2`,
    );
  });
});

describe('a host without a key of the listed type', () => {
  test('known-hosts listing only an ed25519 key for an RSA-only host: not listed (unknown), not a mismatch', async () => {
    const h = rsaOnly.hosts[0];
    const err = await rejection(connect(rsaOnly, h, [strangerLine(h, strangerEd)]));
    expect(err).toBeInstanceOf(PermanentConnectError);
    const presented = `ssh-rsa ${fingerprint(blobOf(keyOf(h, 'rsa')))}`;
    expect(err.message).toContain(
      `${h.id}: host key verification failed: [127.0.0.1]:${h.port} presented the ${presented} key, but known-hosts lists only ssh-ed25519 keys for it (ssh-ed25519 ${fingerprint(blobOf(strangerEd))} (line 1))`,
    );
    expect(err.message).toContain(
      `Add its ssh-rsa line to known-hosts (check the fingerprint out of band); get the line with: ssh-keyscan -t ssh-rsa -p ${h.port} 127.0.0.1`,
    );
    expect(err.message).not.toMatch(/middle|does not match/);

    // The command the hint names gives the line that makes the host known.
    const command = /ssh-keyscan( -t \S+)? -p \d+ \S+/.exec(err.message)![0].split(' ');
    const { stdout } = await run(command[0], command.slice(1));
    expect(stdout.trim()).toBe(keyOf(h, 'rsa'));
    const { session } = await connect(rsaOnly, h, [strangerLine(h, strangerEd), stdout.trim()]);
    expect((await session.exec('echo known')).stdout).toBe('known\n');
  });
});

describe('accepts exactly what OpenSSH ssh accepts', () => {
  /** Whether the system `ssh` (StrictHostKeyChecking=yes, only this known-hosts) logs in. */
  async function opensshAccepts(fleet: Fleet, h: FleetHost, lines: string[]): Promise<boolean> {
    const keyFile = join(work, 'client_key');
    writeFileSync(keyFile, fleet.clientKey, { mode: 0o600 });
    const knownFile = join(work, `known_hosts_${h.port}_${Math.random().toString(36).slice(2, 8)}`);
    writeFileSync(knownFile, `${lines.join('\n')}\n`);
    const args = [
      '-F',
      '/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${knownFile}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
    ];
    args.push('-o', 'IdentitiesOnly=yes', '-i', keyFile, '-p', String(h.port), `${fleet.user}@${h.host}`, 'true');
    return run('ssh', args, { timeout: 15_000 }).then(
      () => true,
      (e: { stderr?: string }) => {
        // Only a host key refusal counts as "not accepted"; anything else would make the comparison meaningless.
        if (!/Host key verification failed/.test(String(e.stderr))) throw e;
        return false;
      },
    );
  }

  async function oursAccepts(fleet: Fleet, h: FleetHost, lines: string[]): Promise<boolean> {
    return connect(fleet, h, lines).then(
      () => true,
      (e: Error) => {
        if (!(e instanceof PermanentConnectError) || !/host key verification failed/.test(e.message)) throw e;
        return false;
      },
    );
  }

  // [what the host has, which known-hosts lines, whether both accept]
  const cases: [string, () => [Fleet, FleetHost, string[]], boolean][] = [
    ['ed25519+ecdsa+rsa host, RSA line only', () => [multi, multi.hosts[0], [keyOf(multi.hosts[0], 'rsa')]], true],
    ['ed25519+ecdsa+rsa host, ECDSA line only', () => [multi, multi.hosts[0], [keyOf(multi.hosts[0], 'ecdsa')]], true],
    [
      'ed25519+ecdsa+rsa host, ed25519 line only',
      () => [multi, multi.hosts[0], [keyOf(multi.hosts[0], 'ed25519')]],
      true,
    ],
    [
      'ed25519+ecdsa+rsa host, ECDSA and RSA lines',
      () => [multi, multi.hosts[0], [keyOf(multi.hosts[0], 'rsa'), keyOf(multi.hosts[0], 'ecdsa')]],
      true,
    ],
    [
      'ed25519+ecdsa+rsa host, another RSA key',
      () => [multi, multi.hosts[0], [strangerLine(multi.hosts[0], strangerRsa)]],
      false,
    ],
    // ed25519 is listed, so ssh asks for it first (its list as is) and the wrong ed25519 key is what it sees.
    [
      'ed25519+ecdsa+rsa host, another ed25519 key and its RSA line',
      () => [multi, multi.hosts[0], [strangerLine(multi.hosts[0], strangerEd), keyOf(multi.hosts[0], 'rsa')]],
      false,
    ],
    ['RSA-only host, its RSA line', () => [rsaOnly, rsaOnly.hosts[0], [keyOf(rsaOnly.hosts[0], 'rsa')]], true],
    [
      'RSA-only host, an ed25519 line',
      () => [rsaOnly, rsaOnly.hosts[0], [strangerLine(rsaOnly.hosts[0], strangerEd)]],
      false,
    ],
    ['ecdsa+rsa host, its RSA line', () => [ecdsaRsa, ecdsaRsa.hosts[0], [keyOf(ecdsaRsa.hosts[0], 'rsa')]], true],
    // OpenSSH keeps its whole list when ed25519 is known: the host answers with ECDSA, which is not listed.
    [
      'ecdsa+rsa host, an ed25519 line and its RSA line',
      () => [
        ecdsaRsa,
        ecdsaRsa.hosts[0],
        [strangerLine(ecdsaRsa.hosts[0], strangerEd), keyOf(ecdsaRsa.hosts[0], 'rsa')],
      ],
      false,
    ],
  ];

  test.each(cases)('%s', async (_name, setup, accepted) => {
    const [fleet, h, lines] = setup();
    const [ssh, ours] = await Promise.all([opensshAccepts(fleet, h, lines), oursAccepts(fleet, h, lines)]);
    expect({ ssh, ours }).toEqual({ ssh: accepted, ours: accepted });
  });
});

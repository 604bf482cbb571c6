// Integration tests of SshSession (exec with stdin and stdout, timeouts, a lost connection) against real
// OpenSSH servers (test/servers/fleet.ts), opened through the connector.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { MemoryLogger } from '../../src/common/logger.js';
import { createConnector } from '../../src/ssh/connector.js';
import { TIMEOUT_EXIT_CODE } from '../../src/ssh/session.js';
import type { RemoteSession } from '../../src/ssh/types.js';
import { Fleet } from '../servers/fleet.js';
import { rejection } from './helpers.js';

let fleet: Fleet;
const sessions: RemoteSession[] = [];

/** A connector that logs to memory and retries fast. */
function connector() {
  const logger = new MemoryLogger();
  return { logger, connect: createConnector({ logger, retryDelayMs: 50 }) };
}

async function open(i: number): Promise<RemoteSession> {
  const s = await connector().connect(fleet.hosts[i].spec, fleet.credentials());
  sessions.push(s);
  return s;
}

beforeAll(async () => {
  fleet = await Fleet.start(4);
});

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await fleet?.stop();
});

describe('exec', () => {
  test('returns stdout, stderr and the exit code, without rejecting on failure', async () => {
    const s = await open(0);
    expect(s.id).toBe(fleet.hosts[0].id);
    expect(await s.exec('echo out; echo err >&2; exit 3')).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    // The login shell is /bin/sh (dash) for the fleet user, and commands see this host's own /srv.
    const r = await s.exec('id -un; mkdir -p /srv/app && echo host0 > /srv/app/marker');
    expect(r).toEqual({ code: 0, stdout: `${fleet.user}\n`, stderr: '' });
    expect(readFileSync(fleet.path(0, '/srv/app/marker'), 'utf8')).toBe('host0\n');
  });

  test('runs several commands at once on one connection', async () => {
    const s = await open(0);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.exec(`sleep 0.2; echo ${i}`)));
    expect(results.map((r) => r.stdout.trim())).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
  });

  test('uploads a 2 MB buffer through stdin, verified by sha256sum on the host', async () => {
    const s = await open(1);
    const data = randomBytes(2 * 1024 * 1024);
    const want = createHash('sha256').update(data).digest('hex');
    const r = await s.exec('cat > /srv/upload.bin && sha256sum /srv/upload.bin', { stdin: data });
    expect(r.code).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(want);
    expect(readFileSync(fleet.path(1, '/srv/upload.bin')).equals(data)).toBe(true);
  });

  test('pipes a stream into stdin', async () => {
    const s = await open(1);
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i}\n`));
    const r = await s.exec('wc -l', { stdin: Readable.from(chunks) });
    expect(r).toMatchObject({ code: 0, stdout: '50\n' });
  });

  test('a timeout kills the remote command and reports exit code 124', async () => {
    const s = await open(0);
    const started = Date.now();
    const r = await s.exec('echo started; sleep 31.7', { timeoutMs: 400 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.code).toBe(TIMEOUT_EXIT_CODE);
    expect(r.stdout).toBe('started\n');
    expect(r.stderr).toMatch(/timed out after 400 ms/);
    // The session still works afterwards, and the remote sleep is gone.
    expect((await s.exec('echo again')).stdout).toBe('again\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(() => execFileSync('pgrep', ['-f', 'sleep 31.7'])).toThrow();
  });

  test('a host that dies mid-command rejects the exec; after a restart it connects again', async () => {
    const s = await open(3);
    const running = s.exec('sleep 20');
    await new Promise((r) => setTimeout(r, 300));
    await fleet.killHost(3);
    expect((await rejection(running)).message).toMatch(/connection lost/);
    expect((await rejection(s.exec('true'))).message).toMatch(/connection lost/);
    await fleet.restartHost(3);
    const again = await open(3);
    expect((await again.exec('echo back')).stdout).toBe('back\n');
  });
});

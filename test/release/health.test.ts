import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHealthCheck, healthUrlFor } from '../../src/release/health.js';
import type { ExecResult, RemoteSession } from '../../src/ssh/types.js';

const spec = { user: 'u', host: '127.0.0.1', port: 22 };
const env = { deployPath: '/srv/app', releaseId: 'v1', previousReleaseId: 'v2' };

function session(codes: number[]): RemoteSession & { commands: string[] } {
  const commands: string[] = [];
  return {
    id: '127.0.0.1:22',
    spec,
    commands,
    async exec(command: string): Promise<ExecResult> {
      commands.push(command);
      const code = codes.length > 1 ? codes.shift()! : codes[0];
      return { code, stdout: '', stderr: code ? 'connection refused on :8080' : '' };
    },
    async close() {},
  };
}

function clock() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
}

const settings = { deployPath: '/srv/app', healthCommand: '', healthUrl: '', healthTimeoutMs: 5000 };

test('{host} is replaced; IPv6 gets brackets', () => {
  expect(healthUrlFor('http://{host}:8080/h?x={host}', spec)).toBe('http://127.0.0.1:8080/h?x=127.0.0.1');
  expect(healthUrlFor('http://{host}/', { ...spec, host: '::1' })).toBe('http://[::1]/');
});

test('health-command: retried in current with the release env until it passes', async () => {
  const s = session([1, 1, 0]);
  const r = await createHealthCheck({ ...settings, healthCommand: 'curl -fs localhost:8080' }, clock())(s, spec, env);
  expect(r).toMatchObject({ ok: true, attempts: 3 });
  expect(s.commands[0]).toBe("cd /srv/app/current && env RELEASE_ID=v1 RELEASE_PATH=/srv/app/releases/v1 DEPLOY_PATH=/srv/app PREVIOUS_RELEASE_ID=v2 sh -ec 'curl -fs localhost:8080'");
});

test('health-command: gives up at the timeout with the last failure', async () => {
  const c = clock();
  const r = await createHealthCheck({ ...settings, healthCommand: 'false', healthTimeoutMs: 3000 }, c)(session([7]), spec, env);
  expect(r.ok).toBe(false);
  expect(r.detail).toMatch(/^health-command not healthy after \d\.\ds: exit 7: connection refused on :8080$/);
  expect(c.now()).toBeLessThanOrEqual(3000);
});

test('no check configured: healthy at once', async () => {
  const s = session([1]);
  expect(await createHealthCheck(settings)(s, spec, env)).toMatchObject({ ok: true, detail: 'no health check configured' });
  expect(s.commands).toEqual([]);
});

describe('health-url against a real HTTP server', () => {
  let server: Server;
  let port = 0;
  let statuses: number[] = [];
  const paths: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.statusCode = statuses.length > 1 ? statuses.shift()! : statuses[0];
      res.end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('any 2xx is healthy after 5xx answers', async () => {
    statuses = [503, 502, 204];
    const r = await createHealthCheck({ ...settings, healthUrl: `http://{host}:${port}/health` }, { intervalMs: 10 })(session([0]), spec, env);
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(paths.slice(-3)).toEqual(['/health', '/health', '/health']);
  });

  test('a 3xx or 4xx is not healthy; both checks must pass', async () => {
    statuses = [302];
    const r = await createHealthCheck({ ...settings, healthCommand: 'true', healthUrl: `http://{host}:${port}/`, healthTimeoutMs: 300 }, { intervalMs: 20 })(session([0]), spec, env);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^health-url http:\/\/127\.0\.0\.1:\d+\/ not healthy after .*: HTTP 302$/);
  });

  test('connection refused is reported by its code', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await createHealthCheck({ ...settings, healthUrl: `http://127.0.0.1:${free}/`, healthTimeoutMs: 200 }, { intervalMs: 20 })(session([0]), spec, env);
    expect(r.detail).toMatch(/ECONNREFUSED$/);
  });
});

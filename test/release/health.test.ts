import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHealthCheck, expectedText, healthUrlFor, MAX_BODY_BYTES } from '../../src/release/health.js';
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

const settings = { deployPath: '/srv/app', healthCommand: '', healthUrl: '', healthExpect: '', healthTimeoutMs: 5000 };

test('{host} is replaced; IPv6 gets brackets', () => {
  expect(healthUrlFor('http://{host}:8080/h?x={host}', spec)).toBe('http://127.0.0.1:8080/h?x=127.0.0.1');
  expect(healthUrlFor('http://{host}/', { ...spec, host: '::1' })).toBe('http://[::1]/');
});

test('expectedText: every {release} is replaced, the rest kept as is', () => {
  expect(expectedText('{release}', 'v2')).toBe('v2');
  expect(expectedText('"version":"{release}" ({release})', '2024-05-01.3')).toBe(
    '"version":"2024-05-01.3" (2024-05-01.3)',
  );
  expect(expectedText('ok', 'v2')).toBe('ok');
  // A replacement pattern in the id is taken literally.
  expect(expectedText('{release}', '$&x')).toBe('$&x');
});

test('health-command: retried in current with the release env until it passes', async () => {
  const s = session([1, 1, 0]);
  const r = await createHealthCheck({ ...settings, healthCommand: 'curl -fs localhost:8080' }, clock())(s, spec, env);
  expect(r).toMatchObject({ ok: true, attempts: 3 });
  expect(s.commands[0]).toBe(
    "cd /srv/app/current && env RELEASE_ID=v1 RELEASE_PATH=/srv/app/releases/v1 DEPLOY_PATH=/srv/app PREVIOUS_RELEASE_ID=v2 sh -ec 'curl -fs localhost:8080'",
  );
});

test('health-command: gives up at the timeout with the last failure', async () => {
  const c = clock();
  const r = await createHealthCheck({ ...settings, healthCommand: 'false', healthTimeoutMs: 3000 }, c)(
    session([7]),
    spec,
    env,
  );
  expect(r.ok).toBe(false);
  expect(r.detail).toMatch(
    /^health-command not healthy after (\d+ ms|\d\.\d\d s): exit 7: connection refused on :8080$/,
  );
  expect(c.now()).toBeLessThanOrEqual(3000);
});

test('health-command: one last attempt at the deadline, so a host healthy at 4.5 s of a 5 s timeout passes', async () => {
  // Regression: the check gave up when the next doubled pause would pass the deadline (after 3 s of 5).
  const c = clock();
  const s = session([1]);
  const exec = s.exec.bind(s);
  s.exec = async (command) => (c.now() >= 4500 ? { code: 0, stdout: '', stderr: '' } : exec(command));
  const r = await createHealthCheck(
    { ...settings, healthCommand: 'curl -fs localhost:8080', healthTimeoutMs: 5000 },
    c,
  )(s, spec, env);
  expect(r).toMatchObject({ ok: true });
  expect(c.now()).toBeLessThanOrEqual(5000);
});

test('no check configured: healthy at once', async () => {
  const s = session([1]);
  expect(await createHealthCheck(settings)(s, spec, env)).toMatchObject({
    ok: true,
    detail: 'no health check configured',
  });
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
    const r = await createHealthCheck({ ...settings, healthUrl: `http://{host}:${port}/health` }, { intervalMs: 10 })(
      session([0]),
      spec,
      env,
    );
    expect(r).toMatchObject({ ok: true, attempts: 3 });
    expect(paths.slice(-3)).toEqual(['/health', '/health', '/health']);
  });

  test('a 3xx or 4xx is not healthy; both checks must pass', async () => {
    statuses = [302];
    const r = await createHealthCheck(
      { ...settings, healthCommand: 'true', healthUrl: `http://{host}:${port}/`, healthTimeoutMs: 300 },
      { intervalMs: 20 },
    )(session([0]), spec, env);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^health-url http:\/\/127\.0\.0\.1:\d+\/ not healthy after .*: HTTP 302$/);
  });

  test('connection refused is reported by its code', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await createHealthCheck(
      { ...settings, healthUrl: `http://127.0.0.1:${free}/`, healthTimeoutMs: 200 },
      { intervalMs: 20 },
    )(session([0]), spec, env);
    expect(r.detail).toMatch(/ECONNREFUSED$/);
  });
});

describe('health-expect against a real HTTP server', () => {
  let server: Server;
  let port = 0;
  let bodies: string[] = [];
  let status = 200;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.statusCode = status;
      const body = bodies.length > 1 ? bodies.shift()! : bodies[0];
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const url = () => `http://{host}:${port}/version`;
  const v2 = { ...env, releaseId: 'v2', previousReleaseId: 'v1' };

  test('a 2xx whose body contains the text is healthy', async () => {
    bodies = ['{"version":"v2","ok":true}'];
    const r = await createHealthCheck({ ...settings, healthUrl: url(), healthExpect: 'ok' }, { intervalMs: 10 })(
      session([0]),
      spec,
      v2,
    );
    expect(r).toMatchObject({ ok: true, attempts: 1 });
  });

  test('{release} is replaced by the release being checked; retried until the body has it', async () => {
    bodies = ['v1\n', 'v1\n', 'v2\n'];
    const r = await createHealthCheck({ ...settings, healthUrl: url(), healthExpect: '{release}' }, { intervalMs: 10 })(
      session([0]),
      spec,
      v2,
    );
    expect(r).toMatchObject({ ok: true, attempts: 3 });
  });

  test('a 2xx without the text is unhealthy until the timeout, with a short single-line excerpt of the body', async () => {
    bodies = [`serving\r\n  v1\t${'x'.repeat(200)}`];
    const r = await createHealthCheck(
      { ...settings, healthUrl: url(), healthExpect: '{release}', healthTimeoutMs: 200 },
      { intervalMs: 10 },
    )(session([0]), spec, v2);
    expect(r.ok).toBe(false);
    expect(r.attempts).toBeGreaterThan(1);
    expect(r.detail).toMatch(
      /^health-url http:\/\/127\.0\.0\.1:\d+\/version not healthy after (\d+ ms|\d\.\d\d s): HTTP 200 but the body does not contain "v2" \(body: "serving v1 x+…"\)$/,
    );
    const body = /\(body: "(.*)"\)$/.exec(r.detail)![1];
    expect(body.length).toBeLessThanOrEqual(80);
  });

  test('an empty body is reported as such; without health-expect any 2xx still passes', async () => {
    bodies = [''];
    const r = await createHealthCheck(
      { ...settings, healthUrl: url(), healthExpect: 'v2', healthTimeoutMs: 500 },
      { intervalMs: 10 },
    )(session([0]), spec, v2);
    expect(r.detail).toMatch(/HTTP 200 but the body does not contain "v2" \(body: empty\)$/);
    expect((await createHealthCheck({ ...settings, healthUrl: url() })(session([0]), spec, v2)).ok).toBe(true);
  });

  test('a non-2xx is reported by its status even when the body has the text', async () => {
    status = 503;
    bodies = ['v2'];
    try {
      const r = await createHealthCheck(
        { ...settings, healthUrl: url(), healthExpect: '{release}', healthTimeoutMs: 500 },
        { intervalMs: 10 },
      )(session([0]), spec, v2);
      expect(r.detail).toMatch(/: HTTP 503$/);
    } finally {
      status = 200;
    }
  });

  test('only the first 1 MiB of the body is read', async () => {
    bodies = ['a'.repeat(MAX_BODY_BYTES) + 'v2'];
    const late = await createHealthCheck(
      { ...settings, healthUrl: url(), healthExpect: 'v2', healthTimeoutMs: 500 },
      { intervalMs: 10 },
    )(session([0]), spec, v2);
    expect(late.ok).toBe(false);
    bodies = ['a'.repeat(MAX_BODY_BYTES - 2) + 'v2' + 'b'.repeat(1000)];
    const early = await createHealthCheck({ ...settings, healthUrl: url(), healthExpect: 'v2' }, { intervalMs: 10 })(
      session([0]),
      spec,
      v2,
    );
    expect(early.ok).toBe(true);
  });
});

describe('health-samples: every answer of several in a row, each on its own connection', () => {
  // Two "workers" answering turn about, per connection, as a prefork server whose reload half took.
  let server: Server;
  let port = 0;
  let workers: string[] = [];
  let connections = 0;
  beforeAll(async () => {
    server = createServer((req, res) => res.end(workers[(connections - 1) % workers.length]));
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const v2 = { ...env, releaseId: 'v2', previousReleaseId: 'v1' };
  const check = (samples: number | undefined, timeoutMs = 300) =>
    createHealthCheck(
      {
        ...settings,
        healthUrl: `http://{host}:${port}/`,
        healthExpect: '{release}',
        healthSamples: samples,
        healthTimeoutMs: timeoutMs,
      },
      { intervalMs: 10 },
    )(session([0]), spec, v2);

  test('one old worker among new ones: one answer passes, three in a row do not', async () => {
    workers = ['v2', 'v1'];
    connections = 0;
    expect((await check(1)).ok).toBe(true);
    connections = 0;
    const r = await check(3);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(
      /^health-url http:\/\/127\.0\.0\.1:\d+\/ not healthy after .*: answer 2 of 3 in a row: HTTP 200 but the body does not contain "v2" \(body: "v1"\)$/,
    );
  });

  test('every worker switched: healthy at the first attempt, each answer on a new connection', async () => {
    workers = ['v2', 'v2'];
    connections = 0;
    const r = await check(3);
    expect(r).toMatchObject({ ok: true, attempts: 1 });
    expect(r.detail).toMatch(/^healthy after 1 attempt\(s\) \(3 health-url answers in a row\), \d+ ms$/);
    expect(connections).toBe(3);
  });

  test("{port} is the port the host's balancer server gives; without one the check fails saying so", async () => {
    expect(healthUrlFor('http://{host}:{port}/h', spec, 8081)).toBe('http://127.0.0.1:8081/h');
    const r = await createHealthCheck({ ...settings, healthUrl: 'http://{host}:{port}/' })(session([0]), spec, env);
    expect(r).toMatchObject({
      ok: false,
      detail: 'health-url uses {port} but no balancer server gives 127.0.0.1 a port',
    });
  });
});

// `fivestep check` as Nagios runs it, through runCli: the exit code and stdout only (the log goes to stderr),
// against a real exporter whose value each test sets (source openmetrics scraping test/servers/metrics-app.ts) and
// a real Prometheus (a value crossing its bound once scraped, a bad PromQL query, the server gone).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliIo } from '../../src/cli/main.js';
import { freePort } from '../servers/fleet.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, type PrometheusServer } from '../servers/prometheus.js';

/** `--timeout` is asked of cli/args.ts; its test runs once `check` takes it. */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let tmp: string;
let app: MetricsApp;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-check-'));
  app = await startMetricsApp();
});
afterAll(async () => {
  await app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** `fivestep check ARGS` in this process, with a clean environment; what Nagios would see. */
async function fivestep(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
    connector: () => {
      throw new Error('check opens no SSH connection');
    },
    onSignal: () => () => undefined,
    exit: (code) => {
      throw new Error(`exit(${code}) called`);
    },
  };
  const code = await runCli(['check', ...argv], io);
  return { code, stdout, stderr };
}

/** A config file (the `with:` block of a metric-watch step) in the test's directory. */
function config(name: string, lines: string[]): string {
  const path = join(tmp, `${name}.yml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const ERROR_RULE = [
  'rules: |',
  '  - name: error rate',
  '    query: shop_error_rate',
  '    max: 0.05',
  '    warn: 0.02',
  '    for: 3',
];

describe('against an exporter whose value the test sets (source openmetrics)', () => {
  let file: string;
  beforeAll(() => {
    file = config('openmetrics', ['source: openmetrics', `url: ${app.url}/metrics`, 'interval: 5s', ...ERROR_RULE]);
  });

  test('OK, exit 0: the value within its bounds; the log on stderr only', async () => {
    app.setGauge('shop_error_rate', 0.01);
    const t0 = Date.now();
    const r = await fivestep(['--config', file]);
    expect(r).toEqual({
      code: 0,
      stdout:
        "FIVESTEP OK - error rate is 0.01 | 'error rate'=0.01;~:0.02;~:0.05\n" +
        'OK: error rate is 0.01 (max 0.05, warn max 0.02)\n',
      stderr: expect.stringContaining('Watching 1 rule(s) on openmetrics'),
    });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test('WARNING, exit 1: the warn bound crossed', async () => {
    app.setGauge('shop_error_rate', 0.03);
    const r = await fivestep(['--config', file]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 1,
      stdout:
        "FIVESTEP WARNING - error rate is 0.03, above warn 0.02 (max 0.05) | 'error rate'=0.03;~:0.02;~:0.05\n" +
        'WARNING: error rate is 0.03, above warn 0.02 (max 0.05)\n',
    });
  });

  test('CRITICAL, exit 2: the bound crossed on the first reading (for: 3 is Nagios’s max_check_attempts)', async () => {
    app.setGauge('shop_error_rate', 0.09);
    const r = await fivestep(['--config', file]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 2,
      stdout:
        "FIVESTEP CRITICAL - error rate is 0.09, above max 0.05 | 'error rate'=0.09;~:0.02;~:0.05\n" +
        'CRITICAL: error rate is 0.09, above max 0.05\n',
    });
  });

  test('never alerts: a CRITICAL check sends nothing to the alert webhook (Nagios notifies)', async () => {
    app.setGauge('shop_error_rate', 0.09);
    let posts = 0;
    const hook = createServer((_req, res) => (posts++, res.end('ok')));
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const r = await fivestep(['--config', file, '--set', `alert-webhook=${url}`]);
      expect(r.code).toBe(2);
      expect(posts).toBe(0);
    } finally {
      await new Promise((resolve) => hook.close(resolve));
    }
  });

  test('UNKNOWN, exit 3: the exporter down (nothing listens)', async () => {
    const port = await freePort();
    const down = config('down', ['source: openmetrics', `url: http://127.0.0.1:${port}/metrics`, ...ERROR_RULE]);
    const r = await fivestep(['--config', down]);
    expect({ code: r.code, lines: r.stdout.split('\n') }).toEqual({
      code: 3,
      lines: [
        "FIVESTEP UNKNOWN - error rate: source unreachable | 'error rate'=U;~:0.02;~:0.05",
        expect.stringMatching(/^UNKNOWN: error rate: source unreachable: .*fetch failed/),
        '',
      ],
    });
  });

  test('UNKNOWN, exit 3: an exporter that never answers, past --timeout', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer(() => undefined);
    silent.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/metrics`;
      const t0 = Date.now();
      const r = await fivestep(['--config', file, '--set', `url=${url}`, '--timeout', '1']);
      expect({ code: r.code, stdout: r.stdout }).toEqual({
        code: 3,
        stdout: 'FIVESTEP UNKNOWN - timed out after 1s (--timeout)\n',
      });
      expect(Date.now() - t0).toBeLessThan(2500);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('UNKNOWN, exit 3: bad input is one line on stdout, not the usual exit 1', async () => {
    const r = await fivestep(['--config', file, '--set', 'rules=- name: x\n  query: up\n  max: [1']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 3,
      stdout: expect.stringMatching(/^FIVESTEP UNKNOWN - input 'rules': is not valid YAML: [^\n]+\n$/),
    });
    const noRule = await fivestep(['--set', `url=${app.url}/metrics`, '--set', 'source=openmetrics']);
    expect({ code: noRule.code, stdout: noRule.stdout }).toEqual({
      code: 3,
      stdout: "FIVESTEP UNKNOWN - input 'rules': is required\n",
    });
  });

  test('UNKNOWN, exit 3: a config file that cannot be read', async () => {
    const r = await fivestep(['--config', join(tmp, 'missing.yml')]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 3,
      stdout: expect.stringMatching(/^FIVESTEP UNKNOWN - [^\n]*missing\.yml[^\n]*\n$/),
    });
  });

  test('UNKNOWN, exit 3: a usage error (unknown option) said on stdout', async () => {
    const r = await fivestep(['--config', file, '--bogus']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 3,
      stdout: "FIVESTEP UNKNOWN - unknown option '--bogus' for 'check'\n",
    });
  });
});

describe('against a real Prometheus', () => {
  let prom: PrometheusServer | undefined;
  let file: string;

  beforeAll(async () => {
    app.setGauge('shop_orders', 120);
    prom = await startPrometheus([app.host], 'shop_orders');
    file = config('prometheus', [
      'source: prometheus',
      `url: ${prom.url}`,
      'rules: |',
      '  - name: orders',
      '    query: sum(shop_orders)',
      '    min: 100',
      '    warn: 110',
    ]);
  }, 60_000);
  afterAll(async () => {
    await prom?.close();
  });

  test('OK, exit 0, then CRITICAL, exit 2, once Prometheus has scraped the new value', async () => {
    expect(await fivestep(['--config', file])).toEqual({
      code: 0,
      stdout: "FIVESTEP OK - orders is 120 | 'orders'=120;110:;100:\nOK: orders is 120 (min 100, warn min 110)\n",
      stderr: expect.any(String),
    });
    app.setGauge('shop_orders', 40);
    let r: Run;
    const deadline = Date.now() + 15_000;
    do r = await fivestep(['--config', file]);
    while (r.code === 0 && Date.now() < deadline && (await new Promise((res) => setTimeout(res, 250, true))));
    expect({ code: r.code, stdout: r.stdout }).toEqual({
      code: 2,
      stdout:
        "FIVESTEP CRITICAL - orders is 40, below min 100 | 'orders'=40;110:;100:\nCRITICAL: orders is 40, below min 100\n",
    });
    app.setGauge('shop_orders', 120);
  }, 30_000);

  test('UNKNOWN, exit 3: a query Prometheus refuses', async () => {
    const r = await fivestep(['--config', file, '--set', 'rules=- name: orders\n  query: sum(shop_orders\n  min: 100']);
    expect({ code: r.code, lines: r.stdout.split('\n') }).toEqual({
      code: 3,
      lines: [
        "FIVESTEP UNKNOWN - orders: query error | 'orders'=U;;100:",
        expect.stringMatching(/^UNKNOWN: orders: query error: .*Prometheus: bad_data: .*parse error/),
        '',
      ],
    });
  });

  test('UNKNOWN, exit 3: Prometheus down', async () => {
    await prom!.close();
    prom = undefined;
    const r = await fivestep(['--config', file]);
    expect({ code: r.code, line: r.stdout.split('\n')[0] }).toEqual({
      code: 3,
      line: "FIVESTEP UNKNOWN - orders: source unreachable | 'orders'=U;110:;100:",
    });
  });
});

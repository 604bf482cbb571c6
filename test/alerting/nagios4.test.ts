// `fivestep check` run by a real Nagios Core 4 (Debian's nagios4-core) as a service check: the committed bundle
// (`node dist/cli/index.js check --config FILE`, or FIVESTEP_CLI_FOR_TESTS before dist is rebuilt) against an
// exporter whose value the test sets. Nagios records OK first; once the value breaches, CRITICAL: SOFT at the first
// check, HARD at the second (max_check_attempts 2 = the rule's `for: 2`); back to OK when the value recovers.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { alive, descendants } from '../servers/child-processes.js';
import { startNagios, type NagiosServer, type ServiceStatus } from '../servers/nagios.js';

const node = process.env.FIVESTEP_NODE || process.execPath;
/** The bundle Nagios runs (an ESM ncc bundle needs its package.json beside it, as dist/cli has). */
const CLI = process.env.FIVESTEP_CLI_FOR_TESTS || join(process.cwd(), 'dist', 'cli', 'index.js');
const SERVICE = 'shop error rate';

let tmp: string;
let app: MetricsApp;
let config: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-nagios4-'));
  app = await startMetricsApp();
  app.setGauge('shop_error_rate', 0.01);
  config = join(tmp, 'watch.yml');
  writeFileSync(
    config,
    [
      'source: openmetrics',
      `url: ${app.url}/metrics`,
      'rules: |',
      '  - name: error rate',
      '    query: shop_error_rate',
      '    max: 0.05',
      '    warn: 0.02',
      '    for: 2',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The bundle run as Nagios runs a plugin: a child process with a clean environment. */
function plugin(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(node, [CLI, ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

test('the bundle is a plugin: exit status and stdout as Nagios reads them, the log on stderr', async () => {
  const r = await plugin(['check', '--config', config]);
  if (/unknown command 'check'/.test(r.stderr))
    throw new Error(`${CLI} predates fivestep check: rebuild dist, or point FIVESTEP_CLI_FOR_TESTS at a newer bundle`);
  expect({ status: r.status, stdout: r.stdout }).toEqual({
    status: 0,
    stdout:
      "FIVESTEP OK - error rate is 0.01 | 'error rate'=0.01;~:0.02;~:0.05\n" +
      'OK: error rate is 0.01 (max 0.05, warn max 0.02)\n',
  });
  expect(r.stderr).toContain('Watching 1 rule(s)');
});

describe('Nagios runs fivestep check', () => {
  let nagios: NagiosServer;
  afterAll(async () => {
    await nagios?.close();
  });

  test('OK first, then CRITICAL SOFT and HARD after max_check_attempts (for: 2), then OK again', async () => {
    const t0 = Date.now();
    nagios = await startNagios([
      {
        description: SERVICE,
        commandLine: `${node} ${CLI} check --config ${config}`,
        maxCheckAttempts: 2,
        checkInterval: 1,
      },
    ]);
    const ours = () => nagios.services().find((s) => s.service_description === SERVICE);
    const checked = (state: string, type: string) => (): ServiceStatus | undefined => {
      const s = ours();
      return s?.has_been_checked === '1' && s.current_state === state && s.state_type === type ? s : undefined;
    };

    const ok = await nagios.waitFor('a first OK check', checked('0', '1'));
    expect([ok.plugin_output, ok.long_plugin_output, ok.performance_data]).toEqual([
      'FIVESTEP OK - error rate is 0.01',
      'OK: error rate is 0.01 (max 0.05, warn max 0.02)',
      "'error rate'=0.01;~:0.02;~:0.05",
    ]);
    expect(nagios.alerts()).toEqual([]);
    const okAt = Date.now();

    app.setGauge('shop_error_rate', 0.09);
    const critical = await nagios.waitFor('a HARD CRITICAL', checked('2', '1'));
    expect([critical.plugin_output, critical.performance_data, critical.current_attempt]).toEqual([
      'FIVESTEP CRITICAL - error rate is 0.09, above max 0.05',
      "'error rate'=0.09;~:0.02;~:0.05",
      '2',
    ]);
    const criticalAt = Date.now();
    expect(nagios.alerts()).toEqual([
      `${SERVICE};CRITICAL;SOFT;1;FIVESTEP CRITICAL - error rate is 0.09, above max 0.05`,
      `${SERVICE};CRITICAL;HARD;2;FIVESTEP CRITICAL - error rate is 0.09, above max 0.05`,
    ]);

    app.setGauge('shop_error_rate', 0.01);
    await nagios.waitFor('the recovery', checked('0', '1'));
    expect(nagios.alerts().slice(2)).toEqual([`${SERVICE};OK;HARD;2;FIVESTEP OK - error rate is 0.01`]);
    console.log(
      `nagios4: first OK ${okAt - t0} ms after start, HARD CRITICAL ${criticalAt - okAt} ms after the breach, ` +
        `recovered ${Date.now() - criticalAt} ms later`,
    );

    // Stopped, Nagios leaves nothing running: not its worker, not a check it had started.
    const family = [nagios.pid, ...descendants(nagios.pid)];
    await nagios.close();
    expect(family.filter(alive)).toEqual([]);
  }, 60_000);
});

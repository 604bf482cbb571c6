// `fivestep rules` as a user runs it in CI and by hand: the watch's own inputs in, the generated file out (stdout or
// --output), --check failing a stale committed file with where it differs, skipped rules and inline secrets said
// on stderr, and a secret given as a file kept a file reference.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCli, type CliIo } from '../../src/cli/main.js';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fivestep-rules-cli-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {},
    connector: () => {
      throw new Error('rules connects to nothing');
    },
    onSignal: () => () => {},
    exit: () => {},
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const WATCH = [
  'url: http://prometheus.internal:9090',
  'environment: production',
  'interval: 30s',
  'baseline: before:1h',
  'rules: |',
  '  - name: revenue per minute',
  '    query: sum(rate(shop_revenue_cents_total[5m])) * 60 / 100',
  '    min: 100',
  '    for: 2',
  '  - name: checkout latency',
  '    query: checkout_latency_seconds{instance="{host}"}',
  '    compare: true',
].join('\n');

function config(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${text}\n`);
  return path;
}

test('prometheus: the rule file on stdout; a compare-only rule is named as skipped, with the reason', async () => {
  const r = await run(['rules', '--format', 'prometheus', '--config', config('watch.yml', WATCH)]);
  expect(r.code).toBe(0);
  const file = parseYaml(r.stdout) as { groups: { name: string; rules: Record<string, unknown>[] }[] };
  const alerts = file.groups[0].rules.filter((x) => x.alert);
  expect(alerts.map((a) => (a.labels as Record<string, string>).rule)).toEqual(['revenue per minute']);
  expect(alerts[0].for).toBe('1m');
  expect(r.stderr).toMatch(/rule 'checkout latency' skipped: .+/);
});

test('--output writes the file; --check passes on it and fails, naming the file and line, once the rules change', async () => {
  const out = join(dir, 'prometheus', 'fivestep.rules.yml');
  const watch = config('watch2.yml', WATCH);
  expect((await run(['rules', '--format', 'prometheus', '--config', watch, '--output', out])).code).toBe(0);
  expect(readFileSync(out, 'utf8')).toContain('revenue per minute');

  const ok = await run(['rules', '--format', 'prometheus', '--config', watch, '--check', out]);
  expect(ok.code).toBe(0);
  expect(ok.stderr).toContain(`${out} is up to date with the rules`);

  config('watch2.yml', WATCH.replace('min: 100', 'min: 120'));
  const stale = await run(['rules', '--format', 'prometheus', '--config', watch, '--check', out]);
  expect(stale.code).toBe(1);
  expect(stale.stderr).toContain(`${out} differs from what the rules give, from line `);
  expect(stale.stderr).toMatch(/expected ".*120.*", found ".*100.*"/);
  // The command to run, with the inputs given: pasted as it is, it makes the check pass.
  expect(stale.stderr).toContain(`Regenerate it: fivestep rules --config ${watch} --format prometheus --output ${out}`);
  await run(['rules', '--config', watch, '--format', 'prometheus', '--output', out]);
  expect((await run(['rules', '--format', 'prometheus', '--config', watch, '--check', out])).code).toBe(0);

  const missing = await run(['rules', '--format', 'prometheus', '--config', watch, '--check', join(dir, 'nope.yml')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('nope.yml: cannot read it (ENOENT)');
});

test('alertmanager: a routing key given as a file stays a reference to that file; one given inline is warned about', async () => {
  writeFileSync(join(dir, 'pd-key'), 'R0UT1NGKEY\n');
  const withFile = config('am.yml', `${WATCH}\npagerduty-routing-key-file: pd-key`);
  const r = await run(['rules', '--format', 'alertmanager', '--config', withFile]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`routing_key_file: "${join(dir, 'pd-key')}"`);
  expect(r.stdout).not.toContain('R0UT1NGKEY');

  const inline = await run([
    'rules',
    '--format',
    'alertmanager',
    '--config',
    config('am2.yml', WATCH),
    '--set',
    'pagerduty-routing-key=R0UT1NGKEY',
  ]);
  expect(inline.code).toBe(0);
  expect(inline.stdout).toContain('R0UT1NGKEY');
  expect(inline.stderr).toMatch(/pagerduty-routing-key.*secret/);
});

test('alertmanager: a secret file is referred to, never read: it lives on the Alertmanager host, not here', async () => {
  const onAlertmanager = '/etc/alertmanager/secrets/pd-key';
  const r = await run([
    'rules',
    '--format',
    'alertmanager',
    '--config',
    config('am3.yml', `${WATCH}\npagerduty-routing-key-file: ${onAlertmanager}\nalert-webhook-file: /etc/am/hook`),
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`routing_key_file: "${onAlertmanager}"`);
  expect(r.stdout).toContain('api_url_file: "/etc/am/hook"');
  expect(r.stdout).not.toContain('given-as-a-file');
  // Every other command reads the file: a watch needs the key itself.
  const watch = await run([
    'watch',
    '--once',
    '--config',
    config('am4.yml', `${WATCH}\npagerduty-routing-key-file: ${onAlertmanager}`),
  ]);
  expect(watch.code).toBe(1);
  expect(watch.stderr).toContain(`input 'pagerduty-routing-key-file': cannot read ${onAlertmanager} (ENOENT)`);
});

test('usage: --format is required and checked; an input error names the input', async () => {
  const watch = config('watch3.yml', WATCH);
  expect((await run(['rules', '--config', watch])).stderr).toContain(
    "input '--format': is required: one of prometheus, promtool-tests, alertmanager",
  );
  const bad = await run(['rules', '--format', 'nagios', '--config', watch]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("'nagios' is not one of prometheus, promtool-tests, alertmanager");
  const typo = await run(['rules', '--format', 'prometheus', '--config', config('typo.yml', `${WATCH}\n  min: x`)]);
  expect(typo.code).toBe(1);
  expect(typo.stderr).toMatch(/input 'rules'/);
});

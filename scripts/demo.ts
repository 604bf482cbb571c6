// `npm run demo`: the five steps of fivestep on this machine, in under 90 seconds.
//
// A fleet of 5 real OpenSSH servers on loopback (each its own address and /srv), a small shop app on each
// (demo/shop/server.mjs: reloads on `kill -HUP` without dropping a request, as Starman does; metrics for revenue and
// users), a load generator buying all the time, and a real Prometheus scraping the shops. Then:
//   1. the tests gate the release (test-gate's runner on a tiny test suite);
//   2. the tree is open (test-gate's tree status);
//   3. v2 rolls out in waves over SSH, each host reloading by HUP under load: 0 failed requests; the
//      customers go through a real haproxy, each host is drained before its switch and the canary gets
//      10% of the requests during its bake (measured and printed);
//   4. v3 passes its health checks but loses revenue on the canary: the watch stops it and reverts;
//   5. auto-revert marks v3 bad and writes the root-cause-analysis issue (to a file: no GitHub here).
// What is missing (OpenSSH, Prometheus, haproxy, socat) is installed with apt first; where that is
// impossible the demo says what and why, and exits non-zero: no part of it is skipped.
// Everything started is stopped again, also on error and Ctrl-C.
import { existsSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../src/common/inputs.js';
import type { Logger } from '../src/common/logger.js';
import { runTests } from '../src/gate/run.js';
import { treeFromHistory, treeStatus } from '../src/gate/tree.js';
import { writeReport, type WatchResult } from '../src/metrics/index.js';
import { createHealthCheck } from '../src/release/health.js';
import { revertHosts, type HostsRevertReport } from '../src/revert/hosts.js';
import { buildRcaBody, rcaTitle } from '../src/revert/rca.js';
import { readReports } from '../src/revert/reports.js';
import { readRevertSettings } from '../src/revert/settings.js';
import { sshRollout } from '../src/rollout/main.js';
import { formatDuration } from '../src/common/format.js';
import type { RolloutReport } from '../src/rollout/record.js';
import { connectSsh } from '../src/ssh/connector.js';
import { Fleet } from '../test/servers/fleet.js';
import { startHaproxy } from '../test/servers/haproxy.js';
import { startLoad, type Load } from '../test/servers/load.js';
import { PROMETHEUS_BIN, startPrometheus, type PrometheusServer } from '../test/servers/prometheus.js';
import { startShopApps, writeShopRelease, type ShopApps } from '../test/servers/shop-app.js';
import { DEMO_PACKAGES, ensurePackages, missingPackages } from '../test/servers/system-packages.js';

const HAPROXY_BIN = '/usr/sbin/haproxy';
const CANARY_WEIGHT = 10;
const say = (text: string) => console.log(`\n\x1b[1m▶ ${text}\x1b[0m`);
const note = (text: string) => console.log(`    ${text}`);
// ssh-rollout's log, without the per-step timings of every host (they are in its report), but with the
// balancer's drain and return around each switch.
const stepLine = /^\s*(ok|--|ERR)\s+(\w+)\s+(\d+) ms(?:\s+(.*))?$/;
const quietLogger: Logger = {
  debug() {},
  info(m) {
    const step = stepLine.exec(m);
    if (!step) console.log(`      ${m}`);
    else if (step[2] === 'drain' || step[2] === 'rotation')
      console.log(`        ${step[2] === 'drain' ? 'drained' : 'restored'} in ${step[3]} ms: ${step[4] ?? ''}`);
  },
  warning(m) {
    console.log(`      ⚠ ${m}`);
  },
  error(m) {
    console.log(`      ✗ ${m}`);
  },
  group: async (name, fn) => {
    console.log(`    ${name}`);
    return fn();
  },
};
const silentLogger: Logger = {
  debug() {},
  info() {},
  warning: (m) => console.log(`      ⚠ ${m}`),
  error: (m) => console.log(`      ✗ ${m}`),
  group: async (_n, fn) => fn(),
};

/** Everything started, stopped in reverse order by cleanup() (also on Ctrl-C). */
const stops: { name: string; stop: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const s of stops.reverse()) {
      try {
        await s.stop();
      } catch (err) {
        console.log(`    (stopping ${s.name} failed: ${err instanceof Error ? err.message : String(err)})`);
      }
    }
    if (stops.length) console.log(`\n  (stopped: ${stops.map((s) => s.name).join(', ')})`);
  })();
  return cleaning;
}
// `npm run demo | head` closes stdout early: keep going (quietly) so that cleanup still runs.
process.stdout.on('error', () => undefined);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    console.log(`\n${sig}: stopping everything the demo started…`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** The revenue rule is a rate over 5 s: waits until Prometheus has one for every shop (a second or two). */
async function revenueRatesReady(prometheusUrl: string, shops: number): Promise<void> {
  const query = `count(rate(shop_revenue_total[5s]) > 0)`;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const body = (await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`)
      .then((r) => r.json())
      .catch(() => ({}))) as { data?: { result?: { value: [number, string] }[] } };
    if (Number(body.data?.result?.[0]?.value[1] ?? 0) >= shops) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Row {
  version: string;
  story: string;
  result: string;
  hosts: string;
  waves: number;
  bake: string;
  failed: number;
  served: number;
  duration: string;
}

async function main(): Promise<number> {
  const started = Date.now();
  if (process.getuid?.() !== 0) {
    console.error('The demo starts real sshd servers on loopback addresses and needs root.');
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'fivestep-demo-'));
  const env = {
    ...process.env,
    RUNNER_TEMP: work,
    GITHUB_REPOSITORY: 'acme/shop',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_RUN_ID: '1',
  };

  say('Setting the stage: 5 servers, a shop on each, customers buying through haproxy, Prometheus watching');
  const missing = missingPackages(DEMO_PACKAGES);
  if (missing.length) {
    note(`Installing what this machine lacks, with apt: ${missing.map((p) => p.name).join(', ')} (once)`);
    try {
      ensurePackages(DEMO_PACKAGES, { quiet: true });
    } catch (err) {
      console.error(`\n✗ The demo cannot run here: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    }
  }
  // The bastion (a 6th sshd) is the balancer's host: ssh-rollout drives haproxy's runtime API over SSH there.
  const fleet = await Fleet.start(5, { distinctAddresses: true, bastion: true });
  stops.push({ name: 'fleet (5 sshd)', stop: () => fleet.stop() });
  note(
    `5 real OpenSSH servers, each on its own loopback address with its own /srv (host keys checked against known_hosts):`,
  );
  note(fleet.hosts.map((h) => h.id).join('  '));

  const release = (version: string, broken = false) =>
    writeShopRelease(join(work, 'artifacts', version), version, { brokenRevenue: broken });
  const base = {
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    'shared-paths': 'log/',
  };
  const v1 = await sshRollout(objectInputs({ ...base, artifact: release('v1'), 'release-id': 'v1', waves: '100%' }), {
    connector: connectSsh,
    logger: silentLogger,
    mask: () => {},
    env,
  });
  if (v1.outputs.result !== 'success') throw new Error(`could not put v1 on the fleet: ${v1.failure}`);
  const apps: ShopApps = await startShopApps(fleet);
  stops.push({ name: 'shop apps', stop: () => apps.stop() });
  note(
    `The shop v1 runs on every host (demo/shop/server.mjs, 2 workers under a master that keeps the socket): ${apps.urls[0]} …`,
  );
  const haproxy = await startHaproxy(
    fleet.hosts.map((h, i) => ({ name: `shop${i + 1}`, address: h.host, port: apps.port, weight: 100 })),
    'shop',
  );
  stops.push({ name: 'haproxy', stop: () => haproxy.stop() });
  note(
    `haproxy (${HAPROXY_BIN}) balances the 5 shops round-robin at ${haproxy.url}; its runtime API is reachable over SSH on ${fleet.bastion().id}.`,
  );
  const load: Load = startLoad({ targets: [haproxy.url], clients: 20, pauseMs: 20, maxDurationMs: 85_000 });
  stops.push({ name: 'load generator', stop: () => load.stop() });
  note('A load generator plays 20 customers (kept-alive connections to haproxy) buying on /buy without pause.');
  // What the customers got, sampled every 100 ms: the canary's share of answers during its bake comes from it.
  const samples: { t: number; total: number; versions: Record<string, number> }[] = [];
  const sampler = setInterval(
    () => samples.push({ t: Date.now(), total: load.stats.ok, versions: { ...load.stats.versions } }),
    100,
  );
  sampler.unref();
  void load.done.then(() => clearInterval(sampler));

  // Prometheus needs a few seconds for its first samples: it starts now, steps 1 and 2 run meanwhile.
  const prometheusReady: Promise<PrometheusServer> = startPrometheus(apps.targets, 'shop_revenue_total', 20_000).then(
    (p) => {
      stops.push({ name: 'prometheus', stop: () => p.close() });
      return p;
    },
  );
  // Awaited after steps 1 and 2; a start failure must not go unhandled meanwhile.
  prometheusReady.catch(() => undefined);

  // ── Step 1 ────────────────────────────────────────────────────────────────────────────────────────
  say('Step 1, CI server: every commit runs every test before it may ship (test-gate)');
  const tests = join(work, 'shop.test.mjs');
  writeFileSync(
    tests,
    [
      "import { describe, test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import { execFileSync } from 'node:child_process';",
      "import { readFileSync } from 'node:fs';",
      `const dir = ${JSON.stringify(join(work, 'artifacts', 'v2'))};`,
      "describe('shop v2', () => {",
      "test('the release says which version it is', () => assert.equal(readFileSync(`${dir}/VERSION`, 'utf8').trim(), 'v2'));",
      "test('the app compiles', () => execFileSync(process.execPath, ['--check', `${dir}/server.mjs`]));",
      "test('the home page names the shop', () => assert.match(readFileSync(`${dir}/index.html`, 'utf8'), /shop v2/));",
      '});',
      '',
    ].join('\n'),
  );
  release('v2');
  const junit = join(work, 'junit.xml');
  const gate = await runTests({
    command: `node --test --test-reporter=junit --test-reporter-destination=${junit} ${tests}`,
    retries: 1,
    cwd: work,
    junit: ['junit.xml'],
    logger: silentLogger,
  });
  const report = gate.final.report;
  note(
    `test-gate ran \`node --test\` on the shop: ${report ? `${report.tests} tests, ${report.failures + report.errors} failing` : 'no JUnit report'}, exit ${gate.final.exitCode}, ${formatDuration(gate.durationMs)}`,
  );
  note(
    `${gate.passed ? '✓ check run "test-gate": success' : '✗ check run "test-gate": failure'} — the release may go on`,
  );
  if (!gate.passed) throw new Error('the test gate failed: nothing ships');

  // ── Step 2 ────────────────────────────────────────────────────────────────────────────────────────
  say('Step 2, commit check: main is green, so the tree is open and merges may ship (test-gate/tree)');
  const sha = '7e1f0c2b9a4d3e5f60718293a4b5c6d7e8f90123';
  const tree = treeFromHistory([
    { sha, result: gate.passed ? 'success' : 'failure' },
    { sha: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00', result: 'success' },
  ]);
  const status = treeStatus(tree, {
    branch: 'main',
    overridden: false,
    overrideLabel: 'tree-override',
    commitUrl: (s) => `https://github.com/acme/shop/commit/${s}`,
  });
  note(`status test-gate/tree = ${status.state}: "${status.description}"`);
  note('(had main been red, every pull request but the fix would be blocked until it is green again)');

  // ── Step 3 ────────────────────────────────────────────────────────────────────────────────────────
  const prometheus = await prometheusReady;
  const port = apps.port;
  await revenueRatesReady(prometheus.url, fleet.hosts.length);
  const watch = [
    'source: prometheus',
    `url: ${prometheus.url}`,
    'interval: 1s',
    'baseline: hosts',
    'rules:',
    '  - name: revenue per minute',
    `    query: sum(rate(shop_revenue_total{instance="{host}:${port}"}[3s])) * 60`,
    '    max-drop: 50%',
    // The rate window still holds the drain before the bake (the wave's hosts out, the others busier): a short
    // window and 3 bad samples in a row, so that transient never counts and a real loss does within 4 s.
    '    for: 3',
    // At 10% of the requests the canary earns a tenth of a peer: volume rules are judged at its measured share.
    '    volume: true',
    '  - name: concurrent users',
    `    query: sum(shop_concurrent_users{instance="{host}:${port}"})`,
    '    max-drop: 50%',
    '    for: 2',
  ].join('\n');
  const common = {
    ...base,
    waves: '1, 25%, 100%',
    'reload-command': apps.reloadCommand,
    // Healthy = the app's master now serves this release (its new workers listen) and /health answers.
    'health-command': 'test "$(cat "$DEPLOY_PATH/shared/app.served")" = "$RELEASE_ID"',
    'health-url': `http://{host}:${port}/health`,
    'health-timeout': '10s',
    watch,
  };
  // Every rollout goes through the balancer: each host drained before its switch and put back after health.
  const drainInputs: Record<string, string> = {
    'load-balancer': 'haproxy',
    'lb-host': `${fleet.bastion().spec.user}@${fleet.bastion().host}:${fleet.bastion().port}`,
    'lb-backend': haproxy.backend,
    'lb-socket': haproxy.socket,
    drain: 'true',
    'drain-timeout': '5s',
  };
  // The canary gets only a tenth of the requests while it bakes.
  const canaryInputs: Record<string, string> = { ...drainInputs, 'canary-weight': `${CANARY_WEIGHT}%` };
  const rows: Row[] = [];
  const watchReports = new Map<string, string>();
  const roll = async (version: string, story: string, waveWait: string, extra: Record<string, string> = {}) => {
    const failedBefore = load.stats.failed;
    const okBefore = load.stats.ok;
    const out = await sshRollout(
      objectInputs({
        ...common,
        artifact: release(version, version === 'v3'),
        'release-id': version,
        'wave-wait': waveWait,
        ...extra,
      }),
      {
        connector: connectSsh,
        logger: quietLogger,
        mask: () => {},
        env,
        onWatchResult: (r: WatchResult) => watchReports.set(version, writeReport(r, env)),
      },
    );
    const rep = JSON.parse(readFileSync(out.outputs.report, 'utf8')) as RolloutReport;
    const switched = rep.hosts.filter((h) => h.outcome === 'updated').length;
    const bakes = rep.waves.map((w) => w.bake?.verdict).filter(Boolean);
    const row: Row = {
      version,
      story,
      result: String(out.outputs.result),
      hosts:
        out.outputs.result === 'success'
          ? `${switched}/${rep.hosts.length}`
          : `${rep.hosts.filter((h) => h.outcome === 'reverted').length} reverted`,
      waves: rep.waves.length,
      bake: bakes.join(', ') || '–',
      failed: load.stats.failed - failedBefore,
      served: load.stats.ok - okBefore,
      duration: formatDuration(rep.durationMs),
    };
    rows.push(row);
    console.log(`  → result: ${row.result}${out.failure ? ` (${out.failure})` : ''}`);
    console.log(`  → customers during this rollout: ${row.served} purchases served, ${row.failed} failed requests`);
    return { out, rep, row };
  };

  say('Step 3, deploy script: v2 rolls out in waves over SSH — 1 canary, 25%, the rest (ssh-rollout)');
  note('Every host gets the release first; then, wave by wave, `current` switches atomically and the app reloads');
  note(
    `with \`${apps.reloadCommand}\`: its master starts workers on v2 and lets the v1 workers finish their requests.`,
  );
  note(
    "Between waves the watch compares the wave's hosts with the hosts still on v1 (Prometheus): revenue per minute, each",
  );
  note(
    "host's restated at an equal share of the requests haproxy counted for it (`volume: true`), and concurrent users.",
  );
  note(
    `Through haproxy: each host is drained before its switch, and the canary gets ${CANARY_WEIGHT}% of the requests while it bakes.`,
  );
  const v2 = await roll('v2', 'good release', '6s', canaryInputs);
  const v2bake = v2.rep.waves[0]?.bake;
  const drained = v2.rep.hosts.filter((h) => h.steps.some((x) => x.name === 'drain' && x.ok)).length;
  note(
    `drained before the switch and back in rotation after health: ${drained} of ${v2.rep.hosts.length} hosts, ${v2.row.failed} failed requests`,
  );
  if (v2bake) {
    // Answers counted by the load generator between 0.3 s after the bake started and 0.1 s before it ended.
    const from = samples.find((x) => x.t >= v2bake.start + 300);
    const to = [...samples].reverse().find((x) => x.t <= v2bake.end - 100);
    const total = from && to ? to.total - from.total : 0;
    const canaryServed = from && to ? (to.versions.v2 ?? 0) - (from.versions.v2 ?? 0) : 0;
    if (total > 0)
      note(
        `canary served ${((100 * canaryServed) / total).toFixed(1)}% of requests during its bake (target ${CANARY_WEIGHT}%): ${canaryServed} of ${total}`,
      );
    else note('canary split: no requests counted during the bake');
  } else note('canary split: wave 1 did not bake');
  note(`the shops now serve: ${apps.served().join(', ')}`);

  // ── Step 4 ────────────────────────────────────────────────────────────────────────────────────────
  say('Step 4, real-time alerting: v3 passes every health check, but it loses money (metric-watch in the bake)');
  note(`Prometheus (${PROMETHEUS_BIN}, ${prometheus.url}) scrapes the 5 shops every second; the rules:`);
  note(
    `  revenue per minute: sum(rate(shop_revenue_total{instance="{host}:${port}"}[3s])) * 60, at most 50% below the hosts on v2, 3 samples in a row`,
  );
  note(
    `  concurrent users: shop_concurrent_users, at most 50% below the hosts on v2 (revenue at each host's measured share of requests)`,
  );
  note('v3 has a bug that records a tenth of each sale; its /health is fine, its tests pass.');
  note(
    `The canary is drained and switched as before, and gets ${CANARY_WEIGHT}% of the requests again: scaled to its share it still earns a tenth.`,
  );
  const v3 = await roll('v3', 'revenue bug', '20s', canaryInputs);
  await waitFor(() => apps.served().every((v) => v === 'v2'), 10_000);
  const canary = v3.rep.waves[0];
  if (canary?.bake)
    note(
      `canary bake: ${canary.bake.verdict} after ${formatDuration(canary.bake.end - canary.bake.start)} of the 20 s — ${canary.bake.detail ?? ''}`,
    );
  note(`v3 never got past the canary; the shops serve: ${apps.served().join(', ')}`);
  const loadStats = await load.stop();

  // ── Step 5 ────────────────────────────────────────────────────────────────────────────────────────
  say('Step 5, root cause analysis: auto-revert marks v3 bad everywhere and writes the five-whys issue');
  const revertSource = objectInputs({
    ...base,
    'bad-release': 'v3',
    'rca-issue': 'false',
    'reload-command': common['reload-command'],
    'health-command': common['health-command'],
    'health-timeout': '10s',
    reason: String(v3.rep.stopReason ?? 'metric watch failed'),
  });
  const revertSettings = readRevertSettings(revertSource, { sha, runId: '1', mask: () => {} });
  const startedRevert = Date.now();
  const hostsReport: HostsRevertReport = await revertHosts(
    revertSettings.ssh!,
    { badRelease: 'v3', toRelease: '', run: 'https://github.com/acme/shop/actions/runs/1' },
    {
      connector: connectSsh,
      health: createHealthCheck(revertSettings.ssh!),
      logger: silentLogger,
      runUrl: 'https://github.com/acme/shop/actions/runs/1',
      reason: revertSettings.reason,
    },
  );
  const outcomes = new Map<string, number>();
  for (const h of hostsReport.hosts)
    outcomes.set(
      `${h.outcome}${h.markedBad ? ' (v3 marked bad)' : ''}`,
      (outcomes.get(`${h.outcome}${h.markedBad ? ' (v3 marked bad)' : ''}`) ?? 0) + 1,
    );
  note(`hosts: ${[...outcomes].map(([k, v]) => `${v} ${k}`).join(', ')} — no later rollback can land on v3`);
  const reportFiles = [v3.out.outputs.report, ...(watchReports.has('v3') ? [watchReports.get('v3')!] : [])];
  const rcaInput = {
    repository: 'acme/shop',
    serverUrl: 'https://github.com',
    runUrl: 'https://github.com/acme/shop/actions/runs/1',
    badReleases: ['v3'],
    reasonText: revertSettings.reason,
    reasonBreaches: [],
    commits: [sha],
    hosts: hostsReport,
    git: null,
    reports: readReports(reportFiles),
    startedAt: startedRevert,
  };
  const rcaFile = join(work, 'rca-v3.md');
  writeFileSync(rcaFile, `# ${rcaTitle(rcaInput)}\n\n${buildRcaBody(rcaInput)}\n`);
  note('No GitHub at hand, so the issue auto-revert would open is written to a file (src/revert/rca.ts, from the');
  note('real ssh-rollout and metric-watch reports: timeline, the breach, impact window, five whys, action items):');
  console.log(`    RCA: ${rcaFile}`);

  // ── Where things stand ────────────────────────────────────────────────────────────────────────────
  say('Where every host stands now');
  const currents = fleet.hosts.map((_, i) =>
    readlinkSync(fleet.path(i, '/srv/app/current')).replace(/^releases\//, ''),
  );
  const served = apps.served();
  for (const [i, h] of fleet.hosts.entries())
    note(`${h.id.padEnd(24)} current → ${currents[i].padEnd(4)} app serves ${served[i]}`);
  const onV2 = currents.filter((c, i) => c === 'v2' && served[i] === 'v2').length;
  console.log(`    fleet: ${onV2} of ${fleet.hosts.length} hosts on v2`);

  say('Summary');
  const line = (cells: string[]) =>
    console.log(`    ${cells.map((c, i) => c.padEnd([5, 29, 12, 11, 6, 11, 10, 7, 9][i])).join(' ')}`);
  line(['step', 'what', 'result', 'hosts', 'waves', 'bakes', 'purchases', 'failed', 'duration']);
  line([
    '1',
    'tests of v2',
    gate.passed ? 'tests pass' : 'tests fail',
    '',
    '',
    '',
    '',
    '',
    formatDuration(gate.durationMs),
  ]);
  line(['2', 'main', `tree ${tree.state}`, '', '', '', '', '', '']);
  for (const r of rows)
    line([
      r.version === 'v2' ? '3' : '4',
      `rollout of ${r.version} (${r.story})`,
      r.result,
      r.hosts,
      String(r.waves),
      r.bake,
      String(r.served),
      String(r.failed),
      r.duration,
    ]);
  line([
    '5',
    'auto-revert of v3',
    'RCA written',
    `${hostsReport.hosts.filter((h) => h.markedBad).length} marked`,
    '',
    '',
    '',
    '',
    '',
  ]);
  const failed = loadStats.failed;
  console.log(
    `\n    Customers: ${loadStats.ok} purchases served while the demo ran, ${failed} failed requests during the rollouts (goal: 0)${failed ? ` — ${JSON.stringify(loadStats.errors)}` : ''}`,
  );
  const ok =
    gate.passed &&
    tree.state === 'open' &&
    rows.map((r) => r.result).join(',') === 'success,reverted' &&
    onV2 === fleet.hosts.length &&
    failed === 0 &&
    existsSync(rcaFile);
  console.log(
    `\n${ok ? '✓' : '✗'} demo finished in ${formatDuration(Date.now() - started)}: the fleet is on v2, v3 never got past the canary, the RCA is at ${rcaFile}`,
  );
  return ok ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`\n✗ demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);

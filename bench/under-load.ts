// Benchmark: requests served and failed while ssh-rollout updates 20 hosts under steady load.
//
// A fleet of 20 real OpenSSH servers, each with its own loopback address, runs the demo shop app
// (test/servers/shop-app.ts: zero-downtime reload on USR2); a real haproxy on loopback balances
// them; the load generator (test/servers/load.ts) sends steady keep-alive traffic through haproxy.
// Two rollouts, waves `1, 25%, 100%`, reload by USR2, health by URL:
//   drain     load-balancer: haproxy, drain: true (runtime API over SSH via the fleet's bastion)
//   baseline  no load-balancer input: haproxy still balances the traffic, nothing drains a host
// For each: requests answered, requests failed (with reasons) during the rollout, rollout wall time.
// Everything (load, haproxy, apps, fleet) is stopped in `finally`, even on error.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../src/common/inputs.js';
import { MemoryLogger } from '../src/common/logger.js';
import { sshRollout } from '../src/rollout/main.js';
import { connectSsh } from '../src/ssh/connector.js';
import type { RolloutReport } from '../src/rollout/record.js';
import { Fleet } from '../test/servers/fleet.js';
import { startHaproxy, type HaproxyServer } from '../test/servers/haproxy.js';
import { startLoad, type LoadStats } from '../test/servers/load.js';
import { startShopApps, writeShopRelease, type ShopApps } from '../test/servers/shop-app.js';
import { ensurePackages } from '../test/servers/system-packages.js';

const HOSTS = 20;
const WAVES = '1, 25%, 100%';
const CLIENTS = 8;

export interface UnderLoadRun {
  mode: 'drain' | 'baseline';
  result: string;
  wallMs: number;
  /** Hosts whose report shows a successful drain step (20 with the balancer, 0 without). */
  drainedHosts: number;
  served: number;
  failed: number;
  errors: Record<string, number>;
  /** Answers per x-shop-version header while the rollout ran. */
  versions: Record<string, number>;
}

export interface UnderLoadBench {
  name: 'ssh-rollout-under-load';
  hosts: number;
  waves: string;
  clients: number;
  available: boolean;
  note?: string;
  drain?: UnderLoadRun;
  baseline?: UnderLoadRun;
  totalMs: number;
  lines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rollout(
  fleet: Fleet,
  workDir: string,
  inputs: Record<string, string>,
): Promise<{ result: string; wallMs: number; drainedHosts: number }> {
  const source = objectInputs({
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    waves: WAVES,
    ...inputs,
  });
  const t0 = performance.now();
  const result = await sshRollout(source, {
    connector: connectSsh,
    logger: new MemoryLogger(),
    mask: () => {},
    env: { RUNNER_TEMP: workDir, GITHUB_REPOSITORY: 'bench/bench' },
  });
  const wallMs = performance.now() - t0;
  if (result.failure) throw new Error(`under-load rollout ${inputs['release-id']} failed: ${result.failure}`);
  const report = JSON.parse(readFileSync(String(result.outputs.report), 'utf8')) as RolloutReport;
  if (report.result !== 'success') throw new Error(`under-load rollout ${inputs['release-id']}: ${report.result}`);
  const drainedHosts = report.hosts.filter((h) => h.steps.some((x) => x.name === 'drain' && x.ok)).length;
  return { result: report.result, wallMs, drainedHosts };
}

async function underLoad(
  mode: UnderLoadRun['mode'],
  fleet: Fleet,
  haproxy: HaproxyServer,
  apps: ShopApps,
  workDir: string,
  inputs: Record<string, string>,
): Promise<UnderLoadRun> {
  const release = `${mode}-${Date.now()}`;
  const artifact = writeShopRelease(join(workDir, `artifact-${release}`), release);
  // Steady traffic through haproxy, bounded in time and loopback only (startLoad refuses anything else).
  const load = startLoad({
    targets: [haproxy.url],
    clients: CLIENTS,
    pauseMs: 5,
    maxDurationMs: 45_000,
    timeoutMs: 5000,
  });
  let stats: LoadStats | undefined;
  try {
    const warm = Date.now() + 5000;
    while (load.stats.ok < 50 && Date.now() < warm) await sleep(20);
    const before = {
      ok: load.stats.ok,
      failed: load.stats.failed,
      errors: { ...load.stats.errors },
      versions: { ...load.stats.versions },
    };
    const run = await rollout(fleet, workDir, {
      artifact,
      'release-id': release,
      'reload-command': apps.reloadCommand,
      'health-url': `http://{host}:${apps.port}/health`,
      'health-timeout': '10s',
      ...inputs,
    });
    // Let the old workers finish what they had in flight before counting.
    await sleep(500);
    stats = await load.stop();
    const diff = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(a)
          .map(([k, v]) => [k, v - (b[k] ?? 0)] as const)
          .filter(([, v]) => v > 0),
      );
    return {
      mode,
      result: run.result,
      wallMs: run.wallMs,
      drainedHosts: run.drainedHosts,
      served: stats.ok - before.ok,
      failed: stats.failed - before.failed,
      errors: diff(stats.errors, before.errors),
      versions: diff(stats.versions, before.versions),
    };
  } finally {
    if (!stats) await load.stop();
  }
}

export async function benchUnderLoad(log: (line: string) => void = console.log): Promise<UnderLoadBench> {
  const started = performance.now();
  const base = { name: 'ssh-rollout-under-load' as const, hosts: HOSTS, waves: WAVES, clients: CLIENTS };
  try {
    // Before the fleet starts: installing packages stops services by name.
    ensurePackages(['haproxy', 'socat']);
  } catch (err) {
    const note = `not measured: ${err instanceof Error ? err.message : String(err)}`;
    log(note);
    return {
      ...base,
      available: false,
      note,
      totalMs: performance.now() - started,
      lines: [`rollout under load: ${note}`],
    };
  }
  const workDir = mkdtempSync(join(tmpdir(), 'fivestep-bench-load-'));
  let fleet: Fleet | undefined;
  let apps: ShopApps | undefined;
  let haproxy: HaproxyServer | undefined;
  try {
    fleet = await Fleet.start(HOSTS, { distinctAddresses: true, bastion: true });
    // A first release on every host so the shop has a `current` to serve.
    await rollout(fleet, workDir, {
      artifact: writeShopRelease(join(workDir, 'artifact-v1'), 'v1'),
      'release-id': 'v1',
      waves: '100%',
    });
    apps = await startShopApps(fleet, { workers: 1, timeoutMs: 20_000 });
    haproxy = await startHaproxy(
      fleet.hosts.map((h, i) => ({ name: `s${i}`, address: h.host, port: apps!.port, weight: 10 })),
    );
    const bastion = fleet.bastion();

    const drain = await underLoad('drain', fleet, haproxy, apps, workDir, {
      'load-balancer': 'haproxy',
      'lb-host': `${bastion.spec.user}@${bastion.host}:${bastion.port}`,
      'lb-backend': haproxy.backend,
      'lb-socket': haproxy.socket,
      drain: 'true',
      'drain-timeout': '5s',
    });
    if (drain.drainedHosts !== HOSTS)
      throw new Error(`under-load: only ${drain.drainedHosts} of ${HOSTS} hosts were drained`);
    const baseline = await underLoad('baseline', fleet, haproxy, apps, workDir, {});

    const row = (r: UnderLoadRun) =>
      `${String(r.served).padStart(8)} served  ${String(r.failed).padStart(5)} failed  ${(r.wallMs / 1000).toFixed(2).padStart(6)} s` +
      (Object.keys(r.errors).length
        ? `  (${Object.entries(r.errors)
            .map(([k, v]) => `${k} ×${v}`)
            .join(', ')})`
        : '');
    const lines = [
      `rollout under load, ${HOSTS} hosts, waves ${WAVES}, shop app (USR2 reload) behind haproxy, ${CLIENTS} keep-alive clients:`,
      `  with haproxy drain (load-balancer: haproxy, drain: true): ${row(drain)}`,
      `  baseline (no load-balancer input, no drain):              ${row(baseline)}`,
    ];
    lines.forEach((l) => log(l));
    return { ...base, available: true, drain, baseline, totalMs: performance.now() - started, lines };
  } finally {
    await haproxy?.stop().catch(() => {});
    await apps?.stop().catch(() => {});
    await fleet?.stop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const r = await benchUnderLoad();
  console.log(JSON.stringify({ drain: r.drain, baseline: r.baseline }));
  console.log(`under-load bench: ${(r.totalMs / 1000).toFixed(1)} s`);
}

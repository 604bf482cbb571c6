// Benchmark: the rollout of bench/rollout.ts (20 real OpenSSH hosts, waves `1, 25%, 100%`, max-parallel 20,
// a ~2 MB artifact, reload and health commands) over a simulated wide-area network: every host is reached
// through its own latency proxy (test/servers/latency-proxy.ts, in a child process) at RTT 0, 20, 80 and 200 ms.
// On loopback every tool looks fast; what a real network adds is round trips on the critical path, and
// tools differ most there. Tools, interleaved in the same runs (the order rotates, so none always goes first):
//   fivestep               ssh-rollout in-process (bench/rollout.ts's runFivestep), ssh2
//   OpenSSH+ControlMaster  bench/openssh-peer.ts's phases, one ssh process per phase, one master per host
//                          (fresh ControlPath directory per run, masters closed after it: every run is cold)
//   Ansible                bench/rollout.ts's playbook and settings (pipelining, forks 20, ControlPersist)
//   fivestep (before)      an earlier ssh-rollout bundle, if FIVESTEP_BENCH_BASE_BUNDLE names its index.js
// Quick runs: FIVESTEP_BENCH_NETWORK_RUNS=1 FIVESTEP_BENCH_NETWORK_RTTS=0,80 (run counts and RTTs),
// FIVESTEP_BENCH_NETWORK_TOOLS=fivestep,openssh (any of fivestep, openssh, ansible, before).
//
// The fit of wall time against RTT gives each tool's sequential round trips on its critical path (slope)
// and its time on a network with no latency (intercept). x is the RTT measured through the proxy (an echo
// round trip), not the nominal one: the proxy's timers add about a millisecond.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median } from '../src/common/stats.js';
import { Fleet } from '../test/servers/fleet.js';
import { runBundle } from './before-after.js';
import {
  measureEcho,
  spawnLatencyProxies,
  startEchoServer,
  type LatencyProxies,
} from '../test/servers/latency-proxy.js';
import { runOpensshPeer } from './openssh-peer.js';
import {
  HEALTH,
  RELOAD,
  WAVES,
  buildArtifact,
  closeControlMasters,
  ensureAnsible,
  runAnsible,
  runFivestep,
  setupAnsible,
  type FivestepRun,
  type FleetView,
} from './rollout.js';

const run = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOSTS = 20;
const PARALLEL = 20;
const DEFAULT_RTTS = [0, 20, 80, 200];

export const NETWORK_TOOLS = ['fivestep', 'openssh', 'ansible', 'before'] as const;
export type NetworkTool = (typeof NETWORK_TOOLS)[number];
const LABEL: Record<NetworkTool, string> = {
  fivestep: 'fivestep',
  openssh: 'OpenSSH+ControlMaster',
  ansible: 'Ansible',
  before: 'fivestep (before)',
};
/** Each tool deploys to its own path, so none reads another's state. */
const DEPLOY_PATH: Record<NetworkTool, string> = {
  fivestep: '/srv/app',
  openssh: '/srv/openssh',
  ansible: '/srv/ansible',
  before: '/srv/before',
};

export interface NetworkBench {
  name: 'ssh-rollout-network';
  hosts: number;
  waves: string;
  artifactBytes: number;
  runs: number;
  /** Nominal RTTs (ms). */
  rtts: number[];
  /** Echo round trip through the proxy per nominal RTT (ms). */
  measuredRttMs: Record<number, number>;
  tools: NetworkTool[];
  ansibleVersion?: string;
  /** Per tool, per nominal RTT: each run's wall time (ms). */
  wallMs: Partial<Record<NetworkTool, Record<number, number[]>>>;
  medianMs: Partial<Record<NetworkTool, Record<number, number>>>;
  /** wall ≈ interceptMs + slope × RTT, least squares over the medians. */
  fit: Partial<Record<NetworkTool, { slope: number; interceptMs: number }>>;
  /** OpenSSH+ControlMaster median / fivestep median, per nominal RTT. */
  speedupOverOpenssh: Record<number, number>;
  /** fivestep's round trips per host, per step (from its reports). */
  fivestepStepRtts: Record<string, number>;
  /** fivestep straight to the hosts (no proxy), one run per round: what the proxy costs at RTT 0. */
  directMs: number[];
  notes: string[];
  errors: string[];
  lines: string[];
}

const sec = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(2)} s` : 'n/a');

/** Least squares y = a + b·x. */
function fitLine(points: [number, number][]): { slope: number; interceptMs: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const slope = sxx > 0 ? sxy / sxx : NaN;
  return { slope, interceptMs: my - slope * mx };
}

function envList(name: string): string[] | undefined {
  const v = process.env[name]?.trim();
  return v ? v.split(/[\s,]+/).filter(Boolean) : undefined;
}

export async function benchNetwork(runs = 3, log: (line: string) => void = console.log): Promise<NetworkBench> {
  runs = Number(process.env.FIVESTEP_BENCH_NETWORK_RUNS ?? runs);
  const rtts = envList('FIVESTEP_BENCH_NETWORK_RTTS')?.map(Number) ?? DEFAULT_RTTS;
  if (!(runs >= 1) || rtts.some((r) => !(r >= 0))) throw new Error('FIVESTEP_BENCH_NETWORK_RUNS/RTTS: bad value');
  const baseBundle = process.env.FIVESTEP_BENCH_BASE_BUNDLE;
  const asked = envList('FIVESTEP_BENCH_NETWORK_TOOLS') ?? NETWORK_TOOLS.filter((t) => t !== 'before' || baseBundle);
  const unknown = asked.filter((t) => !(NETWORK_TOOLS as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`FIVESTEP_BENCH_NETWORK_TOOLS: unknown ${unknown.join(', ')}`);
  let tools = NETWORK_TOOLS.filter((t) => asked.includes(t));
  const notes: string[] = [];
  const errors: string[] = [];
  if (tools.includes('before') && !(baseBundle && existsSync(baseBundle))) {
    notes.push(`fivestep (before) not measured: FIVESTEP_BENCH_BASE_BUNDLE (${baseBundle ?? 'unset'}) is no file`);
    tools = tools.filter((t) => t !== 'before');
  }
  // Before the fleet starts: installing packages stops services by name.
  const ans = tools.includes('ansible') ? await ensureAnsible(log) : {};
  if (tools.includes('ansible') && !ans.version) {
    notes.push(`Ansible not measured: ${ans.note}`);
    tools = tools.filter((t) => t !== 'ansible');
  }

  const base = join(REPO, '.tmp', 'bench-network');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(join(base, 'runner-before'), { recursive: true });
  const artifactDir = join(base, 'artifact');
  buildArtifact(artifactDir);
  const artifactBytes = Number((await run('sh', ['-c', `tar -C ${artifactDir} -czf - . | wc -c`])).stdout.trim());

  const wallMs: NetworkBench['wallMs'] = Object.fromEntries(
    tools.map((t) => [t, Object.fromEntries(rtts.map((r) => [r, [] as number[]]))]),
  );
  const fivestepRuns: Record<number, FivestepRun[]> = Object.fromEntries(rtts.map((r) => [r, []]));
  const measuredRttMs: Record<number, number> = {};
  const directMs: number[] = [];
  const failed = new Set<NetworkTool>();

  const fleet = await Fleet.start(HOSTS);
  let echo: Awaited<ReturnType<typeof startEchoServer>> | undefined;
  let proxies: LatencyProxies | undefined;
  try {
    echo = await startEchoServer();
    // The echo server last: it checks the very proxy process the hosts are reached through.
    proxies = await spawnLatencyProxies([...fleet.hosts.map((h) => ({ host: h.host, port: h.port })), echo.target], 0);
    const ports = proxies.ports.slice(0, HOSTS);
    const knownHosts = fleet.hosts
      .map((h, i) => `[127.0.0.1]:${ports[i]} ${h.hostKey.split(/\s+/).slice(0, 2).join(' ')}\n`)
      .join('');
    // What the tools see: the hosts at the proxies' ports, with the hosts' own keys for those names.
    const view: FleetView = {
      hosts: ports.map((port) => ({ host: '127.0.0.1', port })),
      user: fleet.user,
      clientKey: fleet.clientKey,
      hostsInput: ports.map((p) => `${fleet.user}@127.0.0.1:${p}`).join('\n'),
      knownHosts: () => knownHosts,
    };
    const ansible = tools.includes('ansible') ? setupAnsible(view, join(base, 'ansible')) : undefined;

    for (const rtt of rtts) {
      await proxies.setDelay(rtt / 2);
      const c = await measureEcho(proxies.ports[HOSTS], rtt / 2);
      measuredRttMs[rtt] = c.echoMs;
      log(
        `  proxy check, RTT ${rtt} ms: echo round trip ${c.echoMs.toFixed(1)} ms, ` +
          `connect + first echo ${c.firstMs.toFixed(1)} ms (≈ 2 RTT expected)`,
      );
    }

    /** Every host's `current` under the tool's deploy path is this release, with the artifact's VERSION. */
    const verify = (tool: NetworkTool, release: string) => {
      for (let i = 0; i < HOSTS; i++) {
        const cur = fleet.currentRelease(i, DEPLOY_PATH[tool]);
        const version = readFileSync(fleet.path(i, `${DEPLOY_PATH[tool]}/current/VERSION`), 'utf8');
        if (cur !== release || version !== 'bench\n')
          throw new Error(`host ${i}: current is '${cur}' (VERSION ${JSON.stringify(version)}), not ${release}`);
      }
    };

    const runTool = async (tool: NetworkTool, release: string, rtt: number): Promise<number> => {
      switch (tool) {
        case 'fivestep': {
          const f = await runFivestep(view, artifactDir, release, join(base, 'runner'));
          fivestepRuns[rtt].push(f);
          return f.wallMs;
        }
        case 'before':
          return runBundle(
            baseBundle!,
            {
              hosts: view.hostsInput,
              'private-key': view.clientKey,
              'known-hosts': view.knownHosts(),
              'deploy-path': DEPLOY_PATH.before,
              artifact: artifactDir,
              'release-id': release,
              waves: WAVES,
              'max-parallel': String(PARALLEL),
              'health-command': HEALTH,
              'reload-command': RELOAD,
              delta: 'false',
            },
            join(base, 'runner-before'),
          );
        case 'openssh': {
          // Short and fresh: the socket paths (DIR/%C, 40 hex digits) must fit in 108 bytes.
          const controlDir = mkdtempSync(join(tmpdir(), 'fsn-cm-'));
          try {
            const p = await runOpensshPeer({
              hosts: view.hosts.map((h) => ({ user: fleet.user, host: h.host, port: h.port })),
              privateKey: fleet.clientKey,
              knownHosts: view.knownHosts(),
              artifactDir,
              releaseId: release,
              deployPath: DEPLOY_PATH.openssh,
              waves: WAVES,
              parallel: PARALLEL,
              reloadCommand: RELOAD,
              healthCommand: HEALTH,
              workDir: join(base, 'openssh'),
              controlDir,
            });
            return p.wallMs;
          } finally {
            await closeControlMasters(controlDir);
            rmSync(controlDir, { recursive: true, force: true });
          }
        }
        case 'ansible':
          return (await runAnsible(ansible!, artifactDir, release)).wallMs;
      }
    };

    const stamp = Date.now().toString(36);
    for (let r = 0; r < runs; r++) {
      if (tools.includes('fivestep')) {
        // Straight to the hosts: the reference for what the proxy costs at RTT 0.
        const d = await runFivestep(fleet, artifactDir, `net-${stamp}-direct-${r + 1}`, join(base, 'runner'));
        directMs.push(d.wallMs);
      }
      for (const [k, rtt] of rtts.entries()) {
        await proxies.setDelay(rtt / 2);
        const shift = (r + k) % tools.length;
        const order = [...tools.slice(shift), ...tools.slice(0, shift)];
        const done: string[] = [];
        for (const tool of order) {
          if (failed.has(tool)) continue;
          const release = `net-${stamp}-${tool}-${rtt}-${r + 1}`;
          try {
            const ms = await runTool(tool, release, rtt);
            verify(tool, release);
            wallMs[tool]![rtt].push(ms);
            done.push(`${LABEL[tool]} ${sec(ms)}`);
          } catch (e) {
            // One failure stops that tool (the others go on): its later figures would mean little.
            failed.add(tool);
            const msg = `${LABEL[tool]} failed at RTT ${rtt} ms, run ${r + 1}: ${(e as Error).message}`;
            errors.push(msg);
            log(`  ${msg}`);
          }
        }
        log(`  run ${r + 1}/${runs}  RTT ${String(rtt).padStart(3)} ms  ${done.join('  ')}`);
      }
    }
  } finally {
    await proxies?.close();
    await echo?.close();
    await fleet.stop();
  }

  // Figures.
  const medianMs: NetworkBench['medianMs'] = {};
  const fit: NetworkBench['fit'] = {};
  for (const t of tools) {
    medianMs[t] = Object.fromEntries(rtts.map((r) => [r, median(wallMs[t]![r])]));
    const points = rtts
      .filter((r) => Number.isFinite(medianMs[t]![r]))
      .map((r) => [measuredRttMs[r], medianMs[t]![r]] as [number, number]);
    if (new Set(points.map((p) => p[0])).size >= 2) fit[t] = fitLine(points);
  }
  const speedupOverOpenssh: Record<number, number> = {};
  if (medianMs.fivestep && medianMs.openssh)
    for (const r of rtts) speedupOverOpenssh[r] = medianMs.openssh[r] / medianMs.fivestep[r];

  // fivestep per step: (median step time at the largest RTT − at the smallest) / the RTT between them.
  const fivestepStepRtts: Record<string, number> = {};
  const lo = Math.min(...rtts);
  const hi = Math.max(...rtts);
  if (hi > lo && fivestepRuns[lo].length && fivestepRuns[hi].length) {
    const steps: string[] = [];
    for (const f of [...fivestepRuns[lo], ...fivestepRuns[hi]])
      for (const h of f.hostSteps) for (const s of Object.keys(h)) if (!steps.includes(s)) steps.push(s);
    const at = (rtt: number, step: string) =>
      median(fivestepRuns[rtt].flatMap((f) => f.hostSteps.map((h) => h[step] ?? 0)));
    for (const s of steps) fivestepStepRtts[s] = (at(hi, s) - at(lo, s)) / (measuredRttMs[hi] - measuredRttMs[lo]);
  }

  const cols = tools.map((t) => (t === 'ansible' ? 'Ansible' : LABEL[t]));
  const widths = cols.map((c) => Math.max(c.length, 9));
  const row = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('   ');
  const fixed = (x: number | undefined, d = 1) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [
    `ssh-rollout on a simulated network: ${HOSTS} OpenSSH hosts on loopback, each behind its own latency proxy ` +
      `(RTT/2 each way, +1 RTT per TCP connect), waves ${WAVES}, max-parallel ${PARALLEL}, ` +
      `artifact ${(artifactBytes / 1e6).toFixed(2)} MB tar.gz, ${runs} run(s) per tool and RTT, interleaved; medians:`,
    `     RTT   measured   ${row(cols)}`,
    ...rtts.map(
      (r) =>
        `  ${`${r} ms`.padStart(6)}   ${`${measuredRttMs[r]?.toFixed(1)} ms`.padStart(8)}   ` +
        row(tools.map((t) => sec(medianMs[t]![r]))),
    ),
    `  least-squares fit, wall = intercept + slope × RTT (slope = sequential round trips on the critical path):`,
    ...tools.map((t) =>
      fit[t]
        ? `    ${LABEL[t].padEnd(22)} slope ${fixed(fit[t].slope).padStart(6)}   intercept ${sec(fit[t].interceptMs)}`
        : `    ${LABEL[t].padEnd(22)} n/a (needs two RTTs)`,
    ),
    ...(medianMs.fivestep && medianMs.openssh
      ? [
          `  fivestep over OpenSSH+ControlMaster: ` +
            rtts.map((r) => `${fixed(speedupOverOpenssh[r], 2)}x at ${r} ms`).join(', '),
        ]
      : []),
    ...(Object.keys(fivestepStepRtts).length
      ? [
          `  fivestep round trips per host by step ((median at ${hi} ms − at ${lo} ms) / RTT): ` +
            Object.entries(fivestepStepRtts)
              .map(([s, n]) => `${s} ${(Math.abs(n) < 0.05 ? 0 : n).toFixed(1)}`)
              .join(', '),
        ]
      : []),
    ...(directMs.length && medianMs.fivestep?.[0] !== undefined
      ? [
          `  proxy cost at RTT 0: fivestep straight to the hosts ${sec(median(directMs))}, ` +
            `through the proxies ${sec(medianMs.fivestep[0])}`,
        ]
      : []),
    ...(ans.version && tools.includes('ansible') ? [`  Ansible: ${ans.version}, pipelining, forks ${HOSTS}`] : []),
    ...(tools.includes('before') ? [`  fivestep (before): ${baseBundle}`] : []),
    `  fivestep and its before run in-process / as a bundle; OpenSSH: one ssh process per phase per host, ` +
      `ControlMaster=auto, ControlPersist=60, fresh ControlPath per run`,
    ...notes.map((n) => `  note: ${n}`),
    ...errors.map((e) => `  error: ${e.split('\n')[0]}`),
  ];
  lines.forEach((l) => log(l));
  return {
    name: 'ssh-rollout-network',
    hosts: HOSTS,
    waves: WAVES,
    artifactBytes,
    runs,
    rtts,
    measuredRttMs,
    tools,
    ansibleVersion: ans.version,
    wallMs,
    medianMs,
    fit,
    speedupOverOpenssh,
    fivestepStepRtts,
    directMs,
    notes,
    errors,
    lines,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const r = await benchNetwork();
  if (r.errors.length) process.exitCode = 1;
}

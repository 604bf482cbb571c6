// Scale benchmark of ssh-rollout: 20, 100, 200 and 1,000 real OpenSSH hosts on loopback (one fleet of
// the largest size; each size uses its first N hosts and deploy paths of its own, so every run is cold).
//
// Per size, on the same hosts in the same run:
//   fivestep  ssh-rollout (src/rollout/main.ts sshRollout, connector src/ssh/connector.ts) in a CHILD
//             process, so its peak RSS is the rollout's alone (the fleet's bookkeeping stays in this
//             process): the child's VmHWM from /proc/self/status after the rollout (node + tsx + the
//             rollout; the line also gives the child's VmHWM before the rollout started);
//   OpenSSH   bench/openssh-peer.ts: the same steps with the system ssh, 20 processes at once.
// Both: the ~2 MB artifact of bench/rollout.ts, waves `1, 25%, 100%`, 20 hosts at once, the same reload
// and health commands; time is wall time from the artifact directory to the last host's health
// (fivestep: around the sshRollout() call, measured inside the child; child start-up not counted).
// Ansible is measured at 20 hosts only, by bench/rollout.ts (its median is passed in by bench/run.ts).
//
// Then, on the first `deltaHosts` hosts:
//   delta        a release where 1 file of 100 changed, `delta: false` beside `delta: true`: bytes the
//                runner sent per host (the report's per-host `sentBytes`) and rollout time;
//   artifact-url the hosts download the artifact from a node:http server on 127.0.0.1 (curl): bytes that
//                server served beside the bytes the runner sent (the report's `sentBytes`; target 0).
// A report without `sentBytes`/`staging`, or hosts that did not download from the URL, is an error
// (printed as FAILED, exit code 1), never a zero.
//
//   npx tsx bench/scale.ts [--hosts 20,100,200,1000] [--delta-hosts 100] [--runs 1] [--skip peer,delta,url]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  createReadStream,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapLimit } from '../src/common/concurrency.js';
import { objectInputs } from '../src/common/inputs.js';
import { sshRollout } from '../src/rollout/main.js';
import type { RolloutReport, StepName } from '../src/rollout/record.js';
import { connectSsh } from '../src/ssh/connector.js';
import type { Connector, ExecOptions } from '../src/ssh/types.js';
import { Fleet } from '../test/servers/fleet.js';
import { PEER_PHASES, runOpensshPeer, type PeerRun } from './openssh-peer.js';
import { HEALTH, RELOAD, WAVES, buildArtifact, segmentLogger } from './rollout.js';

const SELF = fileURLToPath(import.meta.url);
const REPO = join(dirname(SELF), '..');
// bench/rollout.ts's settings (the issue's): waves, health and reload commands, and its artifact.
const MAX_PARALLEL = 20;
const PHASES: StepName[] = ['connect', 'lock', 'state', 'upload', 'unpack', 'switch', 'reload', 'health', 'record'];
/** Time per host at 1,000 over time per host at 100 (the issue's bound). */
const PER_HOST_RATIO_TARGET = 1.25;
const DELTA_RATIO_TARGET = 20;

// ---------------------------------------------------------------------------------------------
// Pure figures.

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The value below which `p` (0..1) of xs lie (nearest rank). */
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};

/** `--hosts 20,100` → [20, 100] (sorted, unique, each ≥ 1). */
export function parseHostCounts(text: string): number[] {
  const counts = text.split(',').map((t) => Number(t.trim()));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--hosts wants whole numbers ≥ 1 separated by commas, got '${text}'`);
  return [...new Set(counts)].sort((a, b) => a - b);
}

/** Per-host artifact bytes from a report, or why the report cannot say (the delta contract has not landed). */
export function sentBytesOf(report: Pick<RolloutReport, 'sentBytes' | 'hosts'>): {
  total: number;
  perHost: number[];
  staging: Record<string, number>;
} {
  const missing = report.hosts
    .filter((h) => typeof h.sentBytes !== 'number' || h.staging === undefined)
    .map((h) => h.host);
  if (typeof report.sentBytes !== 'number' || missing.length > 0) {
    throw new Error(
      `the rollout report has no ${typeof report.sentBytes !== 'number' ? 'report-level sentBytes' : `per-host sentBytes/staging (${missing.length} host(s), e.g. ${missing[0]})`}: ` +
        'delta / artifact-url reporting is not supported by this build of ssh-rollout, so no byte figure is printed',
    );
  }
  const staging: Record<string, number> = {};
  for (const h of report.hosts) staging[h.staging!] = (staging[h.staging!] ?? 0) + 1;
  return { total: report.sentBytes, perHost: report.hosts.map((h) => h.sentBytes!), staging };
}

/** `staging full 1000, sent 1.99 MB per host`, or why the report cannot say. */
function stagingOf(report: RolloutReport): string {
  try {
    const sent = sentBytesOf(report);
    return `staging ${stagingText(sent.staging)}, sent ${bytes(median(sent.perHost))} per host`;
  } catch {
    return 'staging not reported';
  }
}

/** `{ full: 3, delta: 97 }` → `delta 97, full 3`. */
export const stagingText = (staging: Record<string, number>): string =>
  Object.entries(staging)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

const sec = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(2)} s` : '—');
const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : '—');
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const bytes = (b: number) =>
  b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${Math.round(b)} B`;

// ---------------------------------------------------------------------------------------------
// Artifacts

const DELTA_FILES = 100;
const DELTA_FILE_BYTES = 20_000;
const deltaFile = (i: number) => `lib/part-${String(i).padStart(3, '0')}.bin`;

/** 100 files, ~2 MB: VERSION and 99 incompressible 20 kB parts. */
function buildDeltaArtifact(dir: string): void {
  mkdirSync(join(dir, 'lib'), { recursive: true });
  writeFileSync(join(dir, 'VERSION'), 'delta\n');
  for (let i = 1; i < DELTA_FILES; i++) writeFileSync(join(dir, deltaFile(i)), randomBytes(DELTA_FILE_BYTES));
}

/** A copy of `from` with file `i` rewritten: a release where 1 file of 100 changed. */
function changeOneFile(from: string, to: string, i: number): Buffer {
  cpSync(from, to, { recursive: true });
  const content = randomBytes(DELTA_FILE_BYTES);
  writeFileSync(join(to, deltaFile(i)), content);
  return content;
}

async function packTarGz(dir: string, file: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = spawn(
      'tar',
      ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', file, '-C', dir, '.'],
      { env: { ...process.env, GZIP: '-n' }, stdio: 'ignore' },
    );
    c.once('error', reject);
    c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// fivestep in a child process

interface ChildJob {
  inputs: Record<string, string>;
  workDir: string;
  resultFile: string;
}

/** Remote commands (exec requests) the rollout ran: a per-host count that grows with hosts is a scale bug. */
export interface CommandCounts {
  commands: number;
}

function countingConnector(inner: Connector, counts: CommandCounts): Connector {
  return async (host, credentials) => {
    const session = await inner(host, credentials);
    return {
      id: session.id,
      spec: session.spec,
      exec(command: string, options?: ExecOptions) {
        counts.commands++;
        return session.exec(command, options);
      },
      close: () => session.close(),
    };
  };
}

export interface FivestepScaleRun {
  wallMs: number;
  /** The report's durationMs (the rollout without packing the artifact and writing the report). */
  rolloutMs: number;
  /** The child's VmHWM (kB) before the rollout started, and after it. */
  baselineHwmKb: number;
  peakHwmKb: number;
  /** Highest JS heap and Buffer (arrayBuffers) use seen, sampled every 100 ms during the rollout. */
  peakHeapKb: number;
  peakBuffersKb: number;
  /** CPU time (user + system) of the runner process during the rollout. */
  cpuMs: number;
  counts: CommandCounts;
  /** Wall time of each log group (preflight, stage, wave 1…, record) and of the teardown after them. */
  segments: { name: string; ms: number }[];
  /** Per step: median, 95th percentile and max over hosts of each host's total time in that step. */
  phases: Record<string, { median: number; p95: number; max: number }>;
  warnings: string[];
  report: RolloutReport;
}

function vmHwmKb(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function childMain(jobFile: string): Promise<void> {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as ChildJob;
  rmSync(jobFile); // it holds the private key
  const groups: { name: string; start: number; end: number }[] = [];
  const warnings: string[] = [];
  const counts: CommandCounts = { commands: 0 };
  let peakHeap = 0;
  let peakBuffers = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
  };
  const sampler = setInterval(sample, 100);
  const baselineHwmKb = vmHwmKb();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await sshRollout(objectInputs(job.inputs), {
    connector: countingConnector(connectSsh, counts),
    logger: segmentLogger(groups, warnings),
    mask: () => {},
    env: { RUNNER_TEMP: job.workDir, GITHUB_REPOSITORY: 'bench/scale' },
  });
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  sample();
  const peakHwmKb = vmHwmKb();
  if (result.failure) throw new Error(`fivestep rollout failed: ${result.failure}`);
  const report = JSON.parse(readFileSync(String(result.outputs.report), 'utf8')) as RolloutReport;
  const segs = [...groups].sort((a, b) => a.start - b.start);
  segs.push({ name: 'teardown', start: segs.length ? segs[segs.length - 1].end : t0, end: t1 });
  const phases: FivestepScaleRun['phases'] = {};
  for (const p of PHASES) {
    const per = report.hosts.map((h) => h.steps.filter((s) => s.name === p).reduce((a, s) => a + (s.end - s.start), 0));
    phases[p] = { median: median(per), p95: percentile(per, 0.95), max: Math.max(0, ...per) };
  }
  const run: FivestepScaleRun = {
    wallMs: t1 - t0,
    rolloutMs: report.durationMs,
    baselineHwmKb,
    peakHwmKb,
    peakHeapKb: peakHeap / 1024,
    peakBuffersKb: peakBuffers / 1024,
    cpuMs: (cpu.user + cpu.system) / 1000,
    counts,
    segments: segs.map((s) => ({ name: s.name, ms: s.end - s.start })),
    phases,
    warnings,
    report,
  };
  writeFileSync(job.resultFile, JSON.stringify(run));
}

/** Runs one ssh-rollout in a child node process (tsx); `inputs` are the action's inputs. */
async function runFivestepChild(inputs: Record<string, string>, workDir: string): Promise<FivestepScaleRun> {
  mkdirSync(workDir, { recursive: true });
  const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const jobFile = join(workDir, `job-${tag}.json`);
  const resultFile = join(workDir, `result-${tag}.json`);
  writeFileSync(jobFile, JSON.stringify({ inputs, workDir, resultFile } satisfies ChildJob), { mode: 0o600 });
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--child', jobFile], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`fivestep child exited ${code}: ${stderr.trim().split('\n').slice(-8).join('\n')}`);
  const run = JSON.parse(readFileSync(resultFile, 'utf8')) as FivestepScaleRun;
  rmSync(resultFile);
  return run;
}

// ---------------------------------------------------------------------------------------------

export interface ScaleRow {
  hosts: number;
  fivestep: FivestepScaleRun[];
  peer: PeerRun[];
  fivestepMs: number;
  peerMs: number;
  peakHwmKb: number;
}

export interface DeltaRow {
  mode: 'delta: false' | 'delta: true';
  staging: Record<string, number>;
  sentPerHostMedian: number;
  sentTotal: number;
  wallMs: number;
}

export interface ScaleBench {
  name: 'ssh-rollout-scale';
  hostCounts: number[];
  fleet: { hosts: number; startMs: number; stopMs?: number };
  rows: ScaleRow[];
  perHostRatio?: number;
  delta?: { hosts: number; rows: DeltaRow[]; ratio: number };
  artifactUrl?: {
    hosts: number;
    servedBytes: number;
    requests: number;
    sentBytes: number;
    staging: Record<string, number>;
    wallMs: number;
  };
  /** What could not be measured (printed as FAILED lines; a non-empty list is a failed bench). */
  errors: string[];
  lines: string[];
}

export interface ScaleOptions {
  hosts?: number[];
  /** Hosts for the delta and artifact-url runs (default 100, at most the largest size). */
  deltaHosts?: number;
  /** Runs per size (median); default 1. */
  runs?: number;
  /** Ansible's median at 20 hosts from bench/rollout.ts, shown beside the 20-host row. */
  ansibleAt20?: { wallMs: number; version?: string };
  /** Parts left out (a quicker diagnostic run); the default runs all. */
  skip?: ('peer' | 'delta' | 'url')[];
  log?: (line: string) => void;
}

export async function benchScale(opts: ScaleOptions = {}): Promise<ScaleBench> {
  const log = opts.log ?? console.log;
  const counts = opts.hosts ?? [20, 100, 200, 1000];
  const runs = opts.runs ?? 1;
  const largest = Math.max(...counts);
  const deltaHosts = Math.min(opts.deltaHosts ?? 100, largest);
  const base = join(REPO, '.tmp', 'bench-scale');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const artifactDir = join(base, 'artifact');
  buildArtifact(artifactDir);
  const errors: string[] = [];
  const rows: ScaleRow[] = [];
  const loadAtStart = loadavg()[0];
  let deltaResult: ScaleBench['delta'];
  let urlResult: ScaleBench['artifactUrl'];

  log(`  starting ${largest} OpenSSH hosts on loopback…`);
  const s0 = performance.now();
  const fleet = await Fleet.start(largest);
  const fleetInfo: ScaleBench['fleet'] = { hosts: largest, startMs: performance.now() - s0 };
  log(`  fleet: ${largest} sshd started in ${sec(fleetInfo.startMs)}`);
  const stamp = Date.now().toString(36);
  const inputsFor = (n: number, extra: Record<string, string>): Record<string, string> => ({
    hosts: fleet.hosts
      .slice(0, n)
      .map((h) => `${fleet.user}@${h.host}:${h.port}`)
      .join('\n'),
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(fleet.hosts.slice(0, n).map((h) => h.index)),
    waves: WAVES,
    'max-parallel': String(MAX_PARALLEL),
    'health-command': HEALTH,
    'reload-command': RELOAD,
    ...extra,
  });
  /** Every one of the first n hosts has `current` → releases/<release> holding `file` with `content`. */
  const verify = (
    n: number,
    deployPath: string,
    release: string,
    file: string,
    content: Buffer | string,
    tool: string,
  ) => {
    for (let i = 0; i < n; i++) {
      const link = readlinkSync(fleet.path(i, `${deployPath}/current`));
      if (link !== `releases/${release}`)
        throw new Error(`${tool}: host ${i}: current → ${link}, not releases/${release}`);
      if (!readFileSync(fleet.path(i, `${deployPath}/current/${file}`)).equals(Buffer.from(content)))
        throw new Error(`${tool}: host ${i}: ${file} is not the release's`);
    }
  };
  const cleanup = (n: number, deployPath: string) =>
    mapLimit(fleet.hosts.slice(0, n), 16, async (h) =>
      rmSync(fleet.path(h.index, deployPath), { recursive: true, force: true }),
    );
  /** A part that cannot be measured is an error line, never a zero. */
  const measure = async <T>(part: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      errors.push(`${part}: ${(e as Error).message}`);
      return undefined;
    }
  };

  /** A (nothing on the hosts yet) → B (1 file changed, delta: false) → C (1 more changed, delta: true). */
  const measureDelta = async (): Promise<NonNullable<ScaleBench['delta']>> => {
    const dPath = '/srv/scale-delta';
    const a = join(base, 'delta-a');
    buildDeltaArtifact(a);
    const b = join(base, 'delta-b');
    changeOneFile(a, b, 42);
    const c = join(base, 'delta-c');
    const changed = changeOneFile(b, c, 17);
    const deltaRun = async (dir: string, release: string, delta: 'true' | 'false') => {
      const run = await runFivestepChild(
        inputsFor(deltaHosts, { 'deploy-path': dPath, artifact: dir, 'release-id': release, delta }),
        join(base, 'runner'),
      );
      return { run, sent: sentBytesOf(run.report) };
    };
    await deltaRun(a, `delta-${stamp}-a`, 'true');
    const full = await deltaRun(b, `delta-${stamp}-b`, 'false');
    const d = await deltaRun(c, `delta-${stamp}-c`, 'true');
    verify(deltaHosts, dPath, `delta-${stamp}-c`, deltaFile(17), changed, 'fivestep delta');
    const rowOf = (mode: DeltaRow['mode'], x: typeof full): DeltaRow => ({
      mode,
      staging: x.sent.staging,
      sentPerHostMedian: median(x.sent.perHost),
      sentTotal: x.sent.total,
      wallMs: x.run.wallMs,
    });
    const dRows = [rowOf('delta: false', full), rowOf('delta: true', d)];
    await cleanup(deltaHosts, dPath);
    return { hosts: deltaHosts, rows: dRows, ratio: dRows[0].sentPerHostMedian / dRows[1].sentPerHostMedian };
  };

  /** The hosts fetch the tar.gz from an HTTP server in this process; the runner should send none of it. */
  const measureArtifactUrl = async (): Promise<NonNullable<ScaleBench['artifactUrl']>> => {
    const uPath = '/srv/scale-url';
    const tarball = join(base, 'url-artifact.tar.gz');
    await packTarGz(artifactDir, tarball);
    const sha256 = createHash('sha256').update(readFileSync(tarball)).digest('hex');
    const size = statSync(tarball).size;
    let servedBytes = 0;
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      if (req.url !== '/artifact.tar.gz') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': size });
      const stream = createReadStream(tarball);
      stream.on('data', (chunk) => (servedBytes += chunk.length));
      stream.pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/artifact.tar.gz`;
    try {
      const release = `url-${stamp}`;
      const run = await runFivestepChild(
        inputsFor(deltaHosts, {
          'deploy-path': uPath,
          'artifact-url': url,
          'artifact-sha256': sha256,
          'release-id': release,
        }),
        join(base, 'runner'),
      );
      verify(deltaHosts, uPath, release, 'VERSION', 'bench\n', 'fivestep artifact-url');
      let sent: ReturnType<typeof sentBytesOf>;
      try {
        sent = sentBytesOf(run.report);
      } catch (e) {
        throw new Error(
          `${(e as Error).message} (the bench's server served ${bytes(servedBytes)} in ${requests} request(s))`,
        );
      }
      if (servedBytes === 0 || (sent.staging.url ?? 0) !== deltaHosts) {
        throw new Error(
          `the hosts did not download the artifact (server served ${servedBytes} bytes in ${requests} request(s); staging ${stagingText(sent.staging)}): artifact-url is not supported by this build`,
        );
      }
      await cleanup(deltaHosts, uPath);
      return {
        hosts: deltaHosts,
        servedBytes,
        requests,
        sentBytes: sent.total,
        staging: sent.staging,
        wallMs: run.wallMs,
      };
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  };

  try {
    for (const n of counts) {
      const row: ScaleRow = { hosts: n, fivestep: [], peer: [], fivestepMs: NaN, peerMs: NaN, peakHwmKb: NaN };
      for (let r = 0; r < runs; r++) {
        const fPath = `/srv/scale-${n}-${r}`;
        const pPath = `/srv/peer-${n}-${r}`;
        const release = `scale-${stamp}-${n}-${r}`;
        const f = await runFivestepChild(
          inputsFor(n, { 'deploy-path': fPath, artifact: artifactDir, 'release-id': release }),
          join(base, 'runner'),
        );
        verify(n, fPath, release, 'VERSION', 'bench\n', 'fivestep');
        row.fivestep.push(f);
        log(
          `  ${n} hosts  fivestep ${sec(f.wallMs)}  segments: ${f.segments.map((s) => `${s.name} ${ms(s.ms)}`).join(', ')}${f.warnings.length ? `  (${f.warnings.length} warnings, e.g. ${f.warnings[0]})` : ''}`,
        );
        if (opts.skip?.includes('peer')) continue;
        const p = await runOpensshPeer({
          hosts: fleet.specs().slice(0, n),
          privateKey: fleet.clientKey,
          knownHosts: fleet.knownHosts(fleet.hosts.slice(0, n).map((h) => h.index)),
          artifactDir,
          releaseId: release,
          deployPath: pPath,
          waves: WAVES,
          parallel: MAX_PARALLEL,
          reloadCommand: RELOAD,
          healthCommand: HEALTH,
          workDir: join(base, 'peer'),
        });
        verify(n, pPath, release, 'VERSION', 'bench\n', 'OpenSSH peer');
        row.peer.push(p);
        log(
          `  ${n} hosts  OpenSSH  ${sec(p.wallMs)}  waves: ${p.wavesMs.map(ms).join(', ')}  (${p.sshProcesses} ssh processes)`,
        );
        await cleanup(n, fPath);
        await cleanup(n, pPath);
      }
      row.fivestepMs = median(row.fivestep.map((f) => f.wallMs));
      row.peerMs = row.peer.length ? median(row.peer.map((p) => p.wallMs)) : NaN;
      row.peakHwmKb = Math.max(...row.fivestep.map((f) => f.peakHwmKb));
      rows.push(row);
    }

    if (!opts.skip?.includes('delta')) deltaResult = await measure('delta', () => measureDelta());
    if (!opts.skip?.includes('url')) urlResult = await measure('artifact-url', () => measureArtifactUrl());
  } finally {
    const t = performance.now();
    await fleet.stop();
    fleetInfo.stopMs = performance.now() - t;
  }

  // ---- figures
  const at = (n: number) => rows.find((r) => r.hosts === n);
  const r100 = at(100);
  const r1000 = at(1000);
  const perHostRatio = r100 && r1000 ? r1000.fivestepMs / 1000 / (r100.fivestepMs / 100) : undefined;
  const first = rows[0]?.fivestep[0];
  const lines: string[] = [
    `ssh-rollout at scale: real OpenSSH hosts on loopback (2 cores), ~2 MB tar.gz artifact, waves ${WAVES}, max-parallel ${MAX_PARALLEL}, reload + health commands; ${runs === 1 ? 'one run' : `median of ${runs} runs`} per size`,
    `  machine load average (1 min) at start ${loadAtStart.toFixed(1)}, at end ${loadavg()[0].toFixed(1)} on 2 cores (other work on the machine slows these figures)`,
    `  fleet: ${largest} sshd (own host key, port and mount namespace each) started in ${sec(fleetInfo.startMs)} (32 at a time), stopped in ${sec(fleetInfo.stopMs ?? NaN)}`,
    `    hosts | fivestep time | per host | OpenSSH peer time | per host | peak RSS (fivestep)`,
    ...rows.map(
      (r) =>
        `  ${String(r.hosts).padStart(7)} | ${sec(r.fivestepMs).padStart(13)} | ${ms(r.fivestepMs / r.hosts).padStart(8)} | ${sec(r.peerMs).padStart(17)} | ${ms(r.peerMs / r.hosts).padStart(8)} | ${mb(r.peakHwmKb).padStart(8)}`,
    ),
    opts.ansibleAt20
      ? `  Ansible at 20 hosts (bench/rollout.ts, median of its runs, ${opts.ansibleAt20.version ?? 'ansible-playbook'}): ${sec(opts.ansibleAt20.wallMs)} (${ms(opts.ansibleAt20.wallMs / 20)} per host)`
      : '  Ansible at 20 hosts: see the ssh-rollout vs Ansible section (bench/rollout.ts); not run at larger sizes',
    `  OpenSSH peer: bench/openssh-peer.ts — system ssh (OpenSSH defaults), ${MAX_PARALLEL} processes at once, one fresh connection per host per phase (upload, unpack, switch, reload, health), same waves, StrictHostKeyChecking=yes; no lock, state, checksum or deploy log`,
    `  peak RSS: VmHWM of the child node process that runs only sshRollout (node + tsx + rollout; before the rollout: ${first ? mb(first.baselineHwmKb) : 'n/a'}); the fleet's bookkeeping runs in the parent`,
    perHostRatio !== undefined
      ? `  time per host at 1,000 / at 100: ${ms(r1000!.fivestepMs / 1000)} / ${ms(r100!.fivestepMs / 100)} = ${perHostRatio.toFixed(2)}x (target ≤ ${PER_HOST_RATIO_TARGET}x: ${perHostRatio <= PER_HOST_RATIO_TARGET ? 'met' : 'MISSED'})`
      : '  time per host at 1,000 / at 100: not measured (needs 100 and 1000 in --hosts)',
    `  fivestep per-phase time per host (median / p95 over hosts) and segment wall times, by size:`,
    `    ${'hosts'.padStart(5)} ${PHASES.map((p) => p.padStart(11)).join('')}`,
    ...rows.map(
      (r) =>
        `    ${String(r.hosts).padStart(5)} ${PHASES.map((p) => `${Math.round(r.fivestep[0].phases[p].median)}/${Math.round(r.fivestep[0].phases[p].p95)}`.padStart(11)).join('')}`,
    ),
    ...rows.map(
      (r) =>
        `    ${String(r.hosts).padStart(5)} segments: ${r.fivestep[0].segments.map((s) => `${s.name} ${ms(s.ms)}`).join(', ')}`,
    ),
    `  fivestep runner process by size: CPU (user + sys) per host, remote commands per host, peak JS heap / Buffers, how the release reached the hosts:`,
    ...rows.map((r) => {
      const f = r.fivestep[0];
      return `    ${String(r.hosts).padStart(5)}: ${ms(f.cpuMs / r.hosts)} CPU per host, ${(f.counts.commands / r.hosts).toFixed(1)} commands per host, heap ${mb(f.peakHeapKb)} / Buffers ${mb(f.peakBuffersKb)}, ${stagingOf(f.report)}`;
    }),
    `  OpenSSH peer median ssh time per host by phase: ` +
      rows
        .filter((r) => r.peer.length)
        .map((r) => `${r.hosts}: ${PEER_PHASES.map((p) => `${p} ${ms(median(r.peer[0].phaseMs[p]))}`).join(' ')}`)
        .join('; '),
  ];
  if (deltaResult) {
    lines.push(
      `  delta: a release where 1 file of ${DELTA_FILES} changed (~2 MB, incompressible), ${deltaResult.hosts} hosts`,
      `    mode          | staging              | sent per host | sent in all | rollout time`,
      ...deltaResult.rows.map(
        (r) =>
          `    ${r.mode.padEnd(13)} | ${stagingText(r.staging).padEnd(20)} | ${bytes(r.sentPerHostMedian).padStart(13)} | ${bytes(r.sentTotal).padStart(11)} | ${sec(r.wallMs).padStart(12)}`,
      ),
      `    ${deltaResult.ratio.toFixed(1)}x fewer bytes per host with delta (target ≥ ${DELTA_RATIO_TARGET}x: ${deltaResult.ratio >= DELTA_RATIO_TARGET ? 'met' : 'MISSED'})`,
    );
  }
  if (urlResult) {
    lines.push(
      `  artifact-url: ${urlResult.hosts} hosts downloaded ${bytes(urlResult.servedBytes)} in ${urlResult.requests} request(s) from the bench's HTTP server on 127.0.0.1; ` +
        `the runner sent ${bytes(urlResult.sentBytes)} of artifact (report sentBytes; target 0: ${urlResult.sentBytes === 0 ? 'met' : 'MISSED'}); rollout ${sec(urlResult.wallMs)}`,
    );
  }
  for (const e of errors) lines.push(`  FAILED ${e}`);
  lines.forEach((l) => log(l));
  return {
    name: 'ssh-rollout-scale',
    hostCounts: counts,
    fleet: fleetInfo,
    rows,
    perHostRatio,
    delta: deltaResult,
    artifactUrl: urlResult,
    errors,
    lines,
  };
}

/** The figures without the per-run reports (for bench.json): per size, the first run's segments and phases. */
export function scaleSummary(b: ScaleBench) {
  return {
    ...b,
    rows: b.rows.map(({ fivestep, peer, ...rest }) => ({
      ...rest,
      fivestepSegments: fivestep[0].segments,
      fivestepPhases: fivestep[0].phases,
      peerWavesMs: peer[0]?.wavesMs,
      peerPhaseMedianMs: peer[0]
        ? Object.fromEntries(PEER_PHASES.map((p) => [p, median(peer[0].phaseMs[p])]))
        : undefined,
    })),
  };
}

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

if (process.argv.includes('--child')) {
  await childMain(argValue('--child')!);
} else if (process.argv[1] && resolvePath(process.argv[1]) === SELF) {
  const started = performance.now();
  const b = await benchScale({
    hosts: argValue('--hosts') ? parseHostCounts(argValue('--hosts')!) : undefined,
    deltaHosts: argValue('--delta-hosts') ? Number(argValue('--delta-hosts')) : undefined,
    runs: argValue('--runs') ? Number(argValue('--runs')) : undefined,
    skip: (argValue('--skip')?.split(',') ?? []) as ScaleOptions['skip'],
  });
  console.log(`\nscale bench finished in ${sec(performance.now() - started)}`);
  if (b.errors.length) process.exitCode = 1;
}

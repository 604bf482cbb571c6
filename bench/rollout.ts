// Benchmark: fivestep's ssh-rollout next to Ansible (Debian's ansible-core) doing the same work on the
// same fleet of 20 real OpenSSH servers, in the same run: a ~2 MB artifact, waves `1, 25%, 100%`,
// unpack into releases/<id>, an atomic symlink switch, a reload command and a health command.
//
// Each tool runs RUNS times, alternating (fivestep, ansible, fivestep, …), each run cold: fivestep
// opens new connections, Ansible gets a fresh ControlPath directory (its masters are closed after).
//
// "Our overhead per host" (the target: under 50 ms):
//   The rollout is a sequence of segments: preflight (all hosts at once), stage (all hosts at once),
//   wave 1, wave 2, wave 3, record/prune (all updated hosts at once), teardown (lock release, close).
//   In each segment the unavoidable time is its slowest host's SSH time: the sum of that host's
//   connect handshake and every remote command it ran in the segment (exec start → exit status),
//   health checks included, measured by wrapping the connector. Everything else is ours: packing
//   the artifact, settings, scheduling between steps, the event loop, writing the report.
//     overhead per host = (fivestep wall time − Σ over segments of max over hosts of SSH time) / hosts
//   Wall time is measured around the whole sshRollout() call (directory in, report out).
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { objectInputs, hostId, type HostSpec } from '../src/common/inputs.js';
import type { Logger } from '../src/common/logger.js';
import { connectSsh } from '../src/ssh/connector.js';
import type { Connector, ExecOptions, RemoteSession, SshCredentials } from '../src/ssh/types.js';
import { sshRollout } from '../src/rollout/main.js';
import type { RolloutReport, StepName } from '../src/rollout/record.js';
import { Fleet } from '../test/servers/fleet.js';
import { ensurePackages } from '../test/servers/system-packages.js';

const run = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOSTS = 20;
export const WAVES = '1, 25%, 100%';
export const HEALTH = 'test -s VERSION';
export const RELOAD = 'touch "$DEPLOY_PATH/reloaded"';

const median = (xs: number[]) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x: number) => `${Math.round(x)} ms`;
const sec = (x: number) => `${(x / 1000).toFixed(2)} s`;

export interface FivestepRun {
  wallMs: number;
  rolloutMs: number;
  /** Σ over segments of the slowest host's SSH time. */
  sshCriticalMs: number;
  overheadPerHostMs: number;
  segments: { name: string; ms: number; criticalMs: number }[];
  /** Per host: total ms per step name (from the report). */
  hostSteps: Record<string, number>[];
}

export interface AnsibleRun {
  wallMs: number;
  packMs: number;
  playbookMs: number;
}

export interface RolloutBench {
  name: 'ssh-rollout-vs-ansible';
  hosts: number;
  waves: string;
  artifactBytes: number;
  artifactFiles: number;
  runs: number;
  fivestep: {
    runs: FivestepRun[];
    medianWallMs: number;
    medianOverheadPerHostMs: number;
    phasesMedianMs: Record<string, number>;
  };
  ansible: { available: boolean; version?: string; note?: string; runs: AnsibleRun[]; medianWallMs?: number };
  ratio?: number;
  lines: string[];
}

// ---------------------------------------------------------------------------------------------
// The artifact: incompressible binaries plus text, ~2 MB packed.

export function buildArtifact(dir: string): { files: number } {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'assets'), { recursive: true });
  mkdirSync(join(dir, 'config'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'app.bin'), randomBytes(1_200_000));
  for (let i = 0; i < 6; i++) writeFileSync(join(dir, 'assets', `chunk-${i}.bin`), randomBytes(100_000));
  const words =
    'deploy release wave host health reload switch symlink artifact checksum rollout revert lock prune'.split(' ');
  for (let i = 0; i < 60; i++) {
    const lines: string[] = [];
    for (let l = 0; l < 120; l++) {
      const n = (i * 7919 + l * 104729) >>> 0;
      lines.push(`${l} ${words[n % words.length]} ${(n % 100003).toString(16)} ${randomBytes(12).toString('base64')}`);
    }
    writeFileSync(join(dir, 'config', `file-${String(i).padStart(2, '0')}.txt`), `${lines.join('\n')}\n`);
  }
  writeFileSync(join(dir, 'VERSION'), 'bench\n');
  return { files: 6 + 1 + 60 + 1 };
}

// ---------------------------------------------------------------------------------------------
// fivestep

interface Interval {
  host: string;
  start: number;
  end: number;
}

/** Records every handshake and remote command with its host and times. */
function timingConnector(inner: Connector, log: Interval[]): Connector {
  return async (host: HostSpec, credentials: SshCredentials): Promise<RemoteSession> => {
    const start = performance.now();
    const session = await inner(host, credentials);
    const id = hostId(host);
    log.push({ host: id, start, end: performance.now() });
    return {
      id: session.id,
      spec: session.spec,
      async exec(command: string, options?: ExecOptions) {
        const t0 = performance.now();
        try {
          return await session.exec(command, options);
        } finally {
          log.push({ host: id, start: t0, end: performance.now() });
        }
      },
      close: () => session.close(),
    };
  };
}

/** A quiet logger that records when each group (preflight, stage, wave i, prune) starts and ends. */
export function segmentLogger(
  segments: { name: string; start: number; end: number }[],
  warnings: string[] = [],
): Logger {
  return {
    debug() {},
    info() {},
    warning(m: string) {
      warnings.push(m);
    },
    error(m: string) {
      console.error(`  fivestep: ${m}`);
    },
    async group<T>(name: string, fn: () => Promise<T>): Promise<T> {
      // Per-host groups (`host · wave N · …`) only print steps already timed; they are not phases.
      if (name.includes(' · wave ')) return fn();
      const short = name.startsWith('Stage')
        ? 'stage'
        : name.startsWith('Record')
          ? 'record'
          : name
              .replace(/:.*$/, '')
              .replace(/^Wave (\d+)\/\d+/, 'wave $1')
              .toLowerCase();
      const seg = { name: short, start: performance.now(), end: 0 };
      try {
        return await fn();
      } finally {
        seg.end = performance.now();
        segments.push(seg);
      }
    },
  };
}

/** What the runners read of a fleet: a Fleet, or the same hosts reached another way (through proxies). */
export interface FleetView {
  hosts: { host: string; port: number }[];
  user: string;
  clientKey: string;
  hostsInput: string;
  knownHosts(): string;
}

export async function runFivestep(
  fleet: FleetView,
  artifactDir: string,
  releaseId: string,
  workDir: string,
): Promise<FivestepRun> {
  const intervals: Interval[] = [];
  const groups: { name: string; start: number; end: number }[] = [];
  const inputs = objectInputs({
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    artifact: artifactDir,
    'release-id': releaseId,
    waves: WAVES,
    'health-command': HEALTH,
    'reload-command': RELOAD,
    // Every run ships the same content under a new id: with delta the later runs would send almost
    // nothing, while Ansible's copy sends it all. Like for like: the whole artifact (delta has its own figures in bench/scale.ts).
    delta: 'false',
  });
  const env = { RUNNER_TEMP: workDir, GITHUB_REPOSITORY: 'bench/bench' };
  const t0 = performance.now();
  const result = await sshRollout(inputs, {
    connector: timingConnector(connectSsh, intervals),
    logger: segmentLogger(groups),
    mask: () => {},
    env,
  });
  const t1 = performance.now();
  if (result.failure) throw new Error(`fivestep rollout failed: ${result.failure}`);
  const report = JSON.parse(readFileSync(String(result.outputs.report), 'utf8')) as RolloutReport;
  if (report.result !== 'success' || report.hosts.some((h) => h.outcome !== 'updated'))
    throw new Error(`fivestep rollout did not update every host: ${report.result}`);

  // Segments: each logged group, then the teardown after the last one.
  const segs = [...groups].sort((a, b) => a.start - b.start);
  segs.push({ name: 'teardown', start: segs.length ? segs[segs.length - 1].end : t0, end: t1 });
  const segments = segs.map((s) => {
    const perHost = new Map<string, number>();
    for (const iv of intervals)
      if (iv.start >= s.start && iv.start < s.end)
        perHost.set(iv.host, (perHost.get(iv.host) ?? 0) + (iv.end - iv.start));
    return { name: s.name, ms: s.end - s.start, criticalMs: Math.max(0, ...perHost.values()) };
  });
  const sshCriticalMs = segments.reduce((a, s) => a + s.criticalMs, 0);
  const wallMs = t1 - t0;
  const hostSteps = report.hosts.map((h) => {
    const sums: Record<string, number> = {};
    for (const s of h.steps) sums[s.name] = (sums[s.name] ?? 0) + (s.end - s.start);
    return sums;
  });
  return {
    wallMs,
    rolloutMs: report.durationMs,
    sshCriticalMs,
    overheadPerHostMs: (wallMs - sshCriticalMs) / fleet.hosts.length,
    segments,
    hostSteps,
  };
}

// ---------------------------------------------------------------------------------------------
// Ansible

const PLAYBOOK = `# Same work as ssh-rollout: upload, unpack into releases/<id>, switch the symlink, reload, health.
- hosts: fleet
  gather_facts: false
  serial: [1, "25%", "100%"]
  max_fail_percentage: 0
  any_errors_fatal: true
  vars:
    deploy: /srv/ansible
    release: "{{ release_id }}"
  tasks:
    - name: directories
      file: { path: "{{ deploy }}/{{ item }}", state: directory }
      loop: [incoming, "releases/{{ release }}"]
    - name: upload
      copy: { src: "{{ artifact }}", dest: "{{ deploy }}/incoming/{{ release }}.tar.gz" }
    - name: unpack
      unarchive: { src: "{{ deploy }}/incoming/{{ release }}.tar.gz", dest: "{{ deploy }}/releases/{{ release }}", remote_src: true }
    - name: switch
      file: { src: "releases/{{ release }}", dest: "{{ deploy }}/current", state: link, force: true }
    - name: reload
      command: { cmd: "touch {{ deploy }}/reloaded", chdir: "{{ deploy }}/current" }
    - name: health
      command: { cmd: "test -s VERSION", chdir: "{{ deploy }}/current" }
      changed_when: false
`;

/** The settings a fair Ansible user would turn on; printed with the figures. */
export const ANSIBLE_SPEEDUPS =
  'pipelining=True, forks=20, gather_facts: false, ControlMaster/ControlPersist (default), no ssh -C';

export interface AnsibleSetup {
  dir: string;
  inventory: string;
  playbook: string;
  env: NodeJS.ProcessEnv;
}

export function setupAnsible(fleet: FleetView, dir: string): AnsibleSetup {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'client_key');
  writeFileSync(keyFile, fleet.clientKey, { mode: 0o600 });
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, fleet.knownHosts());
  const inventory = join(dir, 'inventory.ini');
  writeFileSync(
    inventory,
    [
      '[fleet]',
      ...fleet.hosts.map((h, i) => `host${i} ansible_host=${h.host} ansible_port=${h.port}`),
      '',
      '[fleet:vars]',
      `ansible_user=${fleet.user}`,
      `ansible_ssh_private_key_file=${keyFile}`,
      'ansible_python_interpreter=/usr/bin/python3',
      '',
    ].join('\n'),
  );
  const playbook = join(dir, 'deploy.yml');
  writeFileSync(playbook, PLAYBOOK);
  const cfg = join(dir, 'ansible.cfg');
  writeFileSync(cfg, '[defaults]\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ANSIBLE_CONFIG: cfg,
    ANSIBLE_HOME: join(dir, 'home'),
    ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
    ANSIBLE_PIPELINING: 'True',
    ANSIBLE_FORKS: String(HOSTS),
    ANSIBLE_GATHERING: 'explicit',
    ANSIBLE_HOST_KEY_CHECKING: 'True',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_DEPRECATION_WARNINGS: 'False',
    ANSIBLE_SSH_ARGS: `-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null`,
  };
  return { dir, inventory, playbook, env };
}

/** Closes the ControlPersist masters a run left behind (so the next run starts cold too). */
export async function closeControlMasters(controlDir: string): Promise<void> {
  let socks: string[] = [];
  try {
    socks = readdirSync(controlDir);
  } catch {
    return;
  }
  await Promise.all(
    socks.map((s) =>
      run('ssh', ['-o', `ControlPath=${join(controlDir, s)}`, '-O', 'exit', 'bench']).catch(() => undefined),
    ),
  );
}

export async function runAnsible(setup: AnsibleSetup, artifactDir: string, releaseId: string): Promise<AnsibleRun> {
  const tarball = join(setup.dir, `${releaseId}.tar.gz`);
  const controlDir = mkdtempSync(join(setup.dir, 'cp-'));
  const t0 = performance.now();
  // Ansible gets the same directory fivestep gets, so it packs it the same way (timed with it).
  await run(
    'tar',
    ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', tarball, '-C', artifactDir, '.'],
    { env: { ...process.env, GZIP: '-n' } },
  );
  const t1 = performance.now();
  try {
    await run(
      'ansible-playbook',
      ['-i', setup.inventory, setup.playbook, '-e', `release_id=${releaseId}`, '-e', `artifact=${tarball}`],
      {
        env: { ...setup.env, ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir },
        maxBuffer: 64 * 1024 * 1024,
        cwd: setup.dir,
      },
    );
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    const tail = `${err.stdout ?? ''}\n${err.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`ansible-playbook failed: ${err.message.split('\n')[0]}\n${tail}`);
  } finally {
    await closeControlMasters(controlDir);
  }
  const t2 = performance.now();
  return { wallMs: t2 - t0, packMs: t1 - t0, playbookMs: t2 - t1 };
}

/** Makes sure ansible-playbook exists; returns its version, or why it cannot run. */
export async function ensureAnsible(log: (l: string) => void): Promise<{ version?: string; note?: string }> {
  const version = () => {
    const r = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
  };
  let v = version();
  if (!v) {
    log("ansible-playbook not found: installing Debian's ansible with apt…");
    try {
      ensurePackages(['ansible']);
    } catch (err) {
      return { note: `${err instanceof Error ? err.message : String(err)}; only fivestep was measured` };
    }
    v = version();
    if (!v) return { note: 'ansible-playbook --version fails after the install; only fivestep was measured' };
  }
  return { version: v };
}

// ---------------------------------------------------------------------------------------------

export async function benchRollout(runs = 3, log: (line: string) => void = console.log): Promise<RolloutBench> {
  // Before the fleet starts: installing packages stops services by name.
  const ans = await ensureAnsible(log);
  const base = join(REPO, '.tmp', 'bench-rollout');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true });
  const artifactDir = join(base, 'artifact');
  const { files } = buildArtifact(artifactDir);
  const packed = await run('sh', ['-c', `tar -C ${artifactDir} -czf - . | wc -c`]);
  const artifactBytes = Number(packed.stdout.trim());

  const fleet = await Fleet.start(HOSTS);
  const fivestep: FivestepRun[] = [];
  const ansible: AnsibleRun[] = [];
  let ansibleNote = ans.note;
  try {
    const setup = ans.version ? setupAnsible(fleet, join(base, 'ansible')) : undefined;
    const stamp = Date.now().toString(36);
    for (let i = 0; i < runs; i++) {
      const f = await runFivestep(fleet, artifactDir, `bench-${stamp}-f${i + 1}`, join(base, 'runner'));
      fivestep.push(f);
      log(`  run ${i + 1}/${runs}  fivestep ${sec(f.wallMs)} (overhead ${f.overheadPerHostMs.toFixed(1)} ms/host)`);
      if (setup && !ansibleNote) {
        try {
          const a = await runAnsible(setup, artifactDir, `bench-${stamp}-a${i + 1}`);
          ansible.push(a);
          log(`  run ${i + 1}/${runs}  ansible  ${sec(a.wallMs)}`);
        } catch (e) {
          ansibleNote = `Ansible failed, only fivestep was measured: ${(e as Error).message}`;
          log(ansibleNote);
        }
      }
    }
    // Both tools really deployed: every host's current release holds the artifact.
    for (let i = 0; i < fleet.hosts.length; i++) {
      if (readFileSync(fleet.path(i, '/srv/app/current/VERSION'), 'utf8') !== 'bench\n')
        throw new Error(`host ${i}: fivestep's current release is wrong`);
      if (ansible.length && readFileSync(fleet.path(i, '/srv/ansible/current/VERSION'), 'utf8') !== 'bench\n')
        throw new Error(`host ${i}: Ansible's current release is wrong`);
    }
  } finally {
    await fleet.stop();
  }

  // Per-phase: median over all hosts and runs of each host's time in that step.
  const phases: StepName[] = ['connect', 'lock', 'state', 'upload', 'unpack', 'switch', 'reload', 'health', 'record'];
  const phasesMedianMs: Record<string, number> = {};
  for (const p of phases) phasesMedianMs[p] = median(fivestep.flatMap((r) => r.hostSteps.map((h) => h[p] ?? 0)));
  const fWall = median(fivestep.map((r) => r.wallMs));
  const fOverhead = median(fivestep.map((r) => r.overheadPerHostMs));
  const aWall = ansible.length ? median(ansible.map((r) => r.wallMs)) : undefined;
  const ratio = aWall !== undefined ? aWall / fWall : undefined;
  const mid = [...fivestep].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(fivestep.length / 2)];

  const lines = [
    `ssh-rollout vs Ansible: ${HOSTS} OpenSSH hosts on loopback, waves ${WAVES}, artifact ${(artifactBytes / 1e6).toFixed(2)} MB tar.gz (${files} files, mostly incompressible), ${runs} runs each, alternating`,
    `  tool                                      median wall   runs`,
    `  fivestep ssh-rollout (in-process, ssh2)   ${sec(fWall).padStart(11)}   ${fivestep.map((r) => sec(r.wallMs)).join(', ')}`,
    aWall !== undefined
      ? `  ${ans.version!.padEnd(40)}  ${sec(aWall).padStart(11)}   ${ansible.map((r) => sec(r.wallMs)).join(', ')}`
      : `  Ansible: not measured (${ansibleNote})`,
    ratio !== undefined ? `  ratio: fivestep is ${ratio.toFixed(1)}x faster (target ≥ 10x)` : '  ratio: n/a',
    ...(aWall !== undefined
      ? [
          `  Ansible settings: ${ANSIBLE_SPEEDUPS}; host keys checked against the fleet's known_hosts; copy + unarchive, file state=link, command reload/health`,
        ]
      : []),
    `  both: pack the same directory (tar.gz) inside the timed span; fivestep also takes the host lock, verifies sha256 and records a deploy log`,
    `  fivestep per-phase time per host (median over ${HOSTS} hosts × ${runs} runs):`,
    `    ${phases.map((p) => p.padStart(8)).join('')}`,
    `    ${phases.map((p) => ms(phasesMedianMs[p]).padStart(8)).join('')}`,
    `  fivestep segments of the median run (wall / slowest host's SSH time): ` +
      mid.segments.map((s) => `${s.name} ${ms(s.ms)}/${ms(s.criticalMs)}`).join(', '),
    `  our overhead per host: median ${fOverhead.toFixed(1)} ms (target < 50 ms)  (runs: ${fivestep.map((r) => r.overheadPerHostMs.toFixed(1)).join(', ')})`,
    `    = (fivestep wall time − Σ over segments [preflight, stage, wave 1..3, prune, teardown] of the slowest host's SSH time) / ${HOSTS} hosts;`,
    `      SSH time = handshake + every remote command (health included), from exec start to exit status.`,
  ];
  if (ansibleNote && aWall === undefined) lines.push(`  note: ${ansibleNote}`);
  lines.forEach((l) => log(l));
  return {
    name: 'ssh-rollout-vs-ansible',
    hosts: HOSTS,
    waves: WAVES,
    artifactBytes,
    artifactFiles: files,
    runs,
    fivestep: { runs: fivestep, medianWallMs: fWall, medianOverheadPerHostMs: fOverhead, phasesMedianMs },
    ansible: {
      available: aWall !== undefined,
      version: ans.version,
      note: ansibleNote,
      runs: ansible,
      medianWallMs: aWall,
    },
    ratio,
    lines,
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchRollout();
}

// `fivestep status` at scale: the CLI reading 1,000 real OpenSSH hosts on loopback, beside what the person on
// call does without it (a shell loop of `ssh`, one host after another, and the same loop 10 at a time with
// `xargs -P 10`), on the same hosts in the same run.
//
// The hosts (test/servers/fleet.ts, as bench/scale.ts starts them: one sshd, host key, port and mount namespace
// each) are given a realistic state by writing the on-host layout straight into each host's /srv (faster than
// two rollouts, and the same files): /srv/app/releases/r1 and r2, `current` → releases/r2, a deploy log of
// JSON lines (r1 and r2 staged, switched, healthy), and on a few hosts a failed, bad-marked r3 or a stale lock.
//
// Measured, each as a child process of this one:
//   fivestep status  `node dist/cli/index.js status --config FILE --json` (the bundle; src/cli/index.ts through
//                    tsx when dist/cli is missing or `--cli src`); its JSON is parsed: every host read, every
//                    host's current and lock as written. With --with-view, also the command without --json (the
//                    grouped view the person reads above 50 hosts; same reads, ~the same time, so off by default).
//   ssh loop         `for p in $(cat ports); do ssh … -p "$p" fivestep@127.0.0.1 'readlink …; ls …; tail …;
//                    ls …; cat …'; done`: one fresh ssh connection a host (no ControlMaster), host keys checked.
//   xargs -P 10      the same ssh command through `xargs -P 10 -I{}`, over all the hosts; then again with
//                    `-o KexAlgorithms=curve25519-sha256`, the key exchange fivestep's ssh2 client uses: OpenSSH 9's
//                    default (sntrup761x25519, post-quantum) costs the ssh client ~70 ms of CPU a connection here,
//                    so this row tells the kex apart from the rest of the gap.
// The sequential loop costs ~0.1–0.25 s a host here (one ssh handshake after another), so by default it reads the
// first 50 hosts only and its time at the full count is extrapolated (it is sequential: time grows linearly
// with hosts); `--sequential-hosts 1000` runs it over all of them (4 minutes or so).
// Wall time is measured here, from spawn to exit (process start-up counted: it is what the person waits for).
// Memory: GNU time's %M (the largest max RSS of any single process of the tree: node for fivestep, one ssh or
// the shell for the loops) when /usr/bin/time exists, else the highest VmHWM seen while sampling; and, for all,
// the peak of the summed RSS of the whole process tree, sampled every 50 ms from /proc (10 ssh at once count 10x).
//
//   npx tsx bench/status.ts [--hosts 1000] [--sequential-hosts 50] [--cli dist|src] [--with-view]
//                           [--skip sequential,curve25519]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as yamlStringify } from 'yaml';
import { quote } from '../src/common/shell.js';
import type { DeployLogEntry } from '../src/release/commands.js';
import type { HostStatus } from '../src/cli/status-view.js';
import { Fleet } from '../test/servers/fleet.js';

const SELF = fileURLToPath(import.meta.url);
const REPO = join(dirname(SELF), '..');
const TIME = '/usr/bin/time';
const DEPLOY_PATH = '/srv/app';
const LOOP_PARALLEL = 10;
const LOG_TAIL = 50;
const LOCK_HOLDER = 'ssh-rollout run 4242 (bench/status) by bench@runner';
/** Hosts with a stale lock (a run that died) and hosts with a failed, bad-marked r3 beside the current r2. */
const lockedHost = (i: number) => i % 100 === 0;
const badHost = (i: number) => i % 100 === 50;

function sshVersion(): string {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return /OpenSSH_([\w.]+)/.exec(`${r.stderr}${r.stdout}`)?.[1] ?? '?';
}

const sec = (x: number) => (Number.isFinite(x) ? `${(x / 1000).toFixed(2)} s` : '—');
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '—');
const mb = (kb: number) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MB` : '—');

// ---------------------------------------------------------------------------------------------
// The on-host layout, written directly.

/** Writes host i's deploy path as two rollouts (and, on some hosts, a failed third and a dead run's lock) leave it. */
function writeLayout(root: string, i: number, uid: number, gid: number, nowSec: number): void {
  const app = join(root, 'app');
  const made: string[] = [];
  const dir = (p: string) => (mkdirSync(p, { recursive: true }), made.push(p));
  const file = (p: string, text: string) => (writeFileSync(p, text), made.push(p));
  dir(join(app, '.fivestep', 'checksums'));
  const releases = badHost(i) ? ['r1', 'r2', 'r3'] : ['r1', 'r2'];
  const log: DeployLogEntry[] = [];
  const at = (sAgo: number) => new Date((nowSec - sAgo) * 1000).toISOString();
  releases.forEach((id, k) => {
    const rel = join(app, 'releases', id);
    dir(join(rel, 'public'));
    file(join(rel, 'VERSION'), `${id}\n`);
    file(join(rel, 'public', 'index.html'), `<h1>${id}</h1>\n`);
    file(join(app, '.fivestep', 'checksums', id), `${'0'.repeat(63)}${k}\n`);
    const ago = (releases.length - k) * 86_400;
    const previous = k === 0 ? '' : releases[k - 1];
    const entry = (result: string, s: number, reason?: string): DeployLogEntry => ({
      time: at(ago - s),
      action: 'rollout',
      release: id,
      previous,
      run: `https://github.com/acme/shop/actions/runs/${1000 + k}`,
      result,
      ...(reason ? { reason } : {}),
    });
    const failed = id === 'r3';
    log.push(entry('staged', 0), entry('switched', 20));
    log.push(failed ? entry('failed', 40, 'health-url http://127.0.0.1/ answered 502') : entry('healthy', 40));
    if (failed) log.push({ ...entry('healthy', 60), action: 'revert', release: 'r2', previous: 'r3' });
  });
  file(join(app, '.fivestep', 'deploy.log'), log.map((e) => `${JSON.stringify(e)}\n`).join(''));
  if (badHost(i)) {
    dir(join(app, '.fivestep', 'bad'));
    file(join(app, '.fivestep', 'bad', 'r3'), 'health-url http://127.0.0.1/ answered 502\n');
  }
  if (lockedHost(i)) {
    dir(join(app, '.fivestep', 'lock'));
    // token, holder, heartbeat (10 minutes ago: stale, its run died)
    file(join(app, '.fivestep', 'lock', 'owner'), `tok-${i}\n${LOCK_HOLDER}\n${nowSec - 600}\n`);
  }
  symlinkSync('releases/r2', join(app, 'current'));
  made.push(join(app, 'current'));
  for (const p of [app, join(app, 'releases'), join(app, '.fivestep'), ...made]) chownSync(p, uid, gid);
  // Release directories' mtimes order them (oldest first), as the state read sorts them.
  releases.forEach((id, k) => {
    const t = nowSec - (releases.length - k) * 86_400;
    utimesSync(join(app, 'releases', id), t, t);
  });
}

// ---------------------------------------------------------------------------------------------
// Measuring a child process: wall time, GNU time's max RSS, the tree's summed RSS.

export interface Measured {
  wallMs: number;
  code: number | null;
  /** GNU time's %M (kB), or the highest VmHWM sampled without it. */
  maxRssKb: number;
  /** Peak of the summed VmRSS of the process tree (kB), sampled every 50 ms. */
  treeRssKb: number;
  /** User + system CPU of the tree (GNU time), NaN without it. */
  cpuMs: number;
  /** Most processes seen at once in the tree. */
  maxProcs: number;
  stdout: string;
  stderr: string;
}

const hasTime = existsSync(TIME);

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function statusKb(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(s);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(s);
    return rss && hwm ? { rss: Number(rss[1]), hwm: Number(hwm[1]) } : undefined;
  } catch {
    return undefined;
  }
}

/** The children currently running (so a signal can end them with their process group). */
const running = new Set<ChildProcess>();

function killRunning(): void {
  for (const c of running)
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
}

async function measure(argv: string[], workDir: string, env: NodeJS.ProcessEnv): Promise<Measured> {
  const timeFile = join(workDir, `time-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  const full = hasTime ? [TIME, '-f', '%M %U %S', '-o', timeFile, ...argv] : argv;
  const t0 = performance.now();
  // Its own process group: a signal to this bench ends the whole tree (see killRunning).
  const child = spawn(full[0], full.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d) => (stderr += d));
  let treeRssKb = 0;
  let hwmKb = 0;
  let maxProcs = 0;
  const sample = () => {
    if (child.pid === undefined) return;
    // Under GNU time, the tree is time's children (time itself, ~2 MB, is not counted).
    const stack = hasTime ? childPids(child.pid) : [child.pid];
    let sum = 0;
    let procs = 0;
    while (stack.length) {
      const pid = stack.pop()!;
      const kb = statusKb(pid);
      if (kb) {
        sum += kb.rss;
        hwmKb = Math.max(hwmKb, kb.hwm);
        procs++;
      }
      stack.push(...childPids(pid));
    }
    treeRssKb = Math.max(treeRssKb, sum);
    maxProcs = Math.max(maxProcs, procs);
  };
  const sampler = setInterval(sample, 50);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  }).finally(() => {
    clearInterval(sampler);
    running.delete(child);
  });
  const wallMs = performance.now() - t0;
  let maxRssKb = hwmKb;
  let cpuMs = NaN;
  if (hasTime) {
    // time's own line is the last; a child killed by a signal gives a "Command terminated…" line before it.
    const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
    rmSync(timeFile, { force: true });
    const [m, u, s] = last.split(' ').map(Number);
    maxRssKb = m;
    cpuMs = (u + s) * 1000;
  }
  return { wallMs, code, maxRssKb, treeRssKb, cpuMs, maxProcs, stdout: Buffer.concat(out).toString('utf8'), stderr };
}

// ---------------------------------------------------------------------------------------------

export interface StatusRow {
  method: string;
  /** Hosts this method read (the sequential loop may read the first few only). */
  hosts: number;
  /** Hosts whose state the output shows (fivestep: JSON hosts without error; loops: `releases/r2` lines). */
  read: number;
  wallMs: number;
  maxRssKb: number;
  treeRssKb: number;
  cpuMs: number;
  maxProcs: number;
}

export interface StatusBench {
  name: 'status-scale';
  hosts: number;
  cli: string;
  memoryMethod: string;
  fleet: { startMs: number; layoutMs: number; stopMs?: number; sshdLeft?: number };
  rows: StatusRow[];
  /** What could not be measured or was wrong (printed as FAILED lines; a non-empty list is a failed bench). */
  errors: string[];
  lines: string[];
}

export interface StatusOptions {
  hosts?: number;
  /** The bundle (default; src when dist/cli/index.js is missing) or the TypeScript source through tsx. */
  cli?: 'dist' | 'src';
  /** Hosts the sequential loop reads (default 50, at most `hosts`); its time at `hosts` is extrapolated. */
  sequentialHosts?: number;
  /** Also time the grouped view (the command without --json). */
  withView?: boolean;
  skip?: ('sequential' | 'curve25519')[];
  log?: (line: string) => void;
}

export async function benchStatus(opts: StatusOptions = {}): Promise<StatusBench> {
  const log = opts.log ?? console.log;
  const n = opts.hosts ?? 1000;
  const seqN = Math.min(n, opts.sequentialHosts ?? 50);
  const distCli = join(REPO, 'dist', 'cli', 'index.js');
  const cli = opts.cli ?? (existsSync(distCli) ? 'dist' : 'src');
  const cliArgv =
    cli === 'dist' ? [process.execPath, distCli] : [process.execPath, '--import', 'tsx', 'src/cli/index.ts'];
  const cliName = cli === 'dist' ? 'node dist/cli/index.js' : 'node --import tsx src/cli/index.ts';
  const work = join(REPO, '.tmp', 'bench-status');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  const errors: string[] = [];
  const rows: StatusRow[] = [];
  const loadAtStart = loadavg()[0];
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('INPUT_')) delete env[k];

  log(`  starting ${n} OpenSSH hosts on loopback…`);
  const s0 = performance.now();
  const fleet = await Fleet.start(n);
  const fleetInfo: StatusBench['fleet'] = { startMs: performance.now() - s0, layoutMs: NaN };
  const pids = fleet.hosts.map((h) => h.pid).filter((p): p is number => p !== undefined);
  log(`  fleet: ${n} sshd started in ${sec(fleetInfo.startMs)}`);
  // Ctrl-C or SIGTERM: end what runs, stop every sshd, then go.
  const onSignal = (sig: NodeJS.Signals) => {
    killRunning();
    void fleet.stop().finally(() => {
      rmSync(work, { recursive: true, force: true }); // the key
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const l0 = performance.now();
    const { uid, gid } = statSync(fleet.hosts[0].root);
    const nowSec = Math.floor(Date.now() / 1000);
    for (const h of fleet.hosts) writeLayout(h.root, h.index, uid, gid, nowSec);
    fleetInfo.layoutMs = performance.now() - l0;
    const locks = fleet.hosts.filter((h) => lockedHost(h.index)).length;
    const bads = fleet.hosts.filter((h) => badHost(h.index)).length;
    log(`  layout written directly into each host's /srv in ${sec(fleetInfo.layoutMs)}`);

    // Inputs as the person on call keeps them: a config file, the key and known_hosts beside it.
    const keyFile = join(work, 'id_ed25519');
    const knownHostsFile = join(work, 'known_hosts');
    const portsFile = join(work, 'ports');
    writeFileSync(keyFile, fleet.clientKey, { mode: 0o600 });
    writeFileSync(knownHostsFile, fleet.knownHosts());
    writeFileSync(portsFile, `${fleet.hosts.map((h) => h.port).join('\n')}\n`);
    const config = join(work, 'fleet.yml');
    writeFileSync(
      config,
      yamlStringify({
        hosts: `${fleet.hosts.map((h) => `${fleet.user}@${h.host}:${h.port}`).join('\n')}\n`,
        'private-key-file': keyFile,
        'known-hosts-file': knownHostsFile,
        'deploy-path': DEPLOY_PATH,
      }),
    );

    const row = (method: string, read: number, m: Measured, hosts = n): StatusRow => {
      const r = {
        method,
        hosts,
        read,
        wallMs: m.wallMs,
        maxRssKb: m.maxRssKb,
        treeRssKb: m.treeRssKb,
        cpuMs: m.cpuMs,
        maxProcs: m.maxProcs,
      };
      rows.push(r);
      log(
        `  ${method}: ${sec(m.wallMs)}, read ${read}/${hosts}, max RSS ${mb(m.maxRssKb)}, tree RSS ${mb(m.treeRssKb)} (${m.maxProcs} process(es) at most)`,
      );
      return r;
    };
    const tail = (text: string) => text.trim().split('\n').slice(-6).join('\n');

    // fivestep status --json: parsed, every host checked against what was written.
    const json = await measure([...cliArgv, 'status', '--config', config, '--json'], work, env);
    let read = 0;
    try {
      const doc = JSON.parse(json.stdout) as { deployPath: string; hosts: HostStatus[] };
      const ok = doc.hosts.filter((h) => !h.error);
      read = ok.length;
      const problems: string[] = [];
      if (doc.hosts.length !== n) problems.push(`${doc.hosts.length} host(s) in the JSON, not ${n}`);
      const unread = doc.hosts.filter((h) => h.error);
      if (unread.length) problems.push(`${unread.length} not read (e.g. ${unread[0].host}: ${unread[0].error})`);
      const wrong = ok.filter((h) => h.current !== 'r2' || h.currentStatus !== 'healthy');
      if (wrong.length) problems.push(`${wrong.length} with a current other than r2 (healthy)`);
      const locked = ok.filter((h) => h.lock?.holder === LOCK_HOLDER && h.lock.stale).length;
      if (locked !== locks) problems.push(`${locked} stale lock(s) shown, ${locks} written`);
      const bad = ok.filter((h) => h.releases.some((r) => r.id === 'r3' && r.status === 'bad')).length;
      if (bad !== bads) problems.push(`${bad} host(s) with r3 bad, ${bads} written`);
      const prevOk = ok.filter((h) => h.previousHealthy === 'r1').length;
      if (prevOk !== ok.length) problems.push(`${ok.length - prevOk} host(s) without r1 as previous healthy`);
      if (problems.length) errors.push(`fivestep status --json: ${problems.join('; ')}`);
    } catch (e) {
      errors.push(
        `fivestep status --json: exit ${json.code}, output not parsed (${(e as Error).message}): ${tail(json.stderr)}`,
      );
    }
    if (json.code !== 0) errors.push(`fivestep status --json exited ${json.code}: ${tail(json.stderr)}`);
    row(`fivestep status --json`, read, json);

    // The grouped view the person reads (above 50 hosts).
    if (opts.withView) {
      const view = await measure([...cliArgv, 'status', '--config', config], work, env);
      const viewHead = view.stdout.split('\n')[0] ?? '';
      const counted = viewHead.startsWith(`${n.toLocaleString('en-US')} hosts`) || viewHead.startsWith(`${n} hosts`);
      if (view.code !== 0) errors.push(`fivestep status exited ${view.code}: ${tail(view.stderr)}`);
      if (!counted) errors.push(`fivestep status: the view's first line does not count ${n} hosts: '${viewHead}'`);
      row(`fivestep status (${n > 50 ? 'grouped view' : 'table'})`, view.code === 0 && counted ? n : 0, view);
    }

    // The peer: a shell loop of ssh, as people write it.
    const remote =
      `readlink ${DEPLOY_PATH}/current; ls ${DEPLOY_PATH}/releases; tail -n ${LOG_TAIL} ${DEPLOY_PATH}/.fivestep/deploy.log; ` +
      `ls ${DEPLOY_PATH}/.fivestep/bad 2>/dev/null; cat ${DEPLOY_PATH}/.fivestep/lock/owner 2>/dev/null; true`;
    const ssh =
      `ssh -F /dev/null -i ${quote(keyFile)} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes ` +
      `-o UserKnownHostsFile=${quote(knownHostsFile)} -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    const at = `${fleet.user}@127.0.0.1`;
    const seqPortsFile = join(work, 'ports-sequential');
    writeFileSync(
      seqPortsFile,
      `${fleet.hosts
        .slice(0, seqN)
        .map((h) => h.port)
        .join('\n')}\n`,
    );
    const loops: { method: string; script: string; hosts: number }[] = [
      {
        method: `xargs -P ${LOOP_PARALLEL} ssh`,
        script: `xargs -P ${LOOP_PARALLEL} -I{} ${ssh} -p {} ${at} ${quote(remote)} < ${quote(portsFile)}\n`,
        hosts: n,
      },
    ];
    if (!opts.skip?.includes('curve25519'))
      loops.push({
        method: `xargs -P ${LOOP_PARALLEL} ssh, curve25519 kex`,
        script: `xargs -P ${LOOP_PARALLEL} -I{} ${ssh} -o KexAlgorithms=curve25519-sha256 -p {} ${at} ${quote(remote)} < ${quote(portsFile)}\n`,
        hosts: n,
      });
    if (!opts.skip?.includes('sequential'))
      loops.push({
        method: 'for … ssh (sequential)',
        script: `for p in $(cat ${quote(seqPortsFile)}); do\n  ${ssh} -p "$p" ${at} ${quote(remote)} || echo "FAILED $p" >&2\ndone\n`,
        hosts: seqN,
      });
    for (const loop of loops) {
      const hostsRead = loop.hosts;
      const locksRead = fleet.hosts.slice(0, hostsRead).filter((h) => lockedHost(h.index)).length;
      const file = join(work, `loop-${loops.indexOf(loop)}.sh`);
      writeFileSync(file, loop.script);
      const m = await measure(['bash', file], work, env);
      const out = m.stdout.split('\n');
      const readHosts = out.filter((l) => l === 'releases/r2').length;
      const lockLines = out.filter((l) => l === LOCK_HOLDER).length;
      if (m.code !== 0 || readHosts !== hostsRead || lockLines !== locksRead)
        errors.push(
          `${loop.method}: exit ${m.code}, ${readHosts}/${hostsRead} current links and ${lockLines}/${locksRead} lock owners in its output: ${tail(m.stderr)}`,
        );
      row(loop.method, readHosts, m, hostsRead);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    killRunning();
    const t = performance.now();
    await fleet.stop();
    fleetInfo.stopMs = performance.now() - t;
    fleetInfo.sshdLeft = pids.filter((p) => existsSync(`/proc/${p}`)).length;
    rmSync(work, { recursive: true, force: true }); // the key
  }
  if (fleetInfo.sshdLeft) errors.push(`${fleetInfo.sshdLeft} sshd process(es) still running after the fleet stopped`);

  // ---- figures
  const memoryMethod = hasTime
    ? `max RSS = GNU time %M (${TIME}: the largest single process of the tree); tree RSS = peak of the summed VmRSS of every process of the tree, sampled every 50 ms from /proc`
    : `max RSS = highest VmHWM of any process of the tree, sampled every 50 ms from /proc (${TIME} missing); tree RSS = peak of the summed VmRSS of the tree, same samples`;
  const fivestep = rows.find((r) => r.method === 'fivestep status --json');
  const w = [32, 5, 9, 10, 8, 9, 10];
  const cells = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[0]) : x.padStart(w[i]))).join(' | ');
  const lines: string[] = [
    `fivestep status at scale: ${n} real OpenSSH hosts on loopback (2 cores), read by \`${cliName} status\` beside an ssh shell loop; one run each`,
    `  machine load average (1 min) at start ${loadAtStart.toFixed(1)}, at end ${loadavg()[0].toFixed(1)}`,
    `  fleet: ${n} sshd started in ${sec(fleetInfo.startMs)} (32 at a time), stopped in ${sec(fleetInfo.stopMs ?? NaN)}; sshd left running after stop: ${fleetInfo.sshdLeft ?? '?'}`,
    `  hosts' state: layout written directly into each host's /srv (not by rollouts) in ${sec(fleetInfo.layoutMs)}: releases r1, r2, current → r2, a 6-line deploy log; ` +
      `${fleet.hosts.filter((h) => badHost(h.index)).length} host(s) with a failed, bad-marked r3 (10 log lines), ${fleet.hosts.filter((h) => lockedHost(h.index)).length} with a stale lock`,
    `    ${cells(['method', 'hosts', 'read', 'wall time', 'per host', 'max RSS', 'tree RSS', 'CPU'])}`,
    ...rows.map(
      (r) =>
        `    ${cells([r.method, String(r.hosts), String(r.read), sec(r.wallMs), ms(r.wallMs / r.hosts), mb(r.maxRssKb), mb(r.treeRssKb), sec(r.cpuMs)])}`,
    ),
    ...(fivestep
      ? rows
          .filter((r) => !r.method.startsWith('fivestep'))
          .map((r) => {
            const atN = (r.wallMs / r.hosts) * n;
            const how =
              r.hosts === n ? sec(r.wallMs) : `${sec(atN)} extrapolated from ${r.hosts} hosts in ${sec(r.wallMs)}`;
            return `  speed-up of fivestep status --json over ${r.method} at ${n} hosts: ${(atN / fivestep.wallMs).toFixed(1)}x (${how} / ${sec(fivestep.wallMs)})`;
          })
      : []),
    `  memory: ${memoryMethod}`,
    `  wall time: spawn to exit of the child process, measured by the bench (process start-up included); CPU: user + system of the tree (GNU time)`,
    `  fivestep: one SSH connection and one state command a host (64 handshakes at once over distinct servers, 256 sessions), reads the deploy log's last 2,000 lines; ` +
      `loops: one fresh \`ssh\` a host (OpenSSH ${sshVersion()} defaults: no ControlMaster, host keys checked), remote: readlink current; ls releases; tail -n ${LOG_TAIL} deploy.log; ls bad; cat lock/owner`,
    `  key exchange: fivestep's ssh2 client negotiates curve25519-sha256; OpenSSH's default is sntrup761x25519-sha512 (post-quantum), whose key generation is most of the ssh client's CPU; the curve25519 row runs the loop with the same kex as fivestep`,
  ];
  for (const e of errors) lines.push(`  FAILED ${e}`);
  lines.forEach((l) => log(l));
  return { name: 'status-scale', hosts: n, cli: cliName, memoryMethod, fleet: fleetInfo, rows, errors, lines };
}

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

if (process.argv[1] && resolvePath(process.argv[1]) === SELF) {
  const started = performance.now();
  const cliArg = argValue('--cli');
  if (cliArg !== undefined && cliArg !== 'dist' && cliArg !== 'src') throw new Error('--cli wants dist or src');
  const b = await benchStatus({
    hosts: argValue('--hosts') ? Number(argValue('--hosts')) : undefined,
    sequentialHosts: argValue('--sequential-hosts') ? Number(argValue('--sequential-hosts')) : undefined,
    cli: cliArg,
    withView: process.argv.includes('--with-view'),
    skip: (argValue('--skip')?.split(',') ?? []) as StatusOptions['skip'],
  });
  console.log(`\nstatus bench finished in ${sec(performance.now() - started)}`);
  if (b.errors.length) process.exitCode = 1;
}

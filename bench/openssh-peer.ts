// The plain-OpenSSH peer of the scale bench: the steps ssh-rollout does per host, done the way a
// hand-written deploy script does them, with the system `ssh` binary and a pool of at most
// `parallel` (20) ssh processes at once.
//
// What it does, timed from the artifact directory to the last health check:
//   1. pack the directory to one tar.gz on the runner (the same tar flags fivestep uses);
//   2. for each wave of `waves` (Ansible `serial` semantics, `1, 25%, 100%`), in host order, and for
//      each host of the wave (at most `parallel` hosts at once), one `ssh` process per phase, in order:
//        upload   ssh host 'mkdir -p D/incoming && cat > D/incoming/ID.tar.gz' < artifact.tar.gz
//        unpack   ssh host 'mkdir -p D/releases/ID && tar -xzf D/incoming/ID.tar.gz -C D/releases/ID'
//        switch   ssh host 'cd D && ln -sfn releases/ID .current.tmp && mv -T .current.tmp current'
//        reload   ssh host 'export DEPLOY_PATH=D RELEASE_ID=ID RELEASE_PATH=D/releases/ID; cd D/current && RELOAD'
//        health   ssh host '… the same environment …; cd D/current && HEALTH'   (once, no retries)
//      the first failing ssh stops the deploy after its wave's running hosts end (the error is thrown);
//      the next wave starts when every host of this one has passed health.
// Every ssh is a fresh connection (no ControlMaster; with `controlDir`, one master per host shared by its
// phases): key auth with the fleet's client key, host keys checked against a known_hosts file
// (StrictHostKeyChecking=yes), no user or system ssh config (-F /dev/null).
// It does not take a lock, read state, verify a checksum, record a deploy log or prune: fivestep does
// those too, so this peer is the floor a bare script reaches, not an equal feature set.
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mapLimit } from '../src/common/concurrency.js';
import type { HostSpec } from '../src/common/inputs.js';
import { quote } from '../src/common/shell.js';
import { planWaves } from '../src/engine/plan.js';
import { parseWaves } from '../src/rollout/waves.js';

const run = promisify(execFile);

export const PEER_PHASES = ['upload', 'unpack', 'switch', 'reload', 'health'] as const;
export type PeerPhase = (typeof PEER_PHASES)[number];

export interface PeerOptions {
  hosts: HostSpec[];
  /** Private key text (OpenSSH format) and the known_hosts lines for `hosts`. */
  privateKey: string;
  knownHosts: string;
  /** The artifact directory (packed inside the timed span, as fivestep packs it). */
  artifactDir: string;
  releaseId: string;
  deployPath: string;
  waves: string;
  parallel: number;
  reloadCommand: string;
  healthCommand: string;
  /** Scratch directory on the runner (key file, known_hosts, the tar.gz). */
  workDir: string;
  /**
   * Share one connection per host between its phases (ControlMaster=auto, ControlPersist=60) with the
   * sockets under this directory (`DIR/%C`); the caller closes the masters. Default: a fresh connection per ssh.
   */
  controlDir?: string;
}

export interface PeerRun {
  wallMs: number;
  packMs: number;
  /** Wall time of each wave. */
  wavesMs: number[];
  /** Per phase: each host's ssh time (spawn to exit), in host order. */
  phaseMs: Record<PeerPhase, number[]>;
  sshProcesses: number;
}

/** The remote command of one phase for one host (pure: what the script sends). */
export function peerCommand(
  phase: PeerPhase,
  o: { deployPath: string; releaseId: string; reloadCommand: string; healthCommand: string },
): string {
  const d = o.deployPath;
  const id = o.releaseId;
  const env = `export DEPLOY_PATH=${quote(d)} RELEASE_ID=${quote(id)} RELEASE_PATH=${quote(`${d}/releases/${id}`)}; cd ${quote(`${d}/current`)}`;
  switch (phase) {
    case 'upload':
      return `mkdir -p ${quote(`${d}/incoming`)} && cat > ${quote(`${d}/incoming/${id}.tar.gz`)}`;
    case 'unpack':
      return `mkdir -p ${quote(`${d}/releases/${id}`)} && tar -xzf ${quote(`${d}/incoming/${id}.tar.gz`)} -C ${quote(`${d}/releases/${id}`)}`;
    case 'switch':
      return `cd ${quote(d)} && ln -sfn ${quote(`releases/${id}`)} .current.tmp && mv -T .current.tmp current`;
    case 'reload':
      return `${env} && ${o.reloadCommand}`;
    case 'health':
      return `${env} && ${o.healthCommand}`;
  }
}

/**
 * ssh's arguments for one host: fresh connection (or one shared through a master in controlDir), key auth,
 * strict host-key check against knownHostsFile.
 */
export function sshArgs(
  host: HostSpec,
  keyFile: string,
  knownHostsFile: string,
  command: string,
  controlDir?: string,
): string[] {
  const control = controlDir
    ? ['-o', 'ControlMaster=auto', '-o', `ControlPath=${controlDir}/%C`, '-o', 'ControlPersist=60']
    : ['-o', 'ControlMaster=no'];
  return [
    '-F',
    '/dev/null',
    '-i',
    keyFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    ...control,
    '-o',
    'LogLevel=ERROR',
    '-p',
    String(host.port),
    `${host.user}@${host.host}`,
    command,
  ];
}

function sshOnce(args: string[], stdinFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The file itself as ssh's stdin, as `ssh … < file` gives it.
    const fd = stdinFile ? openSync(stdinFile, 'r') : undefined;
    const child = spawn('ssh', args, { stdio: [fd ?? 'ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('error', (e) => {
      if (fd !== undefined) closeSync(fd);
      reject(e);
    });
    child.once('close', (code) => {
      if (fd !== undefined) closeSync(fd);
      if (code === 0) resolve();
      else reject(new Error(`ssh ${args.at(-2)} exited ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}

export async function runOpensshPeer(o: PeerOptions): Promise<PeerRun> {
  mkdirSync(o.workDir, { recursive: true });
  const keyFile = join(o.workDir, 'client_key');
  writeFileSync(keyFile, o.privateKey, { mode: 0o600 });
  const knownHostsFile = join(o.workDir, 'known_hosts');
  writeFileSync(knownHostsFile, o.knownHosts);
  const tarball = join(o.workDir, `${o.releaseId}.tar.gz`);
  const waves = planWaves(
    o.hosts.map((_, i) => i),
    parseWaves('waves', o.waves),
  );
  const phaseMs = Object.fromEntries(PEER_PHASES.map((p) => [p, new Array<number>(o.hosts.length).fill(0)])) as Record<
    PeerPhase,
    number[]
  >;
  const wavesMs: number[] = [];
  let sshProcesses = 0;

  const t0 = performance.now();
  await run(
    'tar',
    [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-czf',
      tarball,
      '-C',
      o.artifactDir,
      '.',
    ],
    { env: { ...process.env, GZIP: '-n' } },
  );
  const packMs = performance.now() - t0;
  for (const wave of waves) {
    const w0 = performance.now();
    let failure: Error | undefined;
    await mapLimit(wave, o.parallel, async (i) => {
      for (const phase of PEER_PHASES) {
        if (failure) return;
        const s0 = performance.now();
        sshProcesses++;
        try {
          await sshOnce(
            sshArgs(o.hosts[i], keyFile, knownHostsFile, peerCommand(phase, o), o.controlDir),
            phase === 'upload' ? tarball : undefined,
          );
        } catch (e) {
          failure ??= new Error(
            `OpenSSH peer: host ${o.hosts[i].host}:${o.hosts[i].port}: ${phase}: ${(e as Error).message}`,
          );
          return;
        }
        phaseMs[phase][i] = performance.now() - s0;
      }
    });
    wavesMs.push(performance.now() - w0);
    if (failure) throw failure;
  }
  return { wallMs: performance.now() - t0, packMs, wavesMs, phaseMs, sshProcesses };
}

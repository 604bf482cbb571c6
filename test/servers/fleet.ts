/**
 * A fleet of REAL OpenSSH servers on 127.0.0.1, for tests, the demo and the benchmark.
 *
 *   const fleet = await Fleet.start(3, { certHosts: [2], bastion: true });
 *   fleet.hostsInput            // "fivestep@127.0.0.1:40001\n…"  (the `hosts` input)
 *   fleet.knownHosts()           // "[127.0.0.1]:40001 ssh-ed25519 AAAA…\n…" (plain lines, bastion included)
 *   fleet.credentials()          // SshCredentials with the client key and known hosts
 *   fleet.hosts[0].root + '/app' // what host 0 sees as /srv/app
 *   await fleet.killHost(1); await fleet.restartHost(1);
 *   await fleet.mountTmpfs(2, '/srv/app', 1 << 20); // host 2's deploy path is a 1 MiB disk
 *   await fleet.stop();          // also runs on process exit
 *
 * Hosts have one ed25519 host key; `{ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] }` gives each host (and the
 * bastion) one sshd HostKey per type, with `hosts[i].knownHostsLines.rsa` etc. for known-hosts.
 *
 * At scale (the 1,000-host bench): hosts are made and launched at most `startConcurrency` (32) at a
 * time, so start never forks a thousand ssh-keygen/sshd processes at once (1,000 hosts start in
 * 15–25 s here); a host is ready when its sshd's PidFile holds its pid (written once it listens), so
 * readiness costs no connection; stop() reads the process table once for all hosts, not once per host.
 *
 * Each host has its own sshd (config, host keys, log, port) and its own /srv: sshd runs in
 * a private mount namespace where HOSTDIR is bind-mounted on /srv, so every host can use the same
 * deploy path while the test process reads each host's files under `hosts[i].root`.
 * Logins use a dedicated user (`fivestep`, shell /bin/sh) so no rc file slows commands down.
 * Needs root (useradd, unshare, mount).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mapLimit } from '../../src/common/concurrency.js';
import type { HostSpec } from '../../src/common/inputs.js';
import { hostId } from '../../src/common/inputs.js';
import { quote } from '../../src/common/shell.js';
import type { SshCredentials } from '../../src/ssh/types.js';
import { descendants, processTree } from './child-processes.js';
import { ensurePackages } from './system-packages.js';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export interface FleetOptions {
  /** Login user, created if missing (default `fivestep`). */
  user?: string;
  /** Indexes of hosts whose host key is signed by `fleet.ca` (sshd `HostCertificate`); `true` = all. */
  certHosts?: number[] | boolean;
  /** Also start a bastion (jump host); see `fleet.bastion()`. */
  bastion?: boolean;
  /** sshd LogLevel (default ERROR; DEBUG3 when debugging), written to `hosts[i].dir + '/sshd.log'`. */
  logLevel?: string;
  /**
   * Give each host its own loopback address (127.X.Y.1, .2, …, X.Y random per fleet) instead of 127.0.0.1,
   * so per-host services (an app, a metrics endpoint) can share one port and `{host}` tells them apart.
   */
  distinctAddresses?: boolean;
  /** Hosts made and launched at once (default 32): a bound on concurrent ssh-keygen and sshd start-ups. */
  startConcurrency?: number;
  /**
   * The host key types every host (and the bastion) has, one sshd `HostKey` each (default ['ed25519']).
   * `hostKey`/`knownHostsLine` are the ed25519 key's (the first type's when ed25519 is not among them).
   */
  hostKeyTypes?: HostKeyType[];
}

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

export interface FleetHost {
  index: number;
  /** `127.0.0.1`. */
  host: string;
  port: number;
  /** `{ user, host, port }`, as parseHostSpec returns it. */
  spec: HostSpec;
  /** `127.0.0.1:PORT`, as reports name hosts. */
  id: string;
  /** The directory this host sees as /srv (owned by the login user). */
  root: string;
  /** This host's sshd files (config, keys, log). */
  dir: string;
  /** The ed25519 host public key line (`ssh-ed25519 AAAA… comment`); the primary key, see FleetOptions.hostKeyTypes. */
  hostKey: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…`, for the primary key. */
  knownHostsLine: string;
  /** Every host public key line, by type (only the fleet's `hostKeyTypes` are present). */
  hostKeys: Partial<Record<HostKeyType, string>>;
  /** `[127.0.0.1]:PORT <key-type> AAAA…` per host key type. */
  knownHostsLines: Partial<Record<HostKeyType, string>>;
  /** Whether sshd presents a CA-signed certificate for its (primary) host key. */
  certSigned: boolean;
  /** sshd's pid, undefined while stopped. */
  pid?: number;
}

export interface CertificateAuthority {
  /** Private key file. */
  keyFile: string;
  /** `ssh-ed25519 AAAA…`. */
  publicKey: string;
  /** `@cert-authority [127.0.0.1]:* ssh-ed25519 AAAA…`. */
  knownHostsLine: string;
}

const live = new Set<Fleet>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort: a crashed test run must not leave sshd processes behind.
  process.on('exit', () => {
    for (const f of live) f.killAllSync();
  });
}

/**
 * A port picker that never hands out a port twice. The kernel may give a just-closed probe port again
 * (the probe socket is closed before the server binds), so concurrent callers could otherwise share one.
 */
export function createPortPicker(probe: (address: string) => Promise<number>): (address?: string) => Promise<number> {
  const handedOut = new Set<number>();
  return async (address = '127.0.0.1') => {
    for (;;) {
      const port = await probe(address);
      if (!handedOut.has(port)) {
        handedOut.add(port);
        return port;
      }
    }
  };
}

/** A free TCP port chosen by the kernel (never a fixed port: suites run in parallel), unique in this process. */
export const freePort = createPortPicker((address) => probePort(address));

function probePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, address, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function readPidFile(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'latin1').trim());
  } catch {
    return undefined;
  }
}

/** SIGKILLs pid and its descendants; `tree` lets a caller that kills many share one read of /proc. */
function killTree(pid: number, tree: Map<number, number[]> = processTree()): void {
  for (const p of [pid, ...descendants(pid, tree)]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function ensureUser(user: string): Promise<{ uid: number; gid: number }> {
  ensurePackages(['openssh-server', 'openssh-client', 'util-linux']);
  const lookup = async () => {
    const { stdout } = await run('id', ['-u', user]).catch(() => ({ stdout: '' }));
    if (stdout.trim() === '') return undefined;
    const gid = (await run('id', ['-g', user])).stdout.trim();
    return { uid: Number(stdout.trim()), gid: Number(gid) };
  };
  let ids = await lookup();
  if (!ids) {
    // Other suites may create the user at the same moment: "already exists" (9) is fine.
    await run('useradd', ['-m', '-s', '/bin/sh', user]).catch((e: { code?: number }) => {
      if (e.code !== 9) throw e;
    });
    ids = await lookup();
    if (!ids) throw new Error(`could not create the login user '${user}'`);
  }
  // Without PAM, sshd refuses accounts whose password field starts with '!' (locked), as useradd leaves them.
  const shadow = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (shadow && shadow.split(':')[1].startsWith('!')) {
    for (let i = 0; ; i++) {
      try {
        await run('usermod', ['-p', '*', user]);
        break;
      } catch (e) {
        if (i >= 10) throw e;
        await new Promise((r) => setTimeout(r, 100)); // /etc/shadow locked by a concurrent usermod
      }
    }
  }
  return ids;
}

const KEY_BITS: Record<HostKeyType, string[]> = { ed25519: [], ecdsa: ['-b', '256'], rsa: ['-b', '2048'] };

async function keygen(file: string, type: HostKeyType, passphrase = '', comment = 'fivestep-fleet'): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', type, ...KEY_BITS[type], '-N', passphrase, '-C', comment, '-f', file]);
}

/** A host key file of a host directory (sshd's own naming). */
const hostKeyFile = (dir: string, type: HostKeyType) => join(dir, `ssh_host_${type}_key`);

export class Fleet {
  readonly hosts: FleetHost[] = [];
  /** Base directory of everything this fleet created (removed by stop()). */
  readonly dir: string;
  readonly user: string;
  /** The ed25519 client private key (OpenSSH format, no passphrase), authorized on every host. */
  clientKey = '';
  clientPublicKey = '';
  /** The CA that signs `certHosts` (created on start). */
  ca!: CertificateAuthority;
  private bastionHost?: FleetHost;
  private procs = new Map<FleetHost, ChildProcess>();
  private ids = { uid: 0, gid: 0 };
  private stopped = false;
  private logLevel = 'ERROR';
  private addressBase = '';
  private hostKeyTypes: HostKeyType[] = ['ed25519'];
  /** Mount points made by mountTmpfs (in the test's namespace), unmounted by stop(). */
  private mounts: string[] = [];

  private constructor(user: string) {
    this.user = user;
    this.dir = mkdtempSync(join(tmpdir(), 'fivestep-fleet-'));
  }

  /** Starts n hosts (plus a bastion when asked) and waits until each accepts SSH connections. */
  static async start(n: number, opts: FleetOptions = {}): Promise<Fleet> {
    const fleet = new Fleet(opts.user ?? 'fivestep');
    live.add(fleet);
    installExitHook();
    try {
      await fleet.init(n, opts);
    } catch (e) {
      await fleet.stop();
      throw e;
    }
    return fleet;
  }

  private async init(n: number, opts: FleetOptions): Promise<void> {
    this.logLevel = opts.logLevel ?? 'ERROR';
    if (opts.hostKeyTypes) {
      if (opts.hostKeyTypes.length === 0 || new Set(opts.hostKeyTypes).size !== opts.hostKeyTypes.length)
        throw new Error('hostKeyTypes: give each key type once, at least one');
      this.hostKeyTypes = [...opts.hostKeyTypes];
    }
    if (opts.distinctAddresses)
      this.addressBase = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.`;
    this.ids = await ensureUser(this.user);
    mkdirSync('/run/sshd', { recursive: true });
    // sshd needs /srv to exist as a mount point; the bind mount itself lives only in each sshd's namespace.
    mkdirSync('/srv', { recursive: true });
    // The login user reads authorized_keys under here (sshd reads it with the user's uid).
    chmodSync(this.dir, 0o755);
    const clientFile = join(this.dir, 'client_ed25519');
    const caFile = join(this.dir, 'ca');
    await Promise.all([keygen(clientFile, 'ed25519'), keygen(caFile, 'ed25519', '', 'fivestep-fleet-ca')]);
    this.clientKey = readFileSync(clientFile, 'utf8');
    this.clientPublicKey = readFileSync(`${clientFile}.pub`, 'utf8').trim();
    const caPub = readFileSync(`${caFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    this.ca = { keyFile: caFile, publicKey: caPub, knownHostsLine: `@cert-authority [127.0.0.1]:* ${caPub}` };
    writeFileSync(this.authorizedKeysFile, `${this.clientPublicKey}\n`, { mode: 0o644 });

    const certFor = (i: number) =>
      opts.certHosts === true || (Array.isArray(opts.certHosts) && opts.certHosts.includes(i));
    // Bounded: at 1,000 hosts, all at once would fork a thousand ssh-keygen and sshd processes together.
    // Each host takes its port just before its sshd binds it, so the window for another process to grab it is short.
    let failed = false;
    const made = await mapLimit(
      Array.from({ length: n }, (_, i) => i),
      opts.startConcurrency ?? 32,
      async (i) => {
        if (failed) return undefined;
        try {
          const h = await this.makeHost(`host${i}`, i, certFor(i));
          await this.launchFresh(h);
          return h;
        } catch (e) {
          failed = true;
          throw e;
        }
      },
    );
    this.hosts.push(...made.filter((h): h is FleetHost => h !== undefined));
    if (opts.bastion) {
      this.bastionHost = await this.makeHost('bastion', -1, false);
      await this.launchFresh(this.bastionHost);
    }
  }

  private get authorizedKeysFile(): string {
    return join(this.dir, 'authorized_keys');
  }

  /** A host's files and key; its port is chosen by launchFresh. */
  private async makeHost(name: string, index: number, certSigned: boolean): Promise<FleetHost> {
    const dir = join(this.dir, name);
    const root = join(dir, 'srv');
    mkdirSync(root, { recursive: true });
    chmodSync(dir, 0o755);
    chownSync(root, this.ids.uid, this.ids.gid);
    await Promise.all(this.hostKeyTypes.map((type) => keygen(hostKeyFile(dir, type), type, '', `fivestep-${name}`)));
    const keyFile = hostKeyFile(dir, this.primaryKeyType);
    if (certSigned) {
      // Principal 127.0.0.1: the name clients connect to.
      await run('ssh-keygen', [
        '-q',
        '-s',
        this.ca.keyFile,
        '-I',
        `fivestep-${name}`,
        '-h',
        '-n',
        '127.0.0.1',
        `${keyFile}.pub`,
      ]);
    }
    const hostKeys: Partial<Record<HostKeyType, string>> = {};
    for (const type of this.hostKeyTypes) hostKeys[type] = readFileSync(`${hostKeyFile(dir, type)}.pub`, 'utf8').trim();
    const address = this.addressBase && index >= 0 ? `${this.addressBase}${index + 1}` : '127.0.0.1';
    const h: FleetHost = {
      index,
      host: address,
      port: 0,
      spec: { user: this.user, host: address, port: 0 },
      id: '',
      root,
      dir,
      hostKey: hostKeys[this.primaryKeyType]!,
      knownHostsLine: '',
      hostKeys,
      knownHostsLines: {},
      certSigned,
    };
    return withPort(h, 0);
  }

  /** The key `hostKey`, `knownHostsLine` and certificates are about: ed25519 when the hosts have it. */
  private get primaryKeyType(): HostKeyType {
    return this.hostKeyTypes.includes('ed25519') ? 'ed25519' : this.hostKeyTypes[0];
  }

  /**
   * Picks a port for a fresh host and starts its sshd; when another process bound that port between the
   * probe and sshd's bind (likelier with a thousand hosts), tries another: nobody knows this host's port yet.
   */
  private async launchFresh(h: FleetHost): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      withPort(h, await freePort(h.host));
      try {
        return await this.launch(h);
      } catch (e) {
        const portTaken = /Address already in use|Cannot bind any address/.test(String(e));
        if (!portTaken || attempt >= 5) throw e;
        this.procs.delete(h);
        h.pid = undefined;
        writeFileSync(join(h.dir, 'sshd.log'), '');
      }
    }
  }

  private writeConfig(h: FleetHost): string {
    const keyFile = hostKeyFile(h.dir, this.primaryKeyType);
    const cfg = join(h.dir, 'sshd_config');
    const lines = [
      `ListenAddress ${h.host}:${h.port}`,
      ...this.hostKeyTypes.map((type) => `HostKey ${hostKeyFile(h.dir, type)}`),
      ...(h.certSigned ? [`HostCertificate ${keyFile}-cert.pub`] : []),
      `PidFile ${join(h.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${this.authorizedKeysFile}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AllowTcpForwarding yes',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
      `LogLevel ${this.logLevel}`,
      `AllowUsers ${this.user}`,
      'Subsystem sftp internal-sftp',
    ];
    writeFileSync(cfg, `${lines.join('\n')}\n`);
    return cfg;
  }

  /** Starts sshd for h (again); retries on another port only for a fresh host, whose port nobody knows yet. */
  private async launch(h: FleetHost): Promise<void> {
    const cfg = this.writeConfig(h);
    const log = join(h.dir, 'sshd.log');
    const pidFile = join(h.dir, 'sshd.pid');
    rmSync(pidFile, { force: true }); // a SIGKILLed sshd leaves its pid file behind
    // --rbind: a mount under HOSTDIR (mountTmpfs) is part of what the host sees as /srv.
    const script = `mount --rbind ${quote(h.root)} /srv && exec ${SSHD} -D -f ${quote(cfg)} -E ${quote(log)}`;
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    if (this.stopped) {
      // stop() ran while this host was starting (another host failed): it must not outlive the fleet.
      if (child.pid !== undefined) killTree(child.pid);
      throw new Error(`fleet stopped while ${h.id} was starting`);
    }
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    this.procs.set(h, child);
    h.pid = child.pid;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) {
        const logText = existsSync(log) ? readFileSync(log, 'utf8') : '';
        throw new Error(`sshd for ${h.id} exited at start: ${stderr}${logText}`.trim());
      }
      // sshd writes its PidFile once it listens: our pid there means this sshd holds the port. (Probing the
      // port instead costs an sshd re-exec per probe, and a banner could come from another suite's sshd.)
      if (readPidFile(pidFile) === child.pid) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`sshd for ${h.id} did not accept connections within 10 s`);
  }

  /** The `hosts` input for these hosts: `user@127.0.0.1:PORT`, one a line. */
  get hostsInput(): string {
    return this.hosts.map((h) => `${this.user}@${h.host}:${h.port}`).join('\n');
  }

  specs(): HostSpec[] {
    return this.hosts.map((h) => ({ ...h.spec }));
  }

  /** Plain known_hosts lines for the hosts (all, or those indexes), plus the bastion when it runs. */
  knownHosts(indexes?: number[]): string {
    const hosts = indexes ? indexes.map((i) => this.hosts[i]) : this.hosts;
    const lines = hosts.map((h) => h.knownHostsLine);
    if (this.bastionHost) lines.push(this.bastionHost.knownHostsLine);
    return `${lines.join('\n')}\n`;
  }

  /** Credentials that work for every host: the client key and knownHosts() (overridable). */
  credentials(overrides: Partial<SshCredentials> = {}): SshCredentials {
    return {
      privateKey: this.clientKey,
      hostKeys: { kind: 'known-hosts', knownHosts: this.knownHosts() },
      ...overrides,
    };
  }

  /** The bastion (jump host); start the fleet with `{ bastion: true }`. */
  bastion(): FleetHost {
    if (!this.bastionHost) throw new Error('start the fleet with { bastion: true } to get a bastion');
    return this.bastionHost;
  }

  /** A new RSA key encrypted with passphrase, authorized on every host. `pem` writes the legacy PEM format. */
  async rsaKeyWithPassphrase(
    passphrase: string,
    opts: { pem?: boolean } = {},
  ): Promise<{ privateKey: string; publicKey: string }> {
    const file = join(this.dir, `client_rsa_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`);
    await run('ssh-keygen', [
      '-q',
      '-t',
      'rsa',
      '-b',
      '2048',
      '-N',
      passphrase,
      '-C',
      'fivestep-rsa',
      ...(opts.pem ? ['-m', 'PEM'] : []),
      '-f',
      file,
    ]);
    const publicKey = readFileSync(`${file}.pub`, 'utf8').trim();
    writeFileSync(this.authorizedKeysFile, `${readFileSync(this.authorizedKeysFile, 'utf8')}${publicKey}\n`);
    return { privateKey: readFileSync(file, 'utf8'), publicKey };
  }

  /** An ed25519 key that is NOT authorized anywhere (for authentication failure tests). */
  async unauthorizedKey(): Promise<string> {
    const file = join(this.dir, `stranger_${Math.random().toString(36).slice(2, 8)}`);
    await keygen(file, 'ed25519');
    return readFileSync(file, 'utf8');
  }

  /** Kills host i's sshd and every session it serves (a host dying mid-rollout). */
  async killHost(i: number): Promise<void> {
    await this.kill(this.hosts[i]);
  }

  private async kill(h: FleetHost, tree?: Map<number, number[]>): Promise<void> {
    const child = this.procs.get(h);
    if (!child || h.pid === undefined) return;
    const exited =
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => child.once('exit', r));
    killTree(h.pid, tree);
    await exited;
    this.procs.delete(h);
    h.pid = undefined;
  }

  /** Starts host i's sshd again on the same port, with the same host key and files. */
  async restartHost(i: number): Promise<void> {
    await this.killHost(i);
    await this.launch(this.hosts[i]);
  }

  /**
   * Gives host i a tmpfs of `bytes` at `remotePath` (under /srv, e.g. `/srv/app`), owned by the login
   * user: a small disk that fills up. The mount is made at `path(i, remotePath)` in the test's namespace
   * (so the test reads the same files) and host i's sshd is restarted so its namespace (bound with
   * --rbind) sees it; sessions open on host i are cut. Unmounted by stop().
   */
  async mountTmpfs(i: number, remotePath: string, bytes: number): Promise<void> {
    const target = this.path(i, remotePath);
    mkdirSync(target, { recursive: true });
    const opts = `size=${bytes},mode=0755,uid=${this.ids.uid},gid=${this.ids.gid}`;
    await run('mount', ['-t', 'tmpfs', '-o', opts, `fivestep-host${i}`, target]);
    this.mounts.push(target);
    await this.restartHost(i);
  }

  private unmountAllSync(): void {
    for (const m of this.mounts.splice(0).reverse()) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        // already unmounted
      }
    }
  }

  isAlive(i: number): boolean {
    return this.hosts[i].pid !== undefined;
  }

  /** Where the test process finds what host i sees at `remotePath` under /srv (e.g. `/srv/app/current`). */
  path(i: number, remotePath: string): string {
    return join(this.hosts[i].root, remotePath.replace(/^\/?srv\/?/, ''));
  }

  /** The release host i's `current` points at under `deployPath` ('' when there is none). */
  currentRelease(i: number, deployPath = '/srv/app'): string {
    try {
      return readlinkSync(this.path(i, `${deployPath}/current`)).replace(/^releases\//, '');
    } catch {
      return '';
    }
  }

  /** Stops every sshd (and their sessions) and removes the fleet's files. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // One read of the process table for all hosts: per host, it is quadratic at 1,000 hosts.
    const tree = processTree();
    await Promise.all([...this.procs.keys()].map((h) => this.kill(h, tree)));
    live.delete(this);
    this.unmountAllSync();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** @internal for the process exit hook. */
  killAllSync(): void {
    const tree = processTree();
    for (const h of this.procs.keys()) if (h.pid !== undefined) killTree(h.pid, tree);
    this.unmountAllSync();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
}

/** Sets h's port and everything named by it (before its sshd first starts). */
function withPort(h: FleetHost, port: number): FleetHost {
  h.port = port;
  h.spec = { user: h.spec.user, host: h.host, port };
  h.id = hostId({ host: h.host, port });
  const line = (publicKey: string) => `[${h.host}]:${port} ${publicKey.split(/\s+/).slice(0, 2).join(' ')}`;
  h.knownHostsLine = line(h.hostKey);
  h.knownHostsLines = Object.fromEntries(
    Object.entries(h.hostKeys).map(([type, publicKey]) => [type, line(publicKey)]),
  );
  return h;
}

/** Same as Fleet.start. */
export const startFleet = (n: number, opts?: FleetOptions): Promise<Fleet> => Fleet.start(n, opts);

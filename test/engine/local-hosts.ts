// Hosts without SSH, for unit tests of the engine: each session runs the engine's commands in a
// local sh, with the deploy path mapped to this host's own directory. Faults are injected per
// host and per command (an exit code, or a lost connection).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hostId, type HostSpec } from '../../src/common/inputs.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import type { Connector, ExecOptions, ExecResult, RemoteSession } from '../../src/ssh/types.js';

export const DEPLOY = '/srv/app';

/** What a fault does to one command: answer with this result, or drop the connection. */
export type Fault = ExecResult | 'lost';

export class LocalHosts {
  /** host id → a fault for a matching command; the first match wins, once unless `sticky`. */
  private faults: { host: string; match: RegExp; fault: Fault; sticky: boolean }[] = [];
  /** Hosts that refuse connections. */
  readonly down = new Set<string>();
  readonly commands: { host: string; command: string }[] = [];

  constructor(
    readonly root: string,
    readonly specs: HostSpec[],
  ) {}

  static create(root: string, n: number): LocalHosts {
    return new LocalHosts(
      root,
      Array.from({ length: n }, (_, i) => ({ user: 'deploy', host: `10.0.0.${i + 1}`, port: 22 })),
    );
  }

  ids(): string[] {
    return this.specs.map(hostId);
  }

  dir(i: number): string {
    return join(this.root, `host${i}`);
  }

  /** The path host i sees as `remote`. */
  path(i: number, remote: string): string {
    return join(this.dir(i), remote);
  }

  fail(i: number, match: RegExp, fault: Fault, sticky = false): void {
    this.faults.push({ host: hostId(this.specs[i]), match, fault, sticky });
  }

  current(i: number): string {
    try {
      return readlinkSync(this.path(i, `${DEPLOY}/current`)).replace(/^releases\//, '');
    } catch {
      return '';
    }
  }

  currents(): string[] {
    return this.specs.map((_, i) => this.current(i));
  }

  releases(i: number): string[] {
    const d = this.path(i, `${DEPLOY}/releases`);
    return existsSync(d)
      ? readdirSync(d)
          .filter((n) => !n.startsWith('.'))
          .sort()
      : [];
  }

  ledger(i: number): [string, string][] {
    const f = this.path(i, `${DEPLOY}/.fivestep/deploy.log`);
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DeployLogEntry)
      .map((e) => [e.release, e.result]);
  }

  locked(i: number): boolean {
    return existsSync(this.path(i, `${DEPLOY}/.fivestep/lock`));
  }

  connector(): Connector {
    return async (spec) => {
      const id = hostId(spec);
      const i = this.specs.findIndex((s) => hostId(s) === id);
      if (i < 0 || this.down.has(id)) throw new Error(`${id}: connect ECONNREFUSED`);
      mkdirSync(this.dir(i), { recursive: true });
      return this.session(i, spec);
    };
  }

  private session(i: number, spec: HostSpec): RemoteSession {
    const id = hostId(spec);
    let lost = false;
    const exec = async (command: string, options: ExecOptions = {}): Promise<ExecResult> => {
      if (lost) throw new Error(`${id}: connection lost`);
      this.commands.push({ host: id, command });
      const k = this.faults.findIndex((f) => f.host === id && f.match.test(command));
      if (k >= 0) {
        const { fault, sticky } = this.faults[k];
        if (!sticky) this.faults.splice(k, 1);
        if (fault === 'lost') {
          lost = true;
          throw new Error(`${id}: connection lost while running a command`);
        }
        return fault;
      }
      return runLocal(command.split(DEPLOY).join(join(this.dir(i), DEPLOY)), options);
    };
    return { id, spec, exec, close: async () => undefined };
  }
}

function runLocal(command: string, options: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      options.onStdout?.(d.toString('utf8'));
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    const input = options.stdin;
    if (input === undefined || Buffer.isBuffer(input)) child.stdin.end(input ?? undefined);
    else input.pipe(child.stdin);
  });
}

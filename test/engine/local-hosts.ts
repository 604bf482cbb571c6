// Hosts without SSH, for unit tests of the engine: each session runs the engine's commands in a
// local sh, with the deploy path mapped to this host's own directory. Faults are injected per
// host and per command (an exit code, or a lost connection).
import { quote } from '../../src/common/shell.js';
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
  /** Each step's command as the host ran it (each part of a joined command on its own), in order. */
  readonly commands: { host: string; command: string }[] = [];
  /** Each remote command as sent (a joined command once): the round trips. */
  readonly execs: { host: string; command: string }[] = [];

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
      this.execs.push({ host: id, command });
      for (const part of commandParts(command)) this.commands.push({ host: id, command: part.text });
      const local = (c: string) => c.split(DEPLOY).join(join(this.dir(i), DEPLOY));
      // A fault is a step's command failing: in a joined command (release/joined.ts), the part it matches.
      for (const part of commandParts(command)) {
        const k = this.faults.findIndex((f) => f.host === id && f.match.test(part.text));
        if (k < 0) continue;
        const { fault, sticky } = this.faults[k];
        if (!sticky) this.faults.splice(k, 1);
        if (fault === 'lost') {
          // The parts before it ran.
          if (part.start > 0) await runLocal(local(command.slice(0, part.start)), options);
          lost = true;
          throw new Error(`${id}: connection lost while running a command`);
        }
        if (part.start === 0 && part.end === command.length) return fault;
        const failing = `printf %s ${quote(fault.stdout)}; printf %s ${quote(fault.stderr)} >&2; exit ${fault.code}`;
        return runLocal(local(command.slice(0, part.start) + failing + command.slice(part.end)), options);
      }
      return runLocal(local(command), options);
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

/** Where each step's command sits in `command`: one part, or each part of a joined command. */
function commandParts(command: string): { text: string; start: number; end: number }[] {
  const parts: { text: string; start: number; end: number }[] = [];
  const close = '\n)\nc=$?; printf ';
  for (let at = 0; command.startsWith('(\n', at);) {
    const end = command.indexOf(close, at);
    if (end < 0) break;
    parts.push({ text: command.slice(at + 2, end), start: at + 2, end });
    const next = command.indexOf('\n(\n', end);
    if (next < 0) break;
    at = next + 1;
  }
  return parts.length > 0 ? parts : [{ text: command, start: 0, end: command.length }];
}

// One host of a release, over one SSH session: connect, run a step's command, time it. Each step
// leaves one step record and, on failure, throws one StepError naming it. What a step runs is the
// step table's (engine/steps.ts); this is the thin executor under it (as Kamal's are).
import { randomBytes } from 'node:crypto';
import { hostId, type HostSpec } from '../common/inputs.js';
import { errorMessage } from '../common/errors.js';
import { Semaphore, sleep as realSleep } from '../common/concurrency.js';
import { endedSoFar, joinCommands, splitJoined } from '../release/joined.js';
import type { Connector, ExecOptions, ExecResult, RemoteSession, SshCredentials } from '../ssh/types.js';
import { StepError, outputTail, type StepName, type StepRecord } from './step-record.js';

/**
 * Connection starts (TCP, key exchange, authentication) in flight at once to one server, separately from
 * max-parallel: a burst of handshakes is what servers refuse first. 10 is where OpenSSH's default
 * `MaxStartups 10:30:100` starts dropping unauthenticated connections. MaxStartups counts per sshd, so
 * distinct servers are not throttled against each other; through a jump host every handshake is its sshd's.
 */
export const MAX_HANDSHAKES_PER_SERVER = 10;

/** Bounds connection starts per server (the jump host when there is one), and optionally in total. */
export class HandshakeLimits {
  private readonly perServer = new Map<string, Semaphore>();
  private readonly limit: number;
  private readonly total?: Semaphore;

  constructor(options: { perServer?: number; total?: number } = {}) {
    this.limit = options.perServer ?? MAX_HANDSHAKES_PER_SERVER;
    if (options.total !== undefined) this.total = new Semaphore(options.total);
  }

  /** Runs `fn` (one connect to `host`, through `jump` if given) within the limits. */
  run<T>(host: HostSpec, jump: HostSpec | undefined, fn: () => Promise<T>): Promise<T> {
    const server = jump ?? host;
    const key = `${server.host}:${server.port}`;
    let sem = this.perServer.get(key);
    if (!sem) this.perServer.set(key, (sem = new Semaphore(this.limit)));
    const limited = () => sem.run(fn);
    return this.total ? this.total.run(limited) : limited();
  }
}

const handshakes = new HandshakeLimits();

/** One step's command in a joined command. */
export interface JoinedStep {
  name: StepName;
  command: string;
  describe?: (stdout: string) => string | undefined;
  /** Called as soon as the step has succeeded (before a later step can fail). */
  done?: (stdout: string) => void;
}

export interface HostContext {
  connector: Connector;
  /** Bounds connection starts (default: MAX_HANDSHAKES_PER_SERVER per server, shared by the process). */
  handshakes?: HandshakeLimits;
  credentials: SshCredentials;
  deployPath: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class ReleaseHost {
  readonly id: string;
  readonly steps: StepRecord[] = [];
  private current?: RemoteSession;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  readonly deployPath: string;

  constructor(
    readonly spec: HostSpec,
    private readonly ctx: HostContext,
  ) {
    this.id = hostId(spec);
    this.deployPath = ctx.deployPath;
    this.now = ctx.now ?? Date.now;
    this.sleep = ctx.sleep ?? realSleep;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** The open session (undefined when not connected, or after the connection was lost). */
  get session(): RemoteSession | undefined {
    return this.current;
  }

  /** Connects, verifying the host key. */
  async connect(): Promise<void> {
    await this.timed('connect', async () => {
      const { credentials } = this.ctx;
      this.current = await (this.ctx.handshakes ?? handshakes).run(this.spec, credentials.jumpHost, () =>
        this.ctx.connector(this.spec, credentials),
      );
      return undefined;
    });
  }

  /**
   * Connects again after the connection was lost (a restarted sshd), retrying until `withinMs`: a
   * host must be put back once it is reachable again.
   */
  async reconnect(withinMs: number): Promise<void> {
    await this.current?.close().catch(() => undefined);
    this.current = undefined;
    const deadline = this.now() + withinMs;
    for (;;) {
      try {
        await this.connect();
        return;
      } catch (err) {
        if (this.now() >= deadline) throw err;
        await this.sleep(Math.min(1000, Math.max(1, deadline - this.now())));
      }
    }
  }

  async close(): Promise<void> {
    await this.current?.close().catch(() => undefined);
    this.current = undefined;
  }

  /** The session, or an error naming the host. */
  sessionOrThrow(): RemoteSession {
    if (!this.current) throw new Error(`${this.id}: not connected`);
    return this.current;
  }

  /** A command whose non-zero exit is an answer, not a failure; a lost connection drops the session. */
  async run(command: string, options?: ExecOptions): Promise<ExecResult> {
    const session = this.sessionOrThrow();
    try {
      return await session.exec(command, options);
    } catch (err) {
      this.current = undefined;
      await session.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * One step's remote command: exit 0 or a StepError with the last lines of its output; `describe` words the record.
   */
  async exec(
    name: StepName,
    command: string,
    options?: ExecOptions,
    describe?: (stdout: string) => string | undefined,
  ): Promise<string> {
    return this.timed(
      name,
      async () => {
        const result = await this.run(command, options);
        if (result.code !== 0)
          throw new StepError(name, result.code, outputTail(result.stderr, result.stdout, result.code));
        return result.stdout;
      },
      describe,
    );
  }

  /**
   * Several steps' commands in one remote command (release/joined.ts): one round trip, yet each step has its own
   * record, ended when its end line arrives, and a failure is its own StepError, exactly as if it ran alone. Returns
   * each step's stdout.
   */
  async execJoined(parts: readonly JoinedStep[], options?: ExecOptions): Promise<string[]> {
    if (parts.length === 1) {
      const [p] = parts;
      const out = await this.exec(p.name, p.command, options, p.describe);
      p.done?.(out);
      return [out];
    }
    const nonce = randomBytes(8).toString('hex');
    const start = this.now();
    const ends: number[] = [];
    let seen = '';
    const onStdout = (chunk: string) => {
      seen += chunk;
      for (let n = endedSoFar(seen, nonce); ends.length < n;) ends.push(this.now());
    };
    let result: ExecResult | undefined;
    let lost: unknown;
    try {
      result = await this.run(
        joinCommands(
          parts.map((p) => p.command),
          nonce,
        ),
        { ...options, onStdout },
      );
    } catch (err) {
      lost = err;
    }
    const ran = splitJoined(result?.stdout ?? seen, result?.stderr ?? '', nonce);
    const outs: string[] = [];
    for (let k = 0; k < parts.length; k++) {
      const { name, describe, done } = parts[k];
      const from = k === 0 ? start : (ends[k - 1] ?? this.now());
      const part = ran[k];
      if (!part) {
        // Cut short: the connection went while this step ran.
        const message = lost ? errorMessage(lost) : 'the joined command ended early';
        this.steps.push({ name, start: from, end: this.now(), ok: false, detail: message });
        throw new StepError(name, -1, message);
      }
      const to = ends[k] ?? this.now();
      if (part.code !== 0) {
        const tail = outputTail(part.stderr, part.stdout, part.code);
        this.steps.push({ name, start: from, end: to, ok: false, detail: tail });
        throw new StepError(name, part.code, tail);
      }
      const text = describe?.(part.stdout);
      this.steps.push({ name, start: from, end: to, ok: true, ...(text ? { detail: text } : {}) });
      done?.(part.stdout);
      outs.push(part.stdout);
    }
    return outs;
  }

  /**
   * Runs a step that is not one remote command (a drain on the balancer, the lock's wait, a health check) under this
   * host's records.
   */
  async timed<T>(name: StepName, fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    const start = this.now();
    try {
      const value = await fn();
      const text = detail?.(value);
      this.steps.push({ name, start, end: this.now(), ok: true, ...(text ? { detail: text } : {}) });
      return value;
    } catch (err) {
      const message =
        err instanceof StepError ? err.message.replace(/^\S+ failed(?: \(exit \d+\))?: /, '') : errorMessage(err);
      this.steps.push({ name, start, end: this.now(), ok: false, detail: message });
      throw err instanceof StepError ? err : new StepError(name, -1, message);
    }
  }
}

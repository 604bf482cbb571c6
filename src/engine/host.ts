// One host of a release, over one SSH session: connect, run a step's command, time it. Each step
// leaves one step record and, on failure, throws one StepError naming it. What a step runs is the
// step table's (engine/steps.ts); this is the thin executor under it (as Kamal's are).
import { hostId, type HostSpec } from '../common/inputs.js';
import { errorMessage } from '../common/errors.js';
import { Semaphore, sleep as realSleep } from '../common/concurrency.js';
import type { Connector, ExecOptions, ExecResult, RemoteSession, SshCredentials } from '../ssh/types.js';
import { StepError, outputTail, type StepName, type StepRecord } from './step-record.js';

/**
 * Connection starts (TCP, key exchange, authentication) in flight at once, separately from
 * max-parallel: a burst of handshakes is what servers and middleboxes refuse first. 10 is where
 * OpenSSH's default `MaxStartups 10:30:100` starts dropping unauthenticated connections, which a
 * jump host (every handshake goes through it) would otherwise do to a large rollout.
 */
export const MAX_CONCURRENT_HANDSHAKES = 10;
const handshakes = new Semaphore(MAX_CONCURRENT_HANDSHAKES);

export interface HostContext {
  connector: Connector;
  /** Bounds connection starts (default: one limit of MAX_CONCURRENT_HANDSHAKES shared by the process). */
  handshakes?: Semaphore;
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
      this.current = await (this.ctx.handshakes ?? handshakes).run(() =>
        this.ctx.connector(this.spec, this.ctx.credentials),
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

// One host of a release, over one SSH session: every verb the rollout and the revert use. Each verb
// records one step record and, on failure, throws one StepError naming the step. Commands come from
// the pure builders in release/commands.ts; this is the thin executor (as Kamal's are).
import { PassThrough } from 'node:stream';
import { hostId, type HostSpec } from '../common/inputs.js';
import { errorMessage } from '../common/errors.js';
import { Semaphore, sleep as realSleep } from '../common/concurrency.js';
import {
  EXIT,
  LOCK_STALE_SEC,
  acquireLockCommand,
  adoptCommand,
  heartbeatCommand,
  appendLogCommand,
  discardReleaseCommand,
  linkSharedCommand,
  markBadCommand,
  parseState,
  readStateCommand,
  receiveArtifactCommand,
  releaseLockCommand,
  removeReleasesCommand,
  switchCommand,
  unpackCommand,
  unsetCurrentCommand,
  userCommand,
  type DeployLogEntry,
  type HostState,
  type ReleaseEnv,
  type StateChecks,
  type UnpackOptions,
} from '../release/commands.js';
import { downloadArtifactCommand, downloadStdin } from '../release/download.js';
import { deltaOfferCommand, deltaUnpackCommand, parseOffer, type DeltaOffer } from '../release/delta.js';
import type { HealthCheck } from '../release/health.js';
import { releasePath, type SharedPath } from '../release/layout.js';
import { oneLine } from '../common/text.js';
import { unwritableMessage } from './preflight.js';
import type { Connector, ExecOptions, RemoteSession, SshCredentials } from '../ssh/types.js';
import { ReloadFailedError, StepError, outputTail, type StepName, type StepRecord } from './steps.js';

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

/** How long a renewal waits for the host's answer before the next beat tries again. */
const HEARTBEAT_ANSWER_MS = 10_000;

/** `promise`, or `fallback` after `ms` (a timer that never holds the process open). */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    timer.unref?.();
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** The long-lived heartbeat command on one session, and the renewals waiting for its answers. */
interface HeartbeatChannel {
  session: RemoteSession;
  input: PassThrough;
  waiting: ((line: string) => void)[];
  buffered: string;
  done: Promise<void>;
}

/** One attempt at the lock, as the host answered it. */
export type LockReply =
  | { kind: 'acquired' }
  | { kind: 'took-over'; holder: string; ageSec: number }
  | { kind: 'held'; holder: string; ageSec: number };

export class ReleaseHost {
  readonly id: string;
  readonly steps: StepRecord[] = [];
  /** This run's lock token while it holds the lock. */
  private lockToken = '';
  private lockOwner = '';
  /** Another run took the lock over (the heartbeat said so). */
  private lockLost = false;
  private heartbeat?: HeartbeatChannel;
  private session?: RemoteSession;
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
    return this.session !== undefined;
  }

  get locked(): boolean {
    return this.lockToken !== '';
  }

  /** Connects, verifying the host key. */
  async connect(): Promise<void> {
    await this.timed('connect', async () => {
      this.session = await (this.ctx.handshakes ?? handshakes).run(() => this.ctx.connector(this.spec, this.ctx.credentials));
      return undefined;
    });
  }

  /**
   * Connects again after the connection was lost (a restarted sshd), retrying until `withinMs`: a
   * host must be put back once it is reachable again.
   */
  async reconnect(withinMs: number): Promise<void> {
    await this.session?.close().catch(() => undefined);
    this.session = undefined;
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
    await this.closeHeartbeat();
    await this.session?.close().catch(() => undefined);
    this.session = undefined;
  }

  /** current, releases, bad markers, the checksum staged for `release`, and the ledger; with `checks`, what preflight needs. */
  async readState(release = '', checks?: StateChecks): Promise<HostState> {
    return parseState(await this.exec('state', readStateCommand(this.deployPath, release, checks)));
  }

  /** adopt-current: moves a hand-deployed `current` directory to releases/<id> as a healthy release. */
  async adopt(release: string, entry: DeployLogEntry): Promise<void> {
    await this.exec('adopt', adoptCommand(this.deployPath, release, entry), undefined, `moved current to releases/${release}`);
  }

  /** One attempt at the lock; `forceOwner` takes over a lock held by that (completed) run. Not a step: the caller times the wait. */
  async tryLock(owner: string, token: string, forceOwner = ''): Promise<LockReply> {
    const result = await this.raw(acquireLockCommand(this.deployPath, owner, token, forceOwner));
    const out = result.stdout.trim();
    if (result.code === EXIT.unwritable) {
      throw new StepError('lock', result.code, unwritableMessage(oneLine(out.replace(/^unwritable /, '')), this.spec, this.deployPath));
    }
    // The holder is what the owner file says: host-controlled text, shown as one printable line.
    const m = /^(took-over|held) (-?\d+) ?(.*)$/.exec(oneLine(out));
    if (result.code === 0) {
      this.lockToken = token;
      this.lockOwner = owner;
      this.lockLost = false;
      return m && m[1] === 'took-over' ? { kind: 'took-over', ageSec: Number(m[2]), holder: m[3] || 'an unknown run' } : { kind: 'acquired' };
    }
    if (result.code === EXIT.lockHeld && m) return { kind: 'held', ageSec: Number(m[2]), holder: m[3] || 'an unknown run' };
    throw new StepError('lock', result.code, outputTail(result.stderr, out, result.code));
  }

  /**
   * Renews the heartbeat; false when another run has taken the lock over. The renewals go over one
   * long-lived channel (heartbeatCommand), opened on the first and again after a lost connection.
   */
  async renewLock(): Promise<boolean> {
    if (!this.lockToken || !this.session) return true;
    if (this.lockLost) return false;
    const channel = this.heartbeat?.session === this.session ? this.heartbeat : this.openHeartbeat(this.session);
    const answer = new Promise<string>((resolve) => channel.waiting.push(resolve));
    channel.input.write('\n');
    // A host too slow to answer within a renewal period says nothing about who holds the lock.
    const reply = await within(answer, HEARTBEAT_ANSWER_MS, 'late');
    if (reply === 'lost') this.lockLost = true;
    return reply !== 'lost';
  }

  private openHeartbeat(session: RemoteSession): HeartbeatChannel {
    const channel: HeartbeatChannel = { session, input: new PassThrough(), waiting: [], buffered: '', done: Promise.resolve() };
    const answer = (line: string) => channel.waiting.shift()?.(line);
    channel.done = session
      .exec(heartbeatCommand(this.deployPath, this.lockToken, this.lockOwner), {
        stdin: channel.input,
        onStdout: (chunk) => {
          channel.buffered += chunk;
          for (let nl = channel.buffered.indexOf('\n'); nl >= 0; nl = channel.buffered.indexOf('\n')) {
            answer(channel.buffered.slice(0, nl).trim());
            channel.buffered = channel.buffered.slice(nl + 1);
          }
        },
      })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        // The loop ended (lost, or the channel closed): a waiting renewal learns nothing more from it.
        while (channel.waiting.length) answer('closed');
        if (this.heartbeat === channel) this.heartbeat = undefined;
      });
    this.heartbeat = channel;
    return channel;
  }

  /** Ends the heartbeat channel (its loop exits on end of input), so no renewal races the release of the lock. */
  private async closeHeartbeat(): Promise<void> {
    const channel = this.heartbeat;
    if (!channel) return;
    channel.input.end();
    await within(channel.done, HEARTBEAT_ANSWER_MS, undefined);
  }

  async unlock(): Promise<void> {
    if (!this.lockToken) return;
    await this.closeHeartbeat();
    const token = this.lockToken;
    this.lockToken = '';
    if (!this.session) throw new Error(`the connection was lost: the lock goes stale ${LOCK_STALE_SEC}s after its last heartbeat and is then taken over`);
    await this.raw(releaseLockCommand(this.deployPath, token));
  }

  async upload(release: string, sha256: string, content: Buffer): Promise<void> {
    await this.exec('upload', receiveArtifactCommand(this.deployPath, release, sha256), { stdin: content });
  }

  /** The host downloads the artifact itself (artifact-url) into where an upload lands, checking its sha256. */
  async download(release: string, sha256: string, url: { href: string; redacted: string }): Promise<void> {
    await this.exec('download', downloadArtifactCommand(this.deployPath, release, url.href, sha256, url.redacted, { urlOnStdin: true }), { stdin: downloadStdin(url.href) }, undefined, (out) => {
      const bytes = /downloaded=(\d+)/.exec(out)?.[1];
      return bytes ? `${bytes} bytes from ${url.redacted}` : `from ${url.redacted}`;
    });
  }

  /** Offers the release's manifest; the host answers which contents `from` (its current release) lacks. */
  async offerDelta(release: string, from: string, manifest: Buffer, detail: (offer: DeltaOffer) => string): Promise<DeltaOffer> {
    const stdout = await this.exec('compare', deltaOfferCommand(this.deployPath, release, from), { stdin: manifest }, undefined, (out) => detail(parseOffer(out)));
    return parseOffer(stdout);
  }

  /** Builds releases/<id>/ from hard links and the tar of missing files (complete or absent; `needBytes` must fit) and records `staged`. */
  async unpackDelta(release: string, identity: string, needBytes: number, tar: Buffer, staged: DeployLogEntry, detail: string): Promise<void> {
    await this.exec('unpack', deltaUnpackCommand(this.deployPath, release, identity, needBytes, staged), { stdin: tar }, detail);
  }

  /** Unpacks into releases/<id>/ (complete or absent) and records `staged`. */
  async unpack(release: string, options: UnpackOptions): Promise<void> {
    await this.exec('unpack', unpackCommand(this.deployPath, release, options));
  }

  async linkShared(release: string, paths: readonly SharedPath[]): Promise<void> {
    await this.exec('link', linkSharedCommand(this.deployPath, release, paths));
  }

  /** `setup-command` in the release directory. */
  async setup(command: string, env: ReleaseEnv): Promise<void> {
    await this.exec('setup', userCommand(releasePath(this.deployPath, env.releaseId), command, env));
  }

  /** Points `current` at `release` and records `entry` in the same command. */
  async switchTo(release: string, entry: DeployLogEntry): Promise<void> {
    await this.exec('switch', this.pointAt(release, entry));
  }

  /** `reload-command` in `current`. */
  async reload(command: string, env: ReleaseEnv): Promise<void> {
    await this.exec('reload', userCommand(`${this.deployPath}/current`, command, env));
  }

  /** `appPort`: `{port}` in health-url (the port of the host's balancer server). */
  async health(check: HealthCheck, env: ReleaseEnv, appPort?: number): Promise<string> {
    return this.timed('health', async () => {
      const result = await check(this.sessionOrThrow(), this.spec, env, appPort);
      if (!result.ok) throw new StepError('health', -1, result.detail);
      return result.detail;
    }, (detail) => detail);
  }

  /** Appends ledger lines, and removes releases in the same command (a success's record and prune: one round trip). */
  async record(entries: readonly DeployLogEntry[], prune: readonly string[] = []): Promise<void> {
    const lines = [appendLogCommand(this.deployPath, ...entries)];
    if (prune.length > 0) lines.push(removeReleasesCommand(this.deployPath, [...prune]));
    await this.exec('record', lines.join(' && '), undefined, prune.length > 0 ? `pruned ${prune.join(', ')}` : undefined);
  }

  /** The bad marker, and its ledger line. */
  async markBad(release: string, reason: string, entry: DeployLogEntry): Promise<void> {
    await this.exec('mark-bad', `${markBadCommand(this.deployPath, release, reason)} && ${appendLogCommand(this.deployPath, entry)}`);
  }

  /** Removes a release this run staged and never switched to. */
  async discard(release: string): Promise<void> {
    await this.exec('discard', discardReleaseCommand(this.deployPath, release));
  }

  /**
   * Puts the host back on `target` (Kamal's rollback: the same switch and reload as a rollout),
   * reconnecting first when the connection was lost. One `revert` record covers it.
   */
  async putBack(target: string, entry: DeployLogEntry, reload: { command: string; env: ReleaseEnv } | null, reconnectWithinMs: number): Promise<void> {
    const back = this.pointAt(target, entry);
    await this.timed(
      'revert',
      async () => {
        let result;
        try {
          if (!this.session) await this.reconnect(reconnectWithinMs);
          result = await this.raw(back);
        } catch {
          // The connection died under us (a restarted sshd): the switch is idempotent, so once more on a new one.
          await this.reconnect(reconnectWithinMs);
          result = await this.raw(back);
        }
        if (result.code !== 0) throw new StepError('revert', result.code, outputTail(result.stderr, result.stdout, result.code));
        if (target && reload) {
          result = await this.raw(userCommand(`${this.deployPath}/current`, reload.command, reload.env));
          if (result.code !== 0) throw new ReloadFailedError(result.code, `switched back to ${target}, but its reload failed: ${outputTail(result.stderr, result.stdout, result.code)}`);
        }
      },
      () => `back on ${target || '(no release)'}`,
    );
  }

  /** Runs a step that is not one remote command (a drain on the balancer, the lock's wait) under this host's records. */
  async timedStep<T>(name: StepName, fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    return this.timed(name, fn, detail);
  }

  /** `current` → releases/<release> ('' = no release), with its ledger line in the same command. */
  private pointAt(release: string, entry: DeployLogEntry): string {
    return release ? switchCommand(this.deployPath, release, entry) : unsetCurrentCommand(this.deployPath, entry);
  }

  private sessionOrThrow(): RemoteSession {
    if (!this.session) throw new Error(`${this.id}: not connected`);
    return this.session;
  }

  /** A command whose non-zero exit is an answer, not a failure; a lost connection drops the session. */
  private async raw(command: string, options?: ExecOptions): Promise<{ code: number; stdout: string; stderr: string }> {
    const session = this.sessionOrThrow();
    try {
      return await session.exec(command, options);
    } catch (err) {
      this.session = undefined;
      await session.close().catch(() => undefined);
      throw err;
    }
  }

  private async exec(name: StepName, command: string, options?: ExecOptions, detail?: string, describe?: (stdout: string) => string): Promise<string> {
    return this.timed(
      name,
      async () => {
        const result = await this.raw(command, options);
        if (result.code !== 0) throw new StepError(name, result.code, outputTail(result.stderr, result.stdout, result.code));
        return result.stdout;
      },
      (stdout) => describe?.(stdout) ?? detail,
    );
  }

  private async timed<T>(name: StepName, fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    const start = this.now();
    try {
      const value = await fn();
      const text = detail?.(value);
      this.steps.push({ name, start, end: this.now(), ok: true, ...(text ? { detail: text } : {}) });
      return value;
    } catch (err) {
      const message = err instanceof StepError ? err.message.replace(/^\S+ failed(?: \(exit \d+\))?: /, '') : errorMessage(err);
      this.steps.push({ name, start, end: this.now(), ok: false, detail: message });
      throw err instanceof StepError ? err : new StepError(name, -1, message);
    }
  }
}

// The deploy lock, which survives a lost runner: take it, take over a stale one with a warning, wait
// on a live one up to lock-timeout, and keep this run's heartbeat fresh over one long-lived channel.
import { PassThrough } from 'node:stream';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { oneLine } from '../common/text.js';
import { EXIT } from '../release/commands.js';
import {
  LOCK_STALE_SEC,
  acquireLockCommand,
  heartbeatCommand,
  releaseLockCommand,
  unlockCommand,
} from '../release/lock-commands.js';
import type { DeployLogEntry } from '../release/commands.js';
import type { RemoteSession } from '../ssh/types.js';
import type { ReleaseHost } from './host.js';
import { unwritableMessage } from './preflight.js';
import { StepError, outputTail } from './step-record.js';

/** How often the live run renews its heartbeat: three renewals fit in one stale period. */
export const LOCK_RENEW_MS = 15_000;

/** What the GitHub API says about the run that holds a lock (see github/runs.ts). */
export type RunStatus = 'completed' | 'running' | 'unknown';

export interface LockRequest {
  /** The run URL, shown to whoever finds the lock. */
  owner: string;
  token: string;
  timeoutMs: number;
  logger: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Stop waiting (the rollout was cancelled). */
  cancelled: () => boolean;
  runStatus?: (holderUrl: string) => Promise<RunStatus>;
  /** Pause between attempts while waiting. */
  pollMs?: number;
}

/** The message a held lock fails with: who holds it, how fresh it is, what the user can do. */
export function lockHeldMessage(holder: string, ageSec: number, timeoutMs: number): string {
  const staleIn = Math.max(0, LOCK_STALE_SEC - ageSec);
  return (
    `locked by another rollout: ${holder}, last heartbeat ${ageSec}s ago. ` +
    `Wait for that run to finish, or set lock-timeout (now ${Math.round(timeoutMs / 1000)}s) to wait for it; ` +
    `if that run is gone, its lock goes stale ${LOCK_STALE_SEC}s after its last heartbeat (in about ` +
    `${staleIn}s) and is then taken over`
  );
}

/** One attempt at the lock, as the host answered it. */
export type LockReply =
  | { kind: 'acquired' }
  | { kind: 'took-over'; holder: string; ageSec: number }
  | { kind: 'held'; holder: string; ageSec: number };

/** What an unlock found: no lock, a lock it removed, or a live one it left (without force). */
export type UnlockReply =
  | { kind: 'none' }
  | { kind: 'removed'; holder: string; ageSec: number }
  | { kind: 'live'; holder: string; ageSec: number };

/** How long a renewal waits for the host's answer before the next beat tries again. */
const HEARTBEAT_ANSWER_MS = 10_000;

/** The long-lived heartbeat command on one session, and the renewals waiting for its answers. */
interface HeartbeatChannel {
  session: RemoteSession;
  input: PassThrough;
  waiting: ((line: string) => void)[];
  buffered: string;
  done: Promise<void>;
}

/** The deploy lock of one host: taken, renewed over its heartbeat channel, released. */
export class HostLock {
  /** This run's lock token while it holds the lock. */
  private token = '';
  private owner = '';
  /** Another run took the lock over (the heartbeat said so). */
  private lost = false;
  /** The release goes with another command now (releaseWith): no renewal. */
  private handingOver = false;
  private heartbeat?: HeartbeatChannel;

  constructor(readonly host: ReleaseHost) {}

  get id(): string {
    return this.host.id;
  }

  get held(): boolean {
    return this.token !== '';
  }

  /** One attempt; `forceOwner` takes over a lock held by that (completed) run. Not a step: takeLock times the wait. */
  async tryLock(owner: string, token: string, forceOwner = ''): Promise<LockReply> {
    const result = await this.host.run(acquireLockCommand(this.host.deployPath, owner, token, forceOwner));
    const out = result.stdout.trim();
    if (result.code === EXIT.unwritable) {
      const why = oneLine(out.replace(/^unwritable /, ''));
      throw new StepError('lock', result.code, unwritableMessage(why, this.host.spec, this.host.deployPath));
    }
    // The holder is what the owner file says: host-controlled text, shown as one printable line.
    const m = /^(took-over|held) (-?\d+) ?(.*)$/.exec(oneLine(out));
    if (result.code === 0) {
      this.token = token;
      this.owner = owner;
      this.lost = false;
      if (m && m[1] === 'took-over')
        return { kind: 'took-over', ageSec: Number(m[2]), holder: m[3] || 'an unknown run' };
      return { kind: 'acquired' };
    }
    if (result.code === EXIT.lockHeld && m)
      return { kind: 'held', ageSec: Number(m[2]), holder: m[3] || 'an unknown run' };
    throw new StepError('lock', result.code, outputTail(result.stderr, out, result.code));
  }

  /**
   * Removes the host's lock by hand (`fivestep unlock`): a stale one, or a live one with `force`. `entry`, the
   * ledger line written in the same command, may name the holder and the heartbeat's age with UNLOCK_HOLDER and
   * UNLOCK_AGE.
   */
  async unlock(force: boolean, entry: DeployLogEntry): Promise<UnlockReply> {
    const result = await this.host.run(unlockCommand(this.host.deployPath, { force, entry }));
    const out = oneLine(result.stdout.trim());
    // The holder is what the owner file says: host-controlled text, shown as one printable line.
    const m = /^(removed|held) (-?\d+) ?(.*)$/.exec(out);
    const seen = (kind: 'removed' | 'live') => ({ kind, ageSec: Number(m![2]), holder: m![3] || 'an unknown run' });
    if (result.code === 0 && out === 'none') return { kind: 'none' };
    if (m && result.code === 0 && m[1] === 'removed') return seen('removed');
    if (m && result.code === EXIT.lockHeld && m[1] === 'held') return seen('live');
    throw new StepError('lock', result.code, outputTail(result.stderr, result.stdout, result.code));
  }

  /**
   * Renews the heartbeat; false when another run has taken the lock over. The renewals go over one
   * long-lived channel (heartbeatCommand), opened on the first and again after a lost connection.
   */
  async renew(): Promise<boolean> {
    const session = this.host.session;
    if (!this.token || !session || this.handingOver) return true;
    if (this.lost) return false;
    const channel = this.heartbeat?.session === session ? this.heartbeat : this.openHeartbeat(session);
    const answer = new Promise<string>((resolve) => channel.waiting.push(resolve));
    channel.input.write('\n');
    // A host too slow to answer within a renewal period says nothing about who holds the lock.
    const reply = await within(answer, HEARTBEAT_ANSWER_MS, 'late');
    if (reply === 'lost') this.lost = true;
    return reply !== 'lost';
  }

  /** Ends the heartbeat, then removes the lock if it is still this run's. */
  async release(): Promise<void> {
    if (!this.token) return;
    await this.closeHeartbeat();
    const token = this.token;
    this.token = '';
    if (!this.host.connected) {
      throw new Error(
        `the connection was lost: the lock goes stale ${LOCK_STALE_SEC}s after its last heartbeat and is ` +
          `then taken over`,
      );
    }
    await this.host.run(releaseLockCommand(this.host.deployPath, token));
  }

  /**
   * Releases the lock at the end of another command (`run`, given whether it must release: the record of an updated
   * host), a round trip saved. The heartbeat ends first; the lock is released once `run` succeeds, else `release`
   * still does it.
   */
  async releaseWith<T>(run: (release: boolean) => Promise<T>): Promise<T> {
    if (!this.token) return run(false);
    this.handingOver = true;
    try {
      await this.closeHeartbeat();
      const value = await run(true);
      this.token = '';
      return value;
    } finally {
      this.handingOver = false;
    }
  }

  /** Ends the heartbeat channel (its loop exits on end of input), so no renewal races the release of the lock. */
  async closeHeartbeat(): Promise<void> {
    const channel = this.heartbeat;
    if (!channel) return;
    channel.input.end();
    await within(channel.done, HEARTBEAT_ANSWER_MS, undefined);
  }

  private openHeartbeat(session: RemoteSession): HeartbeatChannel {
    const channel: HeartbeatChannel = {
      session,
      input: new PassThrough(),
      waiting: [],
      buffered: '',
      done: Promise.resolve(),
    };
    const answer = (line: string) => channel.waiting.shift()?.(line);
    const onStdout = (chunk: string) => {
      channel.buffered += chunk;
      for (let nl = channel.buffered.indexOf('\n'); nl >= 0; nl = channel.buffered.indexOf('\n')) {
        answer(channel.buffered.slice(0, nl).trim());
        channel.buffered = channel.buffered.slice(nl + 1);
      }
    };
    channel.done = session
      .exec(heartbeatCommand(this.host.deployPath, this.token, this.owner), { stdin: channel.input, onStdout })
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
}

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

/** Takes the host's lock, waiting up to `timeoutMs`; one `lock` step records the whole wait. */
export async function takeLock(lock: HostLock, request: LockRequest): Promise<void> {
  await lock.host.timed(
    'lock',
    () => waitForLock(lock, request),
    (detail) => detail || undefined,
  );
}

/** Tries until the lock is ours; resolves with what the step record should say ('' = nothing to say). */
async function waitForLock(lock: HostLock, request: LockRequest): Promise<string> {
  const { logger, now } = request;
  const host = lock.host;
  const deadline = now() + request.timeoutMs;
  const finished = new Set<string>();
  let waiting = false;
  for (;;) {
    const reply = await lock.tryLock(request.owner, request.token, [...finished][0] ?? '');
    if (reply.kind === 'acquired') return waiting ? 'waited for another rollout' : '';
    if (reply.kind === 'took-over') {
      const detail =
        `took over the stale lock of ${reply.holder} (last heartbeat ${reply.ageSec}s ` +
        `ago${finished.has(reply.holder) ? ', and its run has completed' : ''})`;
      logger.warning(`${host.id}: ${detail}`);
      return detail;
    }
    if (request.runStatus && !finished.has(reply.holder) && (await request.runStatus(reply.holder)) === 'completed') {
      finished.add(reply.holder);
      continue;
    }
    if (now() >= deadline || request.cancelled())
      throw new StepError('lock', 75, lockHeldMessage(reply.holder, reply.ageSec, request.timeoutMs));
    if (!waiting)
      logger.info(
        `${host.id}: waiting up to ${Math.round(request.timeoutMs / 1000)}s for the lock held by ${reply.holder} ` +
          `(last heartbeat ${reply.ageSec}s ago)`,
      );
    waiting = true;
    await request.sleep(Math.min(request.pollMs ?? 2000, Math.max(1, deadline - now())));
  }
}

/**
 * Renews the heartbeat of every lock this run holds, every LOCK_RENEW_MS, bakes included. A lock
 * found taken over means another run judged this one dead: `onLost` stops the rollout.
 */
export class Heartbeat {
  private timer?: ReturnType<typeof setInterval>;
  private beating = false;

  constructor(
    private readonly locks: () => readonly HostLock[],
    private readonly onLost: (lock: HostLock) => void,
    private readonly logger: Logger,
    private readonly intervalMs = LOCK_RENEW_MS,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round of renewals (a slow host never makes two rounds overlap). */
  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      await Promise.all(
        this.locks()
          .filter((l) => l.held && l.host.connected)
          .map(async (l) => {
            const ours = await l.renew().catch((err) => {
              this.logger.debug(`${l.id}: could not renew the lock's heartbeat: ${errorMessage(err)}`);
              return true;
            });
            if (!ours) this.onLost(l);
          }),
      );
    } finally {
      this.beating = false;
    }
  }
}

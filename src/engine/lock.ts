// The deploy lock's policy (SPEC "The lock survives a lost runner"): take it, take over a stale one
// with a warning, wait on a live one up to lock-timeout, and keep this run's heartbeat fresh.
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { LOCK_STALE_SEC } from '../release/commands.js';
import type { ReleaseHost } from './host.js';
import { StepError } from './steps.js';

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
    `if that run is gone, its lock goes stale ${LOCK_STALE_SEC}s after its last heartbeat (in about ${staleIn}s) and is then taken over`
  );
}

/** Takes the host's lock, waiting up to `timeoutMs`; one `lock` step records the whole wait. */
export async function takeLock(host: ReleaseHost, request: LockRequest): Promise<void> {
  await host.timedStep('lock', () => waitForLock(host, request), (detail) => detail || undefined);
}

/** Tries until the lock is ours; resolves with what the step record should say ('' = nothing to say). */
async function waitForLock(host: ReleaseHost, request: LockRequest): Promise<string> {
  const { logger, now } = request;
  const deadline = now() + request.timeoutMs;
  const finished = new Set<string>();
  let waiting = false;
  for (;;) {
    const reply = await host.tryLock(request.owner, request.token, [...finished][0] ?? '');
    if (reply.kind === 'acquired') return waiting ? 'waited for another rollout' : '';
    if (reply.kind === 'took-over') {
      const detail = `took over the stale lock of ${reply.holder} (last heartbeat ${reply.ageSec}s ago${finished.has(reply.holder) ? ', and its run has completed' : ''})`;
      logger.warning(`${host.id}: ${detail}`);
      return detail;
    }
    if (request.runStatus && !finished.has(reply.holder) && (await request.runStatus(reply.holder)) === 'completed') {
      finished.add(reply.holder);
      continue;
    }
    if (now() >= deadline || request.cancelled()) throw new StepError('lock', 75, lockHeldMessage(reply.holder, reply.ageSec, request.timeoutMs));
    if (!waiting) logger.info(`${host.id}: waiting up to ${Math.round(request.timeoutMs / 1000)}s for the lock held by ${reply.holder} (last heartbeat ${reply.ageSec}s ago)`);
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
    private readonly hosts: () => readonly ReleaseHost[],
    private readonly onLost: (host: ReleaseHost) => void,
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
        this.hosts()
          .filter((h) => h.locked && h.connected)
          .map(async (h) => {
            const ours = await h.renewLock().catch((err) => {
              this.logger.debug(`${h.id}: could not renew the lock's heartbeat: ${errorMessage(err)}`);
              return true;
            });
            if (!ours) this.onLost(h);
          }),
      );
    } finally {
      this.beating = false;
    }
  }
}

// `fivestep status` and `fivestep unlock` over the fleet: each host through the engine's own verbs (connect, the
// state step, the lock), every host at once within the handshake limit. The views are status-view.ts's.
import { hostname, userInfo } from 'node:os';
import { errorMessage } from '../common/errors.js';
import { mapLimit } from '../common/concurrency.js';
import type { HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { HandshakeLimits, ReleaseHost } from '../engine/host.js';
import { HostLock, type UnlockReply } from '../engine/lock.js';
import { plainStepRun, type StepRun } from '../engine/step-input.js';
import { runSteps } from '../engine/steps.js';
import { UNLOCK_AGE, UNLOCK_HOLDER } from '../release/lock-commands.js';
import type { SshSettings } from '../release/ssh-settings.js';
import type { Connector } from '../ssh/types.js';
import { hostStatus, unreadable, type HostStatus } from './status-view.js';

export interface FleetDeps {
  connector: Connector;
  logger: Logger;
  now?: () => number;
}

/** Hosts read at once. */
const READ_AT_ONCE = 256;

/**
 * Connection starts in flight at once in all (besides the engine's limit per server): handshake CPU on the
 * runner is what bounds a read of every host, and 64 was the fastest over 1,000 servers (bench/status.ts).
 */
const HANDSHAKES_AT_ONCE = 64;

type FleetSettings = Pick<SshSettings, 'hosts' | 'credentials' | 'deployPath'>;

/** Runs `fn` on each host over its own connection, closed after; a host that fails gives `failed(error)`. */
async function eachHost<T>(
  settings: FleetSettings,
  deps: FleetDeps,
  fn: (r: StepRun) => Promise<T>,
  failed: (host: string, error: string) => T,
): Promise<T[]> {
  const handshakes = new HandshakeLimits({ total: HANDSHAKES_AT_ONCE });
  return mapLimit(settings.hosts, READ_AT_ONCE, async (spec: HostSpec) => {
    const host = new ReleaseHost(spec, {
      connector: deps.connector,
      credentials: settings.credentials,
      deployPath: settings.deployPath,
      now: deps.now,
      handshakes,
    });
    try {
      const r = plainStepRun(host, deps.logger);
      await runSteps(['connect'], r);
      return await fn(r);
    } catch (err) {
      return failed(host.id, errorMessage(err));
    } finally {
      await host.close();
    }
  });
}

/** Every host's state, in `hosts` order: one connection and one state read a host. */
export function readStatus(settings: FleetSettings, deps: FleetDeps): Promise<HostStatus[]> {
  return eachHost(
    settings,
    deps,
    async (r) => {
      await runSteps(['state'], r);
      return hostStatus(r.host.id, r.state!);
    },
    unreadable,
  );
}

export interface UnlockResult {
  host: string;
  reply?: UnlockReply;
  error?: string;
}

/** Who removed a lock by hand, for the ledger: the login on this machine. */
export function unlockedBy(): string {
  let user = 'someone';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry (a container): 'someone' */
  }
  return `fivestep unlock by ${user}@${hostname()}`;
}

/** Removes stale locks (every lock with `force`), each removal written to that host's ledger. */
export function unlockFleet(settings: FleetSettings, force: boolean, deps: FleetDeps): Promise<UnlockResult[]> {
  const now = deps.now ?? Date.now;
  const by = unlockedBy();
  return eachHost<UnlockResult>(
    settings,
    deps,
    async (r) => {
      const what = force ? 'the lock' : 'the stale lock';
      const reply = await new HostLock(r.host).unlock(force, {
        time: new Date(now()).toISOString(),
        action: 'unlock',
        release: '',
        previous: '',
        run: by,
        result: 'unlocked',
        reason: `removed ${what} of ${UNLOCK_HOLDER} (last heartbeat ${UNLOCK_AGE}s ago)`,
      });
      return { host: r.host.id, reply };
    },
    (host, error) => ({ host, error }),
  );
}

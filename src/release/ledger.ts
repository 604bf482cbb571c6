// The release ledger: what happened to every release on one host, read from its append-only
// deploy log. Pure: the revert target, "never became healthy" and the prune plan are decided here.
import type { DeployLogEntry } from './commands.js';
import type { HostState } from './state-command.js';

export type LedgerEvent = 'staged' | 'switched' | 'healthy' | 'failed' | 'bad';
/** `unknown`: the log says nothing about the release (deployed by hand, or before the ledger). */
export type LedgerStatus = LedgerEvent | 'unknown';

const EVENTS: ReadonlySet<string> = new Set(['staged', 'switched', 'healthy', 'failed', 'bad']);

/**
 * The ledger event one log line records, mapping the lines fivestep wrote before the ledger:
 * a rollout's `success` meant healthy and `reverted` failed; a revert's `reverted` left its target healthy.
 */
export function ledgerEvent(e: DeployLogEntry): LedgerEvent | null {
  if (EVENTS.has(e.result)) return e.result as LedgerEvent;
  if (e.action === 'rollout') return e.result === 'success' ? 'healthy' : e.result === 'reverted' ? 'failed' : null;
  return e.result === 'reverted' ? 'healthy' : e.result === 'unhealthy' ? 'failed' : null;
}

export interface Ledger {
  /** Each release's status: its latest event, except that `bad` is final. */
  status(release: string): LedgerStatus;
  /** Releases with status `healthy`, the most recently healthy first. */
  healthy(): string[];
}

export function readLedger(log: readonly DeployLogEntry[], markedBad: readonly string[] = []): Ledger {
  const status = new Map<string, LedgerEvent>();
  const lastHealthy = new Map<string, number>();
  log.forEach((entry, i) => {
    const event = ledgerEvent(entry);
    if (!event || !entry.release || status.get(entry.release) === 'bad') return;
    status.set(entry.release, event);
    if (event === 'healthy') lastHealthy.set(entry.release, i);
  });
  for (const id of markedBad) status.set(id, 'bad');
  return {
    status: (release) => status.get(release) ?? 'unknown',
    healthy: () =>
      [...lastHealthy.entries()]
        .filter(([id]) => status.get(id) === 'healthy')
        .sort((a, b) => b[1] - a[1])
        .map(([id]) => id),
  };
}

/** The newest healthy release still on disk and not excluded ('' when there is none). */
export function newestHealthy(state: HostState, ledger: Ledger, exclude: readonly string[] = []): string {
  const onDisk = new Set(state.releases.map((r) => r.id));
  return ledger.healthy().find((id) => onDisk.has(id) && !exclude.includes(id)) ?? '';
}

/** A release a host runs but whose rollout never succeeded (it died midway, or failed). Unknown is not named. */
export function neverHealthy(status: LedgerStatus): boolean {
  return status === 'staged' || status === 'switched' || status === 'failed';
}

/**
 * Where a host goes back to if this rollout fails: the release it runs now, when that one was
 * healthy (or the log does not know it); otherwise (a run died midway, or it is marked bad) its
 * newest healthy release; otherwise the one it runs, which is still better than none.
 */
export function revertTarget(state: HostState, ledger: Ledger, release: string): string {
  const current = state.current;
  const status = ledger.status(current);
  if (!current || status === 'healthy' || status === 'unknown') return current;
  return newestHealthy(state, ledger, [release]) || current;
}

/**
 * Which releases to prune after a successful rollout. Kept: the newest `keep` healthy releases
 * (releases the log does not know count as healthy, so nothing the old rule kept is lost), the
 * current, the protected ones (the previous), and the newest healthy one besides the current (the
 * revert target). Failed, bad and never-switched releases are pruned. Oldest first.
 */
export function planPrune(state: HostState, ledger: Ledger, keep: number, protect: readonly string[]): string[] {
  const kept = new Set([state.current, ...protect].filter(Boolean));
  const target = newestHealthy(state, ledger, [state.current]);
  if (target) kept.add(target);
  const newestFirst = [...state.releases].reverse();
  const counted = newestFirst.filter((r) => ['healthy', 'unknown'].includes(ledger.status(r.id)));
  for (const r of counted.slice(0, keep)) kept.add(r.id);
  return state.releases.filter((r) => !kept.has(r.id)).map((r) => r.id);
}

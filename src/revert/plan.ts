// The pure core of the host revert: from one host's state and ledger, decide what to do.
// Invariants: never plan a switch onto a release marked bad or never healthy; a host not on the bad
// release is left alone.
import type { DeployLogEntry, HostState } from '../release/commands.js';
import { newestHealthy, readLedger } from '../release/ledger.js';

export interface PlanOptions {
  /** `bad-release`; '' = the release the latest rollout put on this host (from its log). */
  badRelease: string;
  /** `to-release`; '' = this host's newest healthy release (from its ledger) that is not marked bad. */
  toRelease: string;
}

export type HostPlan =
  | { action: 'switch'; current: string; bad: string; to: string; markBad: boolean; why: string }
  | { action: 'nothing-to-do'; current: string; bad: string; markBad: boolean; why: string }
  | { action: 'no-good-release'; current: string; bad: string; markBad: boolean; why: string };

/** The release the latest ssh-rollout put on this host ('' when the log records none), finished or not. */
export function latestRolledOut(log: readonly DeployLogEntry[]): string {
  for (let i = log.length - 1; i >= 0; i--) if (log[i].action === 'rollout' && log[i].release) return log[i].release;
  return '';
}

export function planHost(state: HostState, options: PlanOptions): HostPlan {
  const current = state.current;
  const onDisk = new Set(state.releases.map((r) => r.id));
  const markedBad = new Set(state.bad);
  const bad = options.badRelease || latestRolledOut(state.log);
  // Marking is idempotent but is still a change: only plan it where it is missing and the release is here.
  const markBad = bad !== '' && !markedBad.has(bad) && (onDisk.has(bad) || current === bad);

  if (!state.exists) return { action: 'nothing-to-do', current, bad, markBad: false, why: 'the deploy path does not exist on this host' };
  if (bad === '') {
    return { action: 'nothing-to-do', current, bad, markBad: false, why: "no rollout is recorded in this host's deploy log (set bad-release to name one)" };
  }
  if (current !== bad) {
    return { action: 'nothing-to-do', current, bad, markBad, why: current ? `current is ${current}, not the bad release ${bad}` : `no current release (bad release ${bad})` };
  }

  if (options.toRelease) {
    const to = options.toRelease;
    if (!onDisk.has(to)) return { action: 'no-good-release', current, bad, markBad, why: `to-release ${to} does not exist on this host` };
    if (markedBad.has(to)) return { action: 'no-good-release', current, bad, markBad, why: `to-release ${to} is marked bad on this host` };
    return { action: 'switch', current, bad, to, markBad, why: `to-release ${to}` };
  }

  const ledger = readLedger(state.log, state.bad);
  const to = newestHealthy(state, ledger, [bad]);
  if (!to) {
    const others = state.releases.filter((r) => r.id !== bad).map((r) => `${r.id} (${ledger.status(r.id)})`);
    return {
      action: 'no-good-release',
      current,
      bad,
      markBad,
      why: `no healthy release in this host's ledger to go back to${others.length ? `: ${others.join(', ')}` : ' (no other release on disk)'}; set to-release to choose one`,
    };
  }
  return { action: 'switch', current, bad, to, markBad, why: `newest healthy release ${to}` };
}

// The pure judge of a rollout's progress: from each host's outcome and the failure budget, go on,
// or stop, and which hosts go back to their previous release.

export type HostOutcome = 'pending' | 'updated' | 'failed' | 'reverted' | 'revert-failed' | 'skipped';

export interface HostProgress {
  host: string;
  outcome: HostOutcome;
  /** Its `current` points at the new release now (switched by this run, not yet put back). */
  switched: boolean;
}

export type Decision =
  /** Go on; `revert` are failed hosts within the budget, which must not stay on a release that failed on them. */
  | { go: true; revert: string[] }
  /** Stop: no new step starts, every switched host goes back. */
  | { go: false; reason: string; revert: string[] };

export const failuresOf = (hosts: readonly HostProgress[]): number =>
  hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'revert-failed').length;

/** `stopReason` is a reason from outside the hosts: a failed metric watch, a signal, a lost lock. */
export function judgeProgress(hosts: readonly HostProgress[], budget: number, stopReason = ''): Decision {
  const failures = failuresOf(hosts);
  if (stopReason || failures > budget) {
    return {
      go: false,
      reason: stopReason || `${failures} host(s) failed, more than max-failures (${budget})`,
      revert: hosts.filter((h) => h.switched).map((h) => h.host),
    };
  }
  return { go: true, revert: hosts.filter((h) => h.switched && h.outcome === 'failed').map((h) => h.host) };
}

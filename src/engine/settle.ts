// After a revert, behind a balancer: who goes in rotation and who stays out (pure).
import type { LoadBalancer } from '../lb/index.js';

export type HostRevertOutcome = 'reverted' | 'nothing-to-do' | 'no-good-release' | 'failed';

/** What settling the balancer needs of one host's revert (a HostRevertRecord). */
export interface SettledHost {
  host: string;
  outcome: HostRevertOutcome;
  healthy?: boolean;
}

/**
 * After the revert, who is in rotation: hosts healthy on their release (reverted, or left alone and
 * in rotation or checked healthy), and who is out: hosts not healthy. Never the last server in rotation:
 * those are `kept` as they are (at least one healthy server stays in rotation).
 */
export function settleOf(
  report: { hosts: readonly SettledHost[] },
  lb: Pick<LoadBalancer, 'serverOf' | 'inRotation'>,
): { ready: string[]; out: string[]; kept: string[] } {
  const ready: string[] = [];
  const out: string[] = [];
  for (const h of report.hosts) {
    const inRotation = lb.serverOf(h.host).state === 'ready';
    if (h.outcome === 'reverted' || (h.outcome === 'nothing-to-do' && (h.healthy ?? inRotation))) ready.push(h.host);
    else if (h.outcome !== 'nothing-to-do' || h.healthy === false) out.push(h.host);
  }
  if (ready.length === 0 && lb.inRotation(out) === 0) return { ready, out: [], kept: out };
  return { ready, out, kept: [] };
}

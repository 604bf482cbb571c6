// A failed rollout's put-back of one host (the revert plan, engine/put-back.ts) and what its outcome
// means for the host's record and the balancer: back and healthy, or revert-failed and out of rotation.
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Balancer } from '../engine/balancer.js';
import type { RolloutPlan } from '../engine/plan.js';
import { putBack } from '../engine/put-back.js';
import { healthProblem } from '../engine/steps.js';
import type { HostRun } from './host-run.js';

/** What recording a put-back's outcome needs of the run. */
export interface PutBackContext {
  balancer?: Balancer;
  log: Logger;
  plan: RolloutPlan;
  deployPath: string;
}

/**
 * Puts a switched host back on its revert target through the revert plan (drain → switch back and
 * reload → health → rotation); the ledger records the release failed here. A host not healthy there
 * stays out of rotation (revert-failed, named in failed-hosts).
 */
export async function putBackHost(run: HostRun, reason: string, c: PutBackContext): Promise<void> {
  const target = run.revertTo || '(no release)';
  run.backReason = reason;
  const result = await putBack(run, c.plan.revert);
  if (result.kind === 'not-back') {
    const why = `could not be put back on ${target}: ${result.message}`;
    return revertFailed(run, c, why, `COULD NOT BE REVERTED to ${target}: ${result.message}`);
  }
  run.closed = true;
  // `current` is back on the target (its ledger line says so); the app may not serve it.
  if (result.kind === 'reload-failed') return revertFailed(run, c, result.message);
  if (result.kind === 'unhealthy') return revertFailed(run, c, `back on ${target} but not healthy: ${result.message}`);
  // A host that failed stays 'failed' (with its reason), so `failed-hosts` names it; only hosts
  // reverted because of another host's failure become 'reverted'.
  if (run.record.outcome !== 'failed') run.record.outcome = 'reverted';
  c.log.info(`${run.host.id}: reverted to ${target}`);
}

/** A host drained for a switch that did not happen: in rotation again once healthy on the release it kept. */
export async function backUnswitched(run: HostRun, c: PutBackContext): Promise<void> {
  const balancer = c.balancer!;
  const kept = { deployPath: c.deployPath, releaseId: run.record.previous, previousReleaseId: '' };
  const unhealthy = run.record.previous ? await healthProblem(run, kept) : 'no release to serve';
  if (unhealthy) {
    balancer.keepOut(
      run.host,
      `not switched, and not healthy on ${run.record.previous || '(no release)'}: ${unhealthy}`,
    );
  } else {
    await balancer.enable(run.host).catch((e) => c.log.warning(`${run.host.id}: ${errorMessage(e)}`));
  }
}

/** A put-back that did not leave the host healthy: the reason recorded, the host out of rotation. */
function revertFailed(run: HostRun, c: PutBackContext, why: string, logged = why): void {
  run.record.outcome = 'revert-failed';
  run.record.reason = `${run.record.reason ? `${run.record.reason}; ` : ''}${why}`;
  c.log.error(`${run.host.id}: ${logged}`);
  if (c.balancer?.isOut(run.host)) c.balancer.keepOut(run.host, why);
}

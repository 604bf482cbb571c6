// The put-back, shared by a failed rollout and auto-revert (Kamal's rollback reuses its boot): walk
// the revert plan's steps (drain → switch back and reload → mark bad → health → rotation) through the
// step table and the one Balancer. The balancer never blocks a put-back: a drain that fails is a warning.
import { errorMessage } from '../common/errors.js';
import { ReloadFailedError, type StepName } from './step-record.js';
import type { StepRun } from './step-input.js';
import { STEPS, healthProblem } from './steps.js';

/** Where a put-back left the host. */
export type PutBackResult =
  /** On its target, healthy where a check ran. */
  | { kind: 'back' }
  /** Could not be switched back: it may still run the release. */
  | { kind: 'not-back'; message: string }
  /** Switched back, but the reload after it failed (the message says so itself). */
  | { kind: 'reload-failed'; message: string }
  /** Switched back, but marking the release bad failed, or the host is not healthy on its target. */
  | { kind: 'unhealthy'; message: string };

/** Runs the revert plan's `steps` for one switched host; the caller words the outcome. */
export async function putBack(r: StepRun, steps: readonly StepName[]): Promise<PutBackResult> {
  let result: PutBackResult = { kind: 'back' };
  const lb = r.balancer;
  for (const name of steps) {
    if (name === 'drain') {
      // A put-back runs when the run has stopped, so its drain waits for another server all the same.
      const waiting = { ...r, stopped: () => false };
      if (lb && !lb.isOut(r.host))
        await STEPS.drain.run(waiting).catch((e) => r.log.warning(`${r.host.id}: ${errorMessage(e)}`));
    } else if (name === 'revert') {
      try {
        await STEPS.revert.run(r);
      } catch (err) {
        if (!(err instanceof ReloadFailedError)) return { kind: 'not-back', message: errorMessage(err) };
        result = { kind: 'reload-failed', message: errorMessage(err) };
      }
    } else if (name === 'mark-bad') {
      // Marked even when the reload failed: the release must not be gone back to.
      await STEPS['mark-bad'].run(r).catch((e) => {
        if (result.kind === 'back') result = { kind: 'unhealthy', message: errorMessage(e) };
      });
    } else if (result.kind === 'back') {
      result = await afterSwitchBack(r, name);
    }
  }
  return result;
}

/** Health and rotation of a host back on its target; behind a draining balancer, only of a host it took out. */
async function afterSwitchBack(r: StepRun, name: StepName): Promise<PutBackResult> {
  const lb = r.balancer;
  const drained = lb?.settings.drain ? lb.isOut(r.host) : true;
  if (!drained) return { kind: 'back' };
  if (!r.input.target) {
    if (lb?.isOut(r.host)) lb.keepOut(r.host, 'no release left to serve');
    return { kind: 'back' };
  }
  if (name === 'health') {
    const on = {
      deployPath: r.input.settings.deployPath,
      releaseId: r.input.target,
      previousReleaseId: r.input.release,
    };
    const problem = await healthProblem(r, on);
    return problem ? { kind: 'unhealthy', message: problem } : { kind: 'back' };
  }
  if (name === 'rotation') await STEPS.rotation.run(r).catch((e) => r.log.warning(`${r.host.id}: ${errorMessage(e)}`));
  else await STEPS[name].run(r);
  return { kind: 'back' };
}

// The pure core of the host revert: from one host's state and deploy log, decide what to do.
// Invariants: never plan a switch onto a release marked bad; a host not on the bad release is left alone.
import type { DeployLogEntry, HostState } from '../release/commands.js';

export interface PlanOptions {
  /** `bad-release`; '' = the release the latest rollout put on this host (from its log). */
  badRelease: string;
  /** `to-release`; '' = this host's latest earlier release that exists and is not marked bad. */
  toRelease: string;
}

export type HostPlan =
  | { action: 'switch'; current: string; bad: string; to: string; markBad: boolean; why: string }
  | { action: 'nothing-to-do'; current: string; bad: string; markBad: boolean; why: string }
  | { action: 'no-good-release'; current: string; bad: string; markBad: boolean; why: string };

/** The release the latest ssh-rollout put on this host ('' when the log records none). */
export function latestRolledOut(log: readonly DeployLogEntry[]): string {
  for (let i = log.length - 1; i >= 0; i--) if (log[i].action === 'rollout' && log[i].release) return log[i].release;
  return '';
}

/**
 * Candidates to go back to, best first: the releases that were current before the bad one
 * according to the log (replayed oldest to newest, newest first), then releases on disk older
 * than the bad one (newest first). A release a rollout put back itself (its last rollout line says
 * `reverted`) is never a candidate: it failed its own health checks.
 */
export function previousCandidates(state: HostState, log: readonly DeployLogEntry[], bad: string): string[] {
  let last = -1;
  for (let i = log.length - 1; i >= 0; i--) {
    if (log[i].action === 'rollout' && log[i].release === bad) {
      last = i;
      break;
    }
  }
  const failedRollout = new Set<string>();
  const lastRolloutResult = new Map<string, string>();
  for (const e of log) if (e.action === 'rollout') lastRolloutResult.set(e.release, e.result);
  for (const [id, result] of lastRolloutResult) if (result === 'reverted') failedRollout.add(id);

  const out: string[] = [];
  const add = (id: string | undefined) => {
    if (id && id !== bad && !failedRollout.has(id) && !out.includes(id)) out.push(id);
  };
  if (last >= 0) {
    add(log[last].previous);
    // Replay what `current` was after each line, up to the bad release's rollout.
    const history: string[] = [];
    for (let i = 0; i < last; i++) {
      const e = log[i];
      const now = e.action === 'rollout' && e.result === 'reverted' ? e.previous : e.release;
      if (now && history[history.length - 1] !== now) history.push(now);
    }
    for (const id of history.reverse()) add(id);
  }
  const badDir = state.releases.find((r) => r.id === bad);
  const older = state.releases.filter((r) => !badDir || r.mtime < badDir.mtime || (r.mtime === badDir.mtime && r.id < bad));
  for (const r of [...older].reverse()) add(r.id);
  return out;
}

export function planHost(state: HostState, log: readonly DeployLogEntry[], options: PlanOptions): HostPlan {
  const current = state.current;
  const onDisk = new Set(state.releases.map((r) => r.id));
  const markedBad = new Set(state.bad);
  const bad = options.badRelease || latestRolledOut(log);
  // Marking is idempotent but is still a change: only plan it where it is missing and the release is here.
  const markBad = bad !== '' && !markedBad.has(bad) && (onDisk.has(bad) || current === bad);

  if (!state.exists) return { action: 'nothing-to-do', current, bad, markBad: false, why: 'the deploy path does not exist on this host' };
  if (bad === '') {
    return { action: 'nothing-to-do', current, bad, markBad: false, why: 'no rollout is recorded in this host\'s deploy log (set bad-release to name one)' };
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

  const candidates = previousCandidates(state, log, bad);
  const to = candidates.find((id) => onDisk.has(id) && !markedBad.has(id));
  if (!to) {
    const skipped = candidates.map((id) => `${id} (${onDisk.has(id) ? 'marked bad' : 'deleted'})`);
    return {
      action: 'no-good-release',
      current,
      bad,
      markBad,
      why: `no earlier release that exists and is not marked bad${skipped.length ? `: ${skipped.join(', ')}` : ''}`,
    };
  }
  const previous = candidates[0];
  const why = to === previous ? `previous release ${to}` : `previous release ${previous} is ${onDisk.has(previous) ? 'marked bad' : 'deleted'}; latest good earlier release is ${to}`;
  return { action: 'switch', current, bad, to, markBad, why };
}

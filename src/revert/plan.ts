// The pure core of the host revert: from one host's state and ledger, decide what to do.
// Invariants: never plan a switch onto a release marked bad or never healthy; a host not on the bad
// release is left alone; with bad-release empty, only a release an ssh-rollout of THIS workflow run
// put on the host is ever taken off (a release an earlier run put there must be named).
import type { DeployLogEntry } from '../release/commands.js';
import type { HostState } from '../release/state-command.js';
import { newestHealthy, readLedger } from '../release/ledger.js';

export interface PlanOptions {
  /**
   * `bad-release`; '' = the release the latest ssh-rollout of this workflow run (`run`) put on this host (from its
   * log).
   */
  badRelease: string;
  /** `to-release`; '' = this host's newest healthy release (from its ledger) that is not marked bad. */
  toRelease: string;
  /**
   * This workflow run's URL as ssh-rollout writes it into the deploy log (`run`, shared by every
   * attempt); '' outside a workflow run, where an empty badRelease finds nothing.
   */
  run: string;
  /** Mark the release taken off bad (default true); a rollback on purpose marks nothing. */
  markBad?: boolean;
  /**
   * A rollback on purpose (to-release named, bad-release empty, mark-bad false): the release taken off is whatever
   * each host runs, unless it is to-release already.
   */
  planned?: boolean;
}

interface PlanBase {
  current: string;
  bad: string;
  markBad: boolean;
  /**
   * Whether the bad release ever reached this host: with badRelease empty, whether a rollout of this
   * run did; named, whether it is current, on disk, marked bad or in the ledger here.
   */
  reached: boolean;
  why: string;
}

export type HostPlan =
  | (PlanBase & { action: 'switch'; to: string })
  | (PlanBase & { action: 'nothing-to-do' })
  | (PlanBase & { action: 'no-good-release' });

/**
 * The release the latest ssh-rollout of workflow run `run` put on this host, finished or not ('' when
 * the log records none, or `run` is ''). Entries of other runs are never looked at.
 */
export function latestRolledOut(log: readonly DeployLogEntry[], run: string): string {
  if (!run) return '';
  for (let i = log.length - 1; i >= 0; i--) {
    const e = log[i];
    if (e.action === 'rollout' && e.release && e.run === run) return e.release;
  }
  return '';
}

/** Why a host has no bad release when bad-release is empty. */
export function noRolloutOfThisRun(run: string): string {
  return run
    ? `no ssh-rollout of this workflow run (${run}) reached this host; set bad-release to name a release`
    : 'bad-release is empty outside a workflow run; set bad-release to name a release';
}

/** The bad release on one host and what the host holds of it: everything planHost decides from. */
interface HostFacts {
  current: string;
  bad: string;
  onDisk: Set<string>;
  markedBad: Set<string>;
  reached: boolean;
  markBad: boolean;
}

/** One host's revert: first whether the host is on the bad release at all, then where it goes back to. */
export function planHost(state: HostState, options: PlanOptions): HostPlan {
  const facts = hostFacts(state, options);
  return leaveAlone(state, options, facts) ?? goBack(state, facts, options.toRelease);
}

/** The release this revert takes off this host ('' when none): named, this run's, or (planned) whatever it runs. */
function badOn(state: HostState, options: PlanOptions): string {
  if (options.planned) return state.current === options.toRelease ? '' : state.current;
  return options.badRelease || latestRolledOut(state.log, options.run);
}

function hostFacts(state: HostState, options: PlanOptions): HostFacts {
  const current = state.current;
  const onDisk = new Set(state.releases.map((r) => r.id));
  const markedBad = new Set(state.bad);
  const bad = badOn(state, options);
  const reached =
    state.exists &&
    bad !== '' &&
    (current === bad || onDisk.has(bad) || markedBad.has(bad) || state.log.some((e) => e.release === bad));
  // Marking is idempotent but is still a change: only plan it where it is missing and the release is here.
  const markBad =
    options.markBad !== false && bad !== '' && !markedBad.has(bad) && (onDisk.has(bad) || current === bad);
  return { current, bad, onDisk, markedBad, reached, markBad };
}

/** The plan for a host that is not (or cannot be seen to be) on the bad release; undefined when it is on it. */
function leaveAlone(state: HostState, options: PlanOptions, facts: HostFacts): HostPlan | undefined {
  const { current, bad, reached, markBad } = facts;
  const leave = (why: string, known: { markBad: boolean; reached: boolean }): HostPlan => ({
    action: 'nothing-to-do',
    current,
    bad,
    ...known,
    why,
  });
  if (!state.exists) return leave('the deploy path does not exist on this host', { markBad: false, reached: false });
  // A `current` that is not a link into releases/ is left as it is: switching it would mean following it.
  if (state.currentProblem) return leave(`current ${state.currentProblem}: left as it is`, { markBad: false, reached });
  if (bad === '' && options.planned) {
    const why = current ? `already on to-release ${current}` : 'no current release: nothing to roll back';
    return leave(why, { markBad: false, reached: false });
  }
  if (bad === '') return leave(noRolloutOfThisRun(options.run), { markBad: false, reached: false });
  if (current !== bad) {
    const why = current
      ? `current is ${current}, not the bad release ${bad}`
      : `no current release (bad release ${bad})`;
    return leave(why, { markBad, reached });
  }
  return undefined;
}

/** For a host on the bad release: the release to switch back to (`to-release`, or the newest healthy), or why none. */
function goBack(state: HostState, facts: HostFacts, toRelease: string): HostPlan {
  const { current, bad, onDisk, markedBad, markBad, reached } = facts;
  const none = (why: string): HostPlan => ({ action: 'no-good-release', current, bad, markBad, reached, why });
  if (toRelease) {
    if (!onDisk.has(toRelease)) return none(`to-release ${toRelease} does not exist on this host`);
    if (markedBad.has(toRelease)) return none(`to-release ${toRelease} is marked bad on this host`);
    return { action: 'switch', current, bad, to: toRelease, markBad, reached, why: `to-release ${toRelease}` };
  }

  const ledger = readLedger(state.log, state.bad);
  const to = newestHealthy(state, ledger, [bad]);
  if (!to) {
    const others = state.releases.filter((r) => r.id !== bad).map((r) => `${r.id} (${ledger.status(r.id)})`);
    return none(
      `no healthy release in this host's ledger to go back ` +
        `to${others.length ? `: ${others.join(', ')}` : ' (no other release on disk)'}; ` +
        `set to-release to choose one`,
    );
  }
  return { action: 'switch', current, bad, to, markBad, reached, why: `newest healthy release ${to}` };
}

export type { HostRevertOutcome } from '../engine/settle.js';

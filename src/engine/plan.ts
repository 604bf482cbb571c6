// The pure planner: settings and what preflight found → the plan a rollout executes (waves, each
// host's steps, the failure budget). The dry run prints this same plan.
import { resolveCount, type Count } from '../common/inputs.js';
import type { StepName } from './step-record.js';
import type { Staging } from './step-input.js';

export interface PlanOptions {
  release: string;
  waves: readonly Count[];
  maxFailures: Count;
  maxParallel: number;
  sharedPaths: boolean;
  setup: boolean;
  reload: boolean;
  health: boolean;
  /** Hosts leave the balancer's rotation while they switch. */
  drain: boolean;
  /** canary-weight is set: wave 1 bakes at its own share of requests. */
  canary: boolean;
  waveWaitMs: number;
  watch: boolean;
  /**
   * How a host without this release gets it: the whole artifact, a delta against its current release, or its own
   * download.
   */
  staging: Exclude<Staging, 'cached'>;
}

/** What preflight found on one host. */
export interface FoundHost {
  /** This release's artifact is already there with the same checksum: no upload. */
  uploaded: boolean;
  /** It has a current release (delta staging builds from it). */
  current: boolean;
}

export interface PlannedBake {
  ms: number;
  watch: boolean;
  canary: boolean;
}

export interface PlannedWave {
  index: number;
  hosts: string[];
  /** null for the last wave, and when wave-wait is 0. */
  bake: PlannedBake | null;
}

export interface RolloutPlan {
  release: string;
  waves: PlannedWave[];
  /** Hosts that may fail before the rollout stops and reverts. */
  budget: number;
  maxParallel: number;
  /** Per host, before anything changes (a dry run takes no lock; adopt-current adds `adopt` and a second `state`). */
  preflight: StepName[];
  /** Per host, in order: before any switch anywhere. */
  stage: Record<string, StepName[]>;
  /** Per host of a wave, in order. */
  switch: StepName[];
  /** Per updated host after the last wave: `healthy` in the ledger, and the prune, in one command. */
  finish: StepName[];
  /** Per switched host when the rollout stops. */
  revert: StepName[];
}

/**
 * Splits hosts (in the order given) into waves, Ansible `serial` semantics: the last size repeats until every host
 * is done. A percent is of all hosts, rounded up, at least 1.
 */
export function planWaves<T>(hosts: readonly T[], sizes: readonly Count[]): T[][] {
  const waves: T[][] = [];
  let next = 0;
  let i = 0;
  while (next < hosts.length) {
    const size = resolveCount(sizes[Math.min(i, sizes.length - 1)], hosts.length);
    waves.push(hosts.slice(next, next + size));
    next += size;
    i++;
  }
  return waves;
}

/** The failure budget of `max-failures` over `hosts` hosts: `N`, or `N%` of them rounded up (0% is 0). */
export function failureBudget(maxFailures: Count, hosts: number): number {
  return maxFailures.kind === 'count' ? maxFailures.value : resolveCount(maxFailures, hosts, 0);
}

export function planRollout(
  hosts: readonly string[],
  options: PlanOptions,
  found: ReadonlyMap<string, FoundHost> = new Map(),
): RolloutPlan {
  const waves = planWaves(hosts, options.waves);
  const fetchSteps = (host: string): StepName[] => {
    const f = found.get(host);
    if (f?.uploaded) return [];
    if (options.staging === 'url') return ['download'];
    // Delta sends the missing files with the unpack command; a host with no release to build from gets the whole
    // artifact.
    return options.staging === 'delta' && (f?.current ?? true) ? ['compare'] : ['upload'];
  };
  const stageSteps = (host: string): StepName[] => [
    ...fetchSteps(host),
    'unpack',
    ...(options.sharedPaths ? ['link' as const] : []),
    ...(options.setup ? ['setup' as const] : []),
  ];
  return {
    release: options.release,
    waves: waves.map((w, i) => ({
      index: i + 1,
      hosts: [...w],
      bake:
        i < waves.length - 1 && options.waveWaitMs > 0
          ? { ms: options.waveWaitMs, watch: options.watch, canary: options.canary && i === 0 }
          : null,
    })),
    budget: failureBudget(options.maxFailures, hosts.length),
    maxParallel: options.maxParallel,
    preflight: ['connect', 'lock', 'state'],
    stage: Object.fromEntries(hosts.map((h) => [h, stageSteps(h)])),
    switch: [
      ...(options.drain ? ['drain' as const] : []),
      'switch',
      ...(options.reload ? ['reload' as const] : []),
      ...(options.health ? ['health' as const] : []),
      ...(options.drain ? ['rotation' as const] : []),
    ],
    finish: ['record'],
    // Behind a balancer a reverted host is back in rotation only once healthy on the release it went back to.
    revert: revertSteps({ drain: options.drain, health: options.drain && options.health }),
  };
}

/**
 * The revert plan, a failed rollout's put-back and auto-revert's alike (Kamal's rollback reuses its
 * boot): out of rotation, switch back and reload, mark the release bad, health, back in rotation.
 */
export function revertSteps(o: { drain?: boolean; markBad?: boolean; health: boolean }): StepName[] {
  return [
    ...(o.drain ? ['drain' as const] : []),
    'revert',
    ...(o.markBad ? ['mark-bad' as const] : []),
    ...(o.health ? ['health' as const] : []),
    ...(o.drain ? ['rotation' as const] : []),
  ];
}

// Every auto-revert input read and validated before anything changes anywhere.
import { InputError, optional, parseBool, parseInteger, parseList, type InputSource } from '../common/inputs.js';
import { readLoadBalancerInputs, type LoadBalancerSettings } from '../lb/index.js';
import { validateReleaseId } from '../release/layout.js';
import { readSshSettings, type SshSettings } from '../release/ssh-settings.js';

export interface RevertSettings {
  /** null when `hosts` is empty: a git-only revert. */
  ssh: SshSettings | null;
  /** Validated, not yet acted on (see docs/auto-revert.md). */
  loadBalancer: LoadBalancerSettings | null;
  badRelease: string;
  toRelease: string;
  /** mark-bad: the release taken off is marked bad (never landed on again by an automatic rollback). */
  markBad: boolean;
  /** A rollback on purpose: to-release named, bad-release empty, mark-bad false; every host goes to to-release. */
  planned: boolean;
  /** As given (free text, or metric-watch's `breaches` JSON). */
  reason: string;
  revertCommit: boolean;
  /** Oldest first. */
  commits: string[];
  revertMode: 'push' | 'pull-request';
  githubToken: string;
  rcaIssue: boolean;
  maxRevertsPerDay: number;
  rcaLabels: string[];
  reports: string[];
}

export interface RevertSettingsContext {
  /** `${{ github.sha }}`: the default of `commits`. */
  sha: string;
  /** GITHUB_RUN_ID ('' outside a workflow run, where an empty bad-release means nothing). */
  runId: string;
  mask: (secret: string) => void;
}

/** A revision argument for git: never an option, never whitespace. */
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._/~^-]{0,199}$/;

export function readRevertSettings(source: InputSource, ctx: RevertSettingsContext): RevertSettings {
  const ssh = optional(source, 'hosts') === '' ? null : readSshSettings(source, { mask: ctx.mask });
  const badRelease = optional(source, 'bad-release');
  const toRelease = optional(source, 'to-release');
  if (badRelease) validateReleaseId('bad-release', badRelease);
  if (toRelease) validateReleaseId('to-release', toRelease);
  if (badRelease && badRelease === toRelease) throw new InputError('to-release', 'is the same as bad-release');
  const markBad = parseBool('mark-bad', source('mark-bad'), true);
  const planned = ssh !== null && !badRelease && toRelease !== '' && !markBad;
  // Empty means "what an ssh-rollout of this workflow run put there": outside a run there is no such
  // rollout, and guessing (the latest rollout of any run) would take a healthy release off. to-release
  // does not change that: it says where to go, not what to take off.
  if (ssh && !badRelease && !ctx.runId && !planned) {
    throw new InputError(
      'bad-release',
      'is empty outside a workflow run (no GITHUB_RUN_ID): name the release to take off the hosts (empty ' +
        'means the release an ssh-rollout of this workflow run put there), or, for a rollback on purpose, ' +
        'name to-release and set mark-bad to false',
    );
  }

  const revertCommit = parseBool('revert-commit', source('revert-commit'), false);
  const commits = parseList(optional(source, 'commits', ctx.sha));
  for (const c of commits) if (!REVISION.test(c)) throw new InputError('commits', `'${c}' is not a commit SHA`);
  if (revertCommit && commits.length === 0)
    throw new InputError('commits', 'is empty (and no github.sha is known) but revert-commit is true');

  const mode = optional(source, 'revert-mode', 'pull-request');
  if (mode !== 'push' && mode !== 'pull-request')
    throw new InputError('revert-mode', `must be push or pull-request, got '${mode}'`);

  const githubToken = source('github-token').trim();
  if (githubToken) ctx.mask(githubToken);

  const settings: RevertSettings = {
    ssh,
    loadBalancer: readLoadBalancer(source, ssh),
    badRelease,
    toRelease,
    markBad,
    planned,
    reason: source('reason').trim(),
    revertCommit,
    commits,
    revertMode: mode,
    githubToken,
    rcaIssue: parseBool('rca-issue', source('rca-issue'), true),
    maxRevertsPerDay: parseInteger('max-reverts-per-day', optional(source, 'max-reverts-per-day', '3'), { min: 0 }),
    rcaLabels: parseList(optional(source, 'rca-labels', 'incident')),
    reports: parseList(source('reports'), { commas: false }),
  };
  if (!ssh && !revertCommit && !settings.rcaIssue)
    throw new InputError('hosts', 'is empty and revert-commit and rca-issue are false: there is nothing to do');
  if (!githubToken && (settings.rcaIssue || (revertCommit && mode === 'pull-request'))) {
    throw new InputError('github-token', 'is required to open the pull request or the RCA issue');
  }
  return settings;
}

/** ssh-rollout's reader, plus auto-revert's own rule: the balancer is reset only alongside the hosts. */
function readLoadBalancer(source: InputSource, ssh: SshSettings | null): LoadBalancerSettings | null {
  if (optional(source, 'load-balancer') !== '' && !ssh) throw new InputError('load-balancer', 'needs hosts');
  return readLoadBalancerInputs(source);
}

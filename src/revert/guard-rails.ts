// The guard rails of a git revert, as one pure decision: from what was read of the repository and of
// GitHub (the facts) to refused / already reverted / rate-limited / go. In this order: a commit that
// must never be reverted is refused whatever else holds; work already done is reported before the
// daily limit is looked at, so a second run over the same commits never reads as rate-limited.
import type { CommitInfo } from './git-repo.js';
import { parseTrailers, subjectOf } from './git-message.js';

export const DAY_MS = 24 * 3600 * 1000;

/** Why this commit must not be reverted automatically, or null. */
export function refusal(commit: CommitInfo): string | null {
  const trailers = parseTrailers(commit.message);
  const short = commit.sha.slice(0, 7);
  const subject = subjectOf(commit.message);
  const noAuto = trailers.get('no-auto-revert') ?? [];
  if (noAuto.some((v) => /^(true|yes|1)$/i.test(v))) return `${short} carries a 'No-Auto-Revert: true' trailer`;
  if ((trailers.get('auto-revert') ?? []).length > 0) {
    return `${short} is itself an automatic revert (Auto-Revert trailer): never revert a revert`;
  }
  if (/^Revert "/.test(subject) || /^This reverts commit [0-9a-f]{7,40}/m.test(commit.message)) {
    return `${short} is a revert ("${subject}"): never revert a revert`;
  }
  return null;
}

/** The refusal of every commit that has one, in commit order. */
export function refusals(commits: readonly CommitInfo[]): string[] {
  return commits.map(refusal).filter((r): r is string => r !== null);
}

/** An automatic revert found in history: when it was committed and what it reverted. */
export interface AutoRevertRecord {
  sha: string;
  time: number;
  reverts: string[];
}

/** Parses `git log --format=%H%x1f%ct%x1f%B%x1e` output, keeping our own revert commits only. */
export function parseAutoReverts(logOutput: string): AutoRevertRecord[] {
  const out: AutoRevertRecord[] = [];
  for (const rec of logOutput.split('\x1e')) {
    const [sha, ct, body] = rec.replace(/^\n+/, '').split('\x1f');
    if (!sha || body === undefined) continue;
    const trailers = parseTrailers(body);
    if (!(trailers.get('auto-revert') ?? []).some((v) => v.toLowerCase() === 'fivestep')) continue;
    const reverts = (trailers.get('reverts') ?? []).map((s) => s.split(/\s/)[0]);
    out.push({ sha: sha.trim(), time: Number(ct) * 1000, reverts });
  }
  return out;
}

/** Automatic reverts in the 24 hours before `now`. */
export function revertsInLastDay(records: readonly AutoRevertRecord[], now: number): number {
  return records.filter((r) => r.time > now - DAY_MS && r.time <= now + 60_000).length;
}

/** An earlier automatic revert that already covers every commit (so this run changes nothing). */
export function findExistingRevert(
  records: readonly AutoRevertRecord[],
  shas: readonly string[],
): AutoRevertRecord | undefined {
  return records.find((r) => shas.every((s) => r.reverts.includes(s)));
}

/** An open pull request from an earlier run's revert branch for the same commits. */
export interface OpenRevertPullRequest {
  number: number;
  url: string;
  headSha: string;
  branch: string;
}

/** What was read about earlier reverts, and the limit to hold them to. */
export interface EarlierReverts {
  /** Pull-request mode only; null when none is open (or in push mode). */
  openPullRequest: OpenRevertPullRequest | null;
  /** Our automatic reverts in the history read (the last 30 days). */
  autoReverts: readonly AutoRevertRecord[];
  now: number;
  maxRevertsPerDay: number;
}

export interface GuardRailFacts {
  /** The commits to revert, resolved and read, oldest first. */
  commits: readonly CommitInfo[];
  /** Left unread (undefined) when a commit is refused: a refusal decides alone. */
  earlier?: EarlierReverts;
}

export type GuardRailDecision =
  | { status: 'refused'; message: string }
  | {
      status: 'already-reverted';
      revertSha: string;
      branch?: string;
      pullRequest?: { number: number; url: string };
      message: string;
    }
  | { status: 'rate-limited'; message: string }
  | { status: 'go' };

/** Refused, already reverted (by an open PR, then by a commit in history), rate-limited, or go. */
export function decideGuardRails(facts: GuardRailFacts): GuardRailDecision {
  const refused = refusals(facts.commits);
  if (refused.length) return { status: 'refused', message: `not reverting in git: ${refused.join('; ')}` };
  const { earlier } = facts;
  if (!earlier) throw new Error('guard rails: earlier reverts must be read for commits that are not refused');
  // The open PR comes first: its commit is also in the history read.
  const pr = earlier.openPullRequest;
  if (pr) {
    return {
      status: 'already-reverted',
      revertSha: pr.headSha,
      branch: pr.branch,
      pullRequest: { number: pr.number, url: pr.url },
      message: `a revert pull request is already open: #${pr.number}`,
    };
  }
  const existing = findExistingRevert(
    earlier.autoReverts,
    facts.commits.map((c) => c.sha),
  );
  if (existing) {
    const message = `already reverted by ${existing.sha.slice(0, 7)}`;
    return { status: 'already-reverted', revertSha: existing.sha, message };
  }
  const recent = revertsInLastDay(earlier.autoReverts, earlier.now);
  if (recent >= earlier.maxRevertsPerDay) {
    const limit = `max-reverts-per-day is ${earlier.maxRevertsPerDay}`;
    return {
      status: 'rate-limited',
      message: `not reverting in git: ${recent} automatic revert(s) in the last 24 h, ${limit}`,
    };
  }
  return { status: 'go' };
}

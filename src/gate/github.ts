// The gate's handle on GitHub, shared by its GitHub modules: the repository, its default branch, and what a
// refused write needs. The calls themselves are by concern: commit-checks.ts (check runs, commit statuses),
// branch-history.ts (the gate's results along a branch), pull-requests.ts, triggering-run.ts (publish's reads)
// and red-main-issue.ts; the bug-needs-test rule is bug-rule.ts.
import type { GitHubClient } from '../github/client.js';

export interface Repo {
  owner: string;
  repo: string;
}

export async function defaultBranch(
  client: GitHubClient,
  repo: Repo,
  payload: { repository?: { default_branch?: string } },
): Promise<string> {
  const fromEvent = payload?.repository?.default_branch;
  if (fromEvent) return fromEvent;
  return (await client.rest.repos.get({ ...repo })).data.default_branch;
}

/** Why a write is usually refused, per mode: what the job's token needs. */
export const PERMISSION_HINTS = {
  run:
    "the token needs 'checks: write', 'statuses: write', 'issues: write' and 'pull-requests: read'; a " +
    'pull request from a fork gets a read-only token: use mode save and publish, see the README',
  publish:
    "the workflow_run job's token needs 'checks: write', 'statuses: write', 'pull-requests: read' and 'actions: read'",
} as const;

/** Explains the usual reason a write is refused, so the log says what to change. */
export function describeApiError(err: unknown, hint: string = PERMISSION_HINTS.run): string {
  const e = err as { status?: number; message?: string };
  const base = e.status ? `${e.status} ${e.message ?? ''}`.trim() : String(e?.message ?? err);
  return e.status === 403 || e.status === 404 ? `${base} (${hint})` : base;
}

// What the gate reads of pull requests: one's labels and changed files (for the bug-needs-test rule), and
// the open ones on a branch (to move their tree status with the tree).
import type { GitHubClient } from '../github/client.js';
import type { Repo } from './github.js';

export async function labelsOf(client: GitHubClient, repo: Repo, number: number): Promise<string[]> {
  const labels = await client.paginate(client.rest.issues.listLabelsOnIssue, {
    ...repo,
    issue_number: number,
    per_page: 100,
  });
  return labels.map((l) => l.name);
}

export async function changedFiles(client: GitHubClient, repo: Repo, number: number): Promise<string[]> {
  const files = await client.paginate(client.rest.pulls.listFiles, { ...repo, pull_number: number, per_page: 100 });
  // A rename counts for both names: moving a test is touching a test.
  return files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]));
}

export interface OpenPull {
  number: number;
  headSha: string;
  labels: string[];
}

export async function openPulls(client: GitHubClient, repo: Repo, base: string): Promise<OpenPull[]> {
  const pulls = await client.paginate(client.rest.pulls.list, { ...repo, state: 'open', base, per_page: 100 });
  return pulls.map((p) => ({ number: p.number, headSha: p.head.sha, labels: p.labels.map((l) => l.name) }));
}

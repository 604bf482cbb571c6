// The red-main issue: the one open issue the gate's own token keeps while the default branch's tree is
// closed. Each run that finds the tree closed updates it and comments; a run that opens the tree closes it.
import type { Logger } from '../common/logger.js';
import { openedBy, tokenLogin } from '../github/identity.js';
import type { GitHubClient } from '../github/client.js';
import type { Repo } from './github.js';
import { redMainMarker } from './tree.js';

export interface IssueRef {
  number: number;
  html_url: string;
}

/**
 * The gate's own open red-main issue: opened with this token (its author is the token's login) and
 * holding the marker. An issue a stranger wrote with the marker is never taken for it.
 */
export async function findRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
): Promise<IssueRef | undefined> {
  const marker = redMainMarker(checkName);
  const login = await tokenLogin(client);
  for await (const page of client.paginate.iterator(client.rest.issues.listForRepo, {
    ...repo,
    state: 'open',
    creator: login,
    per_page: 100,
  })) {
    const hit = page.data.find((i) => !i.pull_request && openedBy(i, login) && (i.body ?? '').includes(marker));
    if (hit) return { number: hit.number, html_url: hit.html_url };
  }
  return undefined;
}

export async function openOrUpdateRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
  issue: { title: string; body: string },
  comment: string,
  logger: Logger,
): Promise<IssueRef> {
  const existing = await findRedMainIssue(client, repo, checkName);
  if (existing) {
    await client.rest.issues.update({ ...repo, issue_number: existing.number, title: issue.title, body: issue.body });
    await client.rest.issues.createComment({ ...repo, issue_number: existing.number, body: comment });
    logger.info(`updated the red-main issue #${existing.number}: ${existing.html_url}`);
    return existing;
  }
  const created = (await client.rest.issues.create({ ...repo, title: issue.title, body: issue.body })).data;
  logger.info(`opened the red-main issue #${created.number}: ${created.html_url}`);
  return { number: created.number, html_url: created.html_url };
}

export async function closeRedMainIssue(
  client: GitHubClient,
  repo: Repo,
  checkName: string,
  comment: string,
  logger: Logger,
): Promise<IssueRef | undefined> {
  const existing = await findRedMainIssue(client, repo, checkName);
  if (!existing) return undefined;
  await client.rest.issues.createComment({ ...repo, issue_number: existing.number, body: comment });
  await client.rest.issues.update({
    ...repo,
    issue_number: existing.number,
    state: 'closed',
    state_reason: 'completed',
  });
  logger.info(`closed the red-main issue #${existing.number}: ${existing.html_url}`);
  return existing;
}

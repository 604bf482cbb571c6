// Who the workflow's token is, so fivestep updates only the issues it opened itself. A marker in an issue
// body is not enough: anyone may open an issue with the same marker, and its author could keep editing
// what fivestep then rewrites: text someone else wrote stays untrusted text, never fivestep's own.
import type { GitHubClient } from './client.js';

/** The author of what the workflow's GITHUB_TOKEN creates. That token may not read `/user` (403). */
export const ACTIONS_BOT = 'github-actions[bot]';

const logins = new WeakMap<GitHubClient, Promise<string>>();

/** The login issues created with this client's token carry: the token's user, or github-actions[bot]. */
export function tokenLogin(client: GitHubClient): Promise<string> {
  let login = logins.get(client);
  if (!login) {
    login = client.rest.users.getAuthenticated().then(
      (res) => res.data.login,
      (err: { status?: number }) => {
        // An installation token (the workflow's GITHUB_TOKEN) is refused here: "Resource not accessible by
        // integration".
        if (err.status === 401 || err.status === 403 || err.status === 404) return ACTIONS_BOT;
        throw err;
      },
    );
    logins.set(client, login);
  }
  return login;
}

/** Whether fivestep opened this issue with this token (its author is the token's login). */
export function openedBy(issue: { user?: { login?: string } | null }, login: string): boolean {
  return issue.user?.login === login;
}

// Whether the workflow run that holds a deploy lock has finished: a lock names its holder by the run URL
// (src/github/context.ts), and a finished run's lock is stale at once: a lost runner's lock is taken over
// without waiting for its heartbeat to age. The answer is advisory: anything but a clear "completed"
// leaves the heartbeat to decide.
import { errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { GitHubClient } from './client.js';

export type RunStatus = 'completed' | 'running' | 'unknown';

export interface RunRef {
  owner: string;
  repo: string;
  runId: number;
}

/** A lookup slower than this answers 'unknown', so a hung API never holds up taking a lock. */
const LOOKUP_TIMEOUT_MS = 10_000;

const OWNER = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const REPO = '[A-Za-z0-9._-]+';
const RUN_PATH = new RegExp(`^/(${OWNER})/(${REPO})/actions/runs/(\\d+)(?:/attempts/\\d+|/job/[^/]+(?:/.*)?)?/?$`);

/**
 * The repository and run id of a run URL on `serverUrl` (this run's server):
 * `SERVER/OWNER/REPO/actions/runs/ID`, optionally followed by `/attempts/N` or `/job/...`.
 * A URL on another server, with a query, fragment or credentials, or of any other page is null.
 */
export function parseRunUrl(url: string, serverUrl: string): RunRef | null {
  let u: URL;
  let server: URL;
  try {
    u = new URL(url);
    server = new URL(serverUrl);
  } catch {
    return null;
  }
  if (u.origin !== server.origin || u.username || u.password || u.search || u.hash) return null;
  // A server with a path prefix (GHES behind a proxy): the run's path must sit under it.
  const prefix = server.pathname.replace(/\/+$/, '');
  if (prefix && !u.pathname.startsWith(`${prefix}/`)) return null;
  const m = RUN_PATH.exec(u.pathname.slice(prefix.length));
  if (!m || m[2] === '.' || m[2] === '..') return null;
  const runId = Number(m[3]);
  if (!Number.isSafeInteger(runId) || runId <= 0) return null;
  return { owner: m[1], repo: m[2], runId };
}

/**
 * A lookup of a lock holder's run: GET /repos/{owner}/{repo}/actions/runs/{run_id} (needs `actions: read`).
 * `status: completed` → 'completed'; any other status → 'running'; a URL not of a run on `serverUrl`,
 * a refused or failed request (403 without `actions: read`, 404, network, timeout) → 'unknown', with one
 * debug line. It never throws. 'completed' is final, so it is cached for the lookup's lifetime; nothing
 * else is.
 */
export function createRunStatusLookup(
  client: GitHubClient,
  serverUrl: string,
  logger: Logger = silentLogger,
): (holderUrl: string) => Promise<RunStatus> {
  const completed = new Set<string>();
  return async (holderUrl) => {
    if (completed.has(holderUrl)) return 'completed';
    const ref = parseRunUrl(holderUrl, serverUrl);
    if (!ref) {
      logger.debug(`lock holder ${holderUrl} is not a workflow run on ${serverUrl}; its run status is unknown`);
      return 'unknown';
    }
    try {
      const { data } = await client.rest.actions.getWorkflowRun({
        owner: ref.owner,
        repo: ref.repo,
        run_id: ref.runId,
        request: { signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS) },
      });
      const status: unknown = (data as { status?: unknown }).status;
      if (status === 'completed') {
        completed.add(holderUrl);
        return 'completed';
      }
      if (typeof status === 'string' && status !== '') return 'running';
      logger.debug(`run ${holderUrl}: the API gave no status; its run status is unknown`);
      return 'unknown';
    } catch (err) {
      // Octokit gives a network failure or a timeout status 500 too; only an HTTP answer has a response.
      const code = (err as { response?: { status?: unknown } } | null)?.response?.status;
      const message = errorMessage(err);
      logger.debug(
        `could not look up run ${holderUrl}: ${typeof code === 'number' ? `HTTP ${code}` : 'no response'} ` +
          `(${message.split('\n')[0]})`,
      );
      return 'unknown';
    }
  };
}

// The workflow run's context, read from the environment the runner sets (pure: env in, object out).
import { readFileSync } from 'node:fs';

export interface RunContext {
  repository: string; // owner/name
  owner: string;
  repo: string;
  sha: string;
  ref: string;
  eventName: string;
  serverUrl: string;
  apiUrl: string;
  runId: string;
  runAttempt: string;
  workflow: string;
  actor: string;
  /** Link to this workflow run (or the repository when run outside Actions). */
  runUrl: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  payload: any;
}

export function readContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  const repository = env.GITHUB_REPOSITORY ?? 'local/local';
  const [owner, repo] = repository.split('/');
  const serverUrl = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const runId = env.GITHUB_RUN_ID ?? '';
  let payload = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8'));
    } catch {
      payload = {};
    }
  }
  return {
    repository,
    owner,
    repo,
    sha: env.GITHUB_SHA ?? '',
    ref: env.GITHUB_REF ?? '',
    eventName: env.GITHUB_EVENT_NAME ?? '',
    serverUrl,
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    runId,
    runAttempt: env.GITHUB_RUN_ATTEMPT ?? '1',
    workflow: env.GITHUB_WORKFLOW ?? '',
    actor: env.GITHUB_ACTOR ?? '',
    runUrl: runId ? `${serverUrl}/${repository}/actions/runs/${runId}` : `${serverUrl}/${repository}`,
    payload,
  };
}

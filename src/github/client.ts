// One Octokit factory for every action; the base URL comes from GITHUB_API_URL (the stand-in in tests).
import { getOctokit } from '@actions/github';

export type GitHubClient = ReturnType<typeof getOctokit>;

export function createClient(token: string, apiUrl: string): GitHubClient {
  return getOctokit(token, { baseUrl: apiUrl });
}

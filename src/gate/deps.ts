// What test-gate runs with: its injected dependencies (settings, context, logger, client) and what a run is
// about (the commit that gets the check run, and how the tree applies to it). Shared by the orchestration
// (gate.ts) and the reporter that posts the result.
import type { Logger } from '../common/logger.js';
import type { GitHubClient } from '../github/client.js';
import type { RunContext } from '../github/context.js';
import type { GateSettings } from './settings.js';

export interface GateDeps {
  settings: GateSettings;
  context: RunContext;
  logger: Logger;
  /** Defaults to a client for `github-token` at the context's API URL; null runs the tests and posts nothing. */
  client?: GitHubClient | null;
  /** The checkout the command runs in; default the current directory. */
  cwd?: string;
  onOutput?: (chunk: string) => void;
  writeSummary?: (markdown: string) => Promise<void>;
  /** How many commits of the default branch to look back for a finished gate result. */
  historyDepth?: number;
}

/** What a run is about: which commit gets the check run, and how the tree applies to it. */
export interface GateTarget {
  event: 'push' | 'pull_request' | 'merge_group' | 'workflow_dispatch';
  headSha: string;
  /** The branch tested (push, dispatch), or the merge queue's temporary branch. */
  branch: string;
  pr?: { number: number; baseRef: string; fork: boolean; labels?: string[] };
  /** merge_group: the branch the queue merges into. */
  queueBase?: string;
  /** Where the check run and statuses link to: the run that ran the tests. */
  detailsUrl: string;
}

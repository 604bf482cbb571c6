// A rollout recorded as a GitHub Deployment, so the environments page shows what runs where.
// Recording is best effort: a refused API call is a warning, never a failed or half-done rollout.
import type { Logger } from '../common/logger.js';
import type { GitHubClient } from './client.js';
import type { RunContext } from './context.js';
import { errorMessage } from '../common/errors.js';
import { GITHUB_LIMITS, clip } from './limits.js';

export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'error' | 'inactive';

export interface DeploymentRecord {
  id: number;
  setState(state: DeploymentState, description: string): Promise<void>;
}

export async function startDeployment(
  client: GitHubClient,
  ctx: RunContext,
  opts: { environment: string; release: string; logger: Logger },
): Promise<DeploymentRecord | undefined> {
  const { logger } = opts;
  try {
    const created = await client.rest.repos.createDeployment({
      owner: ctx.owner,
      repo: ctx.repo,
      ref: ctx.sha || ctx.ref || 'HEAD',
      environment: opts.environment,
      description: `fivestep release ${opts.release}`,
      // The test gate already ran; a Deployment here is a record, not a second gate.
      required_contexts: [],
      auto_merge: false,
      payload: { release: opts.release, run: ctx.runUrl },
    });
    const id = (created.data as { id?: number }).id;
    if (typeof id !== 'number') throw new Error('GitHub did not return a deployment id');
    const record: DeploymentRecord = {
      id,
      async setState(state, description) {
        try {
          await client.rest.repos.createDeploymentStatus({
            owner: ctx.owner,
            repo: ctx.repo,
            deployment_id: id,
            state,
            description: clip(description, GITHUB_LIMITS.statusDescription),
            log_url: ctx.runUrl,
            environment: opts.environment,
          });
        } catch (err) {
          logger.warning(`could not set deployment ${id} to ${state}: ${errorMessage(err)}`);
        }
      },
    };
    await record.setState('in_progress', `rolling out ${opts.release}`);
    logger.info(`Recorded as GitHub deployment ${id} to environment '${opts.environment}'`);
    return record;
  } catch (err) {
    logger.warning(`could not record a GitHub deployment to '${opts.environment}': ${errorMessage(err)}`);
    return undefined;
  }
}

/**
 * Marks the Deployments that ssh-rollout recorded for `releases` as failed, so the environments page
 * stops showing a reverted release as what runs. Best effort, like recording them.
 */
export async function failReleaseDeployments(
  client: GitHubClient,
  ctx: RunContext,
  opts: { releases: string[]; description: string; logger: Logger },
): Promise<number[]> {
  const marked: number[] = [];
  if (opts.releases.length === 0) return marked;
  try {
    const { data } = await client.rest.repos.listDeployments({ owner: ctx.owner, repo: ctx.repo, per_page: 50 });
    for (const d of data) {
      const payload = (typeof d.payload === 'string' ? safeJson(d.payload) : d.payload) as { release?: unknown } | null;
      if (!payload || typeof payload.release !== 'string' || !opts.releases.includes(payload.release)) continue;
      await client.rest.repos.createDeploymentStatus({
        owner: ctx.owner,
        repo: ctx.repo,
        deployment_id: d.id,
        state: 'failure',
        description: clip(opts.description, GITHUB_LIMITS.statusDescription),
        log_url: ctx.runUrl,
      });
      marked.push(d.id);
    }
    if (marked.length)
      opts.logger.info(`Marked GitHub deployment(s) ${marked.join(', ')} of ${opts.releases.join(', ')} as failed`);
  } catch (err) {
    opts.logger.warning(
      `could not mark the deployments of ${opts.releases.join(', ')} as failed: ${errorMessage(err)}`,
    );
  }
  return marked;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

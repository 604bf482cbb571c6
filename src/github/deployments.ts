// A rollout recorded as a GitHub Deployment, so the environments page shows what runs where.
// Recording is best effort: a refused API call is a warning, never a failed or half-done rollout.
import type { Logger } from '../common/logger.js';
import type { GitHubClient } from './client.js';
import type { RunContext } from './context.js';

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
            description: description.slice(0, 140),
            log_url: ctx.runUrl,
            environment: opts.environment,
          });
        } catch (err) {
          logger.warning(`could not set deployment ${id} to ${state}: ${err instanceof Error ? err.message : String(err)}`);
        }
      },
    };
    await record.setState('in_progress', `rolling out ${opts.release}`);
    logger.info(`Recorded as GitHub deployment ${id} to environment '${opts.environment}'`);
    return record;
  } catch (err) {
    logger.warning(`could not record a GitHub deployment to '${opts.environment}': ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

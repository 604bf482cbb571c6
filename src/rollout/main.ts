// ssh-rollout's logic, runner-free: settings → artifact → rollout → report file, outputs and summary.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActionResult } from '../common/action.js';
import { hostId, type InputSource } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { createClient as realCreateClient, type GitHubClient } from '../github/client.js';
import { readContext, type RunContext } from '../github/context.js';
import { startDeployment } from '../github/deployments.js';
import { createRunStatusLookup } from '../github/runs.js';
import { createHealthCheck } from '../release/health.js';
import { createRolloutWatch, type WatchResult } from '../metrics/index.js';
import type { Connector } from '../ssh/types.js';
import { prepareArtifact, urlArtifact, type PreparedArtifact } from '../artifact/prepare.js';
import { checkSharedPathsInArtifact } from '../engine/preflight.js';
import { rollout, type RolloutDeps } from './rollout.js';
import type { RolloutReport } from './record.js';
import { readRolloutSettings, type RolloutSettings } from './settings.js';
import { rolloutOutputs, type RolloutOutputs } from './outputs.js';
import { summaryMarkdown } from './report.js';
import { errorMessage } from '../common/errors.js';

export interface SshRolloutDeps {
  connector: Connector;
  logger: Logger;
  mask: (secret: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  writeSummary?: (markdown: string) => Promise<void>;
  fetch?: typeof fetch;
  now?: () => number;
  createClient?: (token: string, apiUrl: string) => GitHubClient;
  /** Where each wave stands as it goes (the command line's in-place progress line). */
  onWaveProgress?: RolloutDeps['onWaveProgress'];
  /** Receives every bake's metric-watch result (the demo writes it as a metric-watch report for the RCA). */
  onWatchResult?: (result: WatchResult) => void;
}

/** ssh-rollout's outputs, typed for callers (tests, the demo); the runner receives them as strings. */
export type SshRolloutResult = ActionResult & { outputs: RolloutOutputs & { report: string } };

export async function sshRollout(source: InputSource, deps: SshRolloutDeps): Promise<SshRolloutResult> {
  const env = deps.env ?? process.env;
  const { logger } = deps;
  const ctx = readContext(env);
  // Every input, the watch included, is read and checked before any host is touched.
  const settings = readRolloutSettings(source, {
    now: new Date(deps.now?.() ?? Date.now()),
    sha: ctx.sha,
    mask: deps.mask,
    env,
  });
  for (const w of settings.ssh.warnings) logger.warning(w);

  const outDir = join(env.RUNNER_TEMP || tmpdir(), `fivestep-${settings.releaseId}-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  // The artifact's work (a packed directory, an archive unpacked for delta) is removed when the step ends; the report
  // stays.
  const workDir = join(outDir, 'work');
  try {
    return await rolloutWith(settings, workDir, outDir, deps, ctx);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function rolloutWith(
  settings: RolloutSettings,
  workDir: string,
  outDir: string,
  deps: SshRolloutDeps,
  ctx: RunContext,
): Promise<SshRolloutResult> {
  const { logger } = deps;
  const artifact = await prepare(settings, workDir);
  for (const w of artifact.warnings) logger.warning(w);
  if (artifact.deltaOff)
    logger.warning(`delta: off for this artifact (${artifact.deltaOff}): every host gets the whole artifact`);
  if (artifact.tree) checkSharedPathsInArtifact(settings.sharedPaths, artifact.tree);

  const deployment = await recordDeployment(settings, deps, ctx);
  // With the API reachable, a lock held by a run that has completed is stale at once: no run is left to release it.
  const runStatus =
    settings.githubToken && !settings.dryRun
      ? createRunStatusLookup(
          (deps.createClient ?? realCreateClient)(settings.githubToken, ctx.apiUrl),
          ctx.serverUrl,
          logger,
        )
      : undefined;
  let report: RolloutReport;
  try {
    report = await rollout(settings, artifact, {
      connector: deps.connector,
      logger,
      health: createHealthCheck(settings.ssh, deps.fetch ? { fetch: deps.fetch } : {}),
      runUrl: ctx.runUrl,
      signal: deps.signal,
      now: deps.now,
      runStatus,
      onWaveProgress: deps.onWaveProgress,
      watch: settings.watch
        ? createRolloutWatch(settings.watch, {
            logger,
            allHosts: settings.ssh.hosts.map(hostId),
            onResult: deps.onWatchResult,
          })
        : undefined,
    });
  } catch (err) {
    await deployment?.setState('error', `rollout crashed: ${errorMessage(err)}`);
    throw err;
  }

  await deployment?.setState(
    report.result === 'success' ? 'success' : 'failure',
    report.result === 'success'
      ? `${report.release} on ${report.hosts.length} host(s)`
      : `${report.result}: ${report.stopReason}`,
  );

  const reportPath = join(outDir, 'ssh-rollout-report.json');
  writeFileSync(reportPath, JSON.stringify(report, null, 2));
  await deps.writeSummary?.(summaryMarkdown(report));
  const outputs = { ...rolloutOutputs(report), report: reportPath };
  logger.info(`Result: ${report.result}. Report: ${reportPath}`);
  return { outputs, failure: failureOf(report, outputs, logger) };
}

/** A GitHub deployment for `environment`, when it is set and a token can record it. */
async function recordDeployment(settings: RolloutSettings, deps: SshRolloutDeps, ctx: RunContext) {
  const { logger } = deps;
  if (settings.environment && !settings.githubToken)
    logger.warning(`environment '${settings.environment}' is set but github-token is empty: no deployment is recorded`);
  if (!settings.environment || settings.dryRun || !settings.githubToken) return undefined;
  const client = (deps.createClient ?? realCreateClient)(settings.githubToken, ctx.apiUrl);
  return startDeployment(client, ctx, { environment: settings.environment, release: settings.releaseId, logger });
}

/** Why the step fails ('' when it does not); hosts that failed within max-failures are a warning. */
function failureOf(report: RolloutReport, outputs: RolloutOutputs, logger: Logger): string | undefined {
  if (report.dryRun && report.result !== 'success')
    return `dry run of ${report.release}: ${report.stopReason}; nothing was changed`;
  if (report.result === 'reverted') return `rollout of ${report.release} stopped and reverted: ${report.stopReason}`;
  if (report.result === 'failed') {
    const stuck = report.hosts.filter((h) => h.outcome === 'revert-failed').map((h) => h.host);
    return `rollout of ${report.release} failed and could not put back: ${stuck.join(', ')} (${report.stopReason})`;
  }
  if (outputs['failed-hosts'].length > 0) {
    logger.warning(
      `${outputs['failed-hosts'].length} host(s) failed within max-failures: ` +
        `${outputs['failed-hosts'].map((f) => f.host).join(', ')}`,
    );
  }
  return undefined;
}

/** The artifact as the rollout stages it: a URL hosts download, or a file to upload with (delta) its manifest. */
async function prepare(settings: RolloutSettings, workDir: string): Promise<PreparedArtifact> {
  if (settings.artifactUrl)
    return urlArtifact(settings.artifactUrl.href, settings.artifactUrl.redacted, settings.artifactUrl.sha256);
  return prepareArtifact({
    input: 'artifact',
    path: settings.artifact,
    exclude: settings.exclude,
    delta: settings.delta,
    workDir,
  });
}

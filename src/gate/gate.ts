// test-gate's orchestration: run the tests, report them, and keep the tree (the default branch's state)
// visible on every pull request and merge-queue entry. Three modes share one reporter (reporter.ts): `run`
// tests and posts, `save` tests and writes the result (a fork's pull request, read-only token), `publish`
// posts a saved result from a `workflow_run` workflow. Logger, client and context are injected: no runner
// needed.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionResult } from '../common/action.js';
import { createClient, type GitHubClient } from '../github/client.js';
import type { RunContext } from '../github/context.js';
import type { GateDeps, GateTarget } from './deps.js';
import type { Repo } from './github.js';
import { runOutputs, SKIPPED, testFailureMessage } from './outputs.js';
import { Reporter } from './reporter.js';
import { runTests, type TestRun } from './run.js';
import { RESULT_FILE, restoreRun, resultFromZip, savedResult, SavedResultError } from './saved.js';
import { downloadRunArtifact, findPullForRun, type PullRef, type TriggeringRun } from './triggering-run.js';

export type { GateDeps, GateTarget } from './deps.js';
export { queueTreeStatus } from './tree-reporter.js';

/** Pure: the target of a push, pull_request, merge_group or workflow_dispatch run; undefined for others. */
export function targetOf(ctx: RunContext): GateTarget | undefined {
  const branch = ctx.ref.replace(/^refs\/heads\//, '');
  const base = { branch, detailsUrl: ctx.runUrl };
  switch (ctx.eventName) {
    case 'pull_request': {
      const pr = ctx.payload?.pull_request;
      if (!pr) throw new Error('pull_request event without a pull_request payload (GITHUB_EVENT_PATH)');
      const headRepo: string | undefined = pr.head?.repo?.full_name;
      const fork = !!headRepo && headRepo.toLowerCase() !== ctx.repository.toLowerCase();
      // On pull_request, GITHUB_SHA is a merge commit nobody sees; checks and statuses belong on the head.
      const pullRequest = { number: pr.number, baseRef: pr.base.ref, fork };
      return { ...base, event: 'pull_request', headSha: pr.head.sha, pr: pullRequest };
    }
    case 'merge_group': {
      const group = ctx.payload?.merge_group;
      if (!group) throw new Error('merge_group event without a merge_group payload (GITHUB_EVENT_PATH)');
      return {
        ...base,
        event: 'merge_group',
        headSha: group.head_sha,
        branch: String(group.head_ref).replace(/^refs\/heads\//, ''),
        queueBase: String(group.base_ref).replace(/^refs\/heads\//, ''),
      };
    }
    case 'push':
    case 'workflow_dispatch':
      return { ...base, event: ctx.eventName, headSha: ctx.sha };
    default:
      return undefined;
  }
}

export async function runGate(deps: GateDeps): Promise<ActionResult> {
  const { settings: s, context: ctx, logger } = deps;
  if (s.mode === 'publish') return publishSaved(deps);
  const target = targetOf(ctx);
  if (!target) {
    const publishHint = " To post the saved result of a pull request's run here, set mode: publish.";
    logger.warning(
      `test-gate skipped: it runs on push, pull_request, merge_group and workflow_dispatch, and this run is ` +
        `'${ctx.eventName || 'unknown'}'. ` +
        'Not run: the test command, the check run, the commit status, the tree status and the red-main issue.' +
        (ctx.eventName === 'workflow_run' ? publishHint : ''),
    );
    return { outputs: SKIPPED };
  }
  const run = (): Promise<TestRun> =>
    runTests({
      command: s.command,
      retries: s.retries,
      cwd: deps.cwd ?? process.cwd(),
      junit: s.junit,
      logger,
      onOutput: deps.onOutput,
      onAttempt: s.mode === 'save' ? saveReports(deps) : undefined,
    });
  if (s.mode === 'save') return saveRun(deps, target, await run());

  const client = clientOf(deps);
  if (!client) logger.warning('no github-token: the tests run, but no check run, status or tree status is posted');
  if (target.pr?.fork) {
    logger.info(
      `#${target.pr.number} comes from a fork: its token is read-only, so the check run and the tree status ` +
        'cannot be posted from here. Use mode save here and mode publish in a workflow_run workflow ' +
        '(README: pull requests from forks).',
    );
  }
  const reporter = new Reporter(deps, client, target);
  const checkRunId = await reporter.start();
  return reporter.completing(async () => reporter.finish(await run(), checkRunId));
}

function clientOf(deps: GateDeps): GitHubClient | null {
  if (deps.client !== undefined) return deps.client;
  return deps.settings.githubToken ? createClient(deps.settings.githubToken, deps.context.apiUrl) : null;
}

// ---- mode save: the pull request's half ------------------------------------------------------------------

/** Copies each attempt's reports into the results directory before the next attempt overwrites them. */
function saveReports(deps: GateDeps): (attempt: { attempt: number; reportFiles: string[] }) => void {
  const dir = deps.settings.resultsPath;
  rmSync(dir, { recursive: true, force: true });
  return (a) => {
    for (const f of a.reportFiles) {
      const to = join(dir, 'reports', `attempt-${a.attempt}`, f);
      mkdirSync(join(to, '..'), { recursive: true });
      cpSync(join(deps.cwd ?? process.cwd(), f), to);
    }
  };
}

function saveRun(deps: GateDeps, target: GateTarget, run: TestRun): ActionResult {
  const { settings: s, logger } = deps;
  mkdirSync(s.resultsPath, { recursive: true });
  const saved = savedResult(run, { headSha: target.headSha, pullRequest: target.pr?.number, command: s.command });
  writeFileSync(join(s.resultsPath, RESULT_FILE), `${JSON.stringify(saved)}\n`);
  logger.info(
    `saved the result for mode publish in ${s.resultsPath}: upload it with actions/upload-artifact ` +
      `(if: always()) as '${s.artifactName}'`,
  );
  const outputs = { ...runOutputs(run, undefined), 'results-path': s.resultsPath };
  return { outputs, failure: run.passed ? undefined : testFailureMessage(run) };
}

// ---- mode publish: the workflow_run half -----------------------------------------------------------------

/** The triggering run from a `workflow_run` payload; everything that says where to post comes from here. */
function triggeringRun(payload: RunContext['payload']): TriggeringRun {
  const w = payload?.workflow_run;
  if (!w) {
    throw new Error(
      'mode publish runs on the workflow_run event: the payload has no workflow_run ' +
        "(add 'on: workflow_run: workflows: [<the tests workflow>], types: [completed]')",
    );
  }
  type PullRequest = { number: number; head: { sha: string }; base: { ref: string } };
  const pullRef = (p: PullRequest) => ({ number: p.number, headSha: p.head.sha, baseRef: p.base.ref });
  return {
    id: Number(w.id),
    event: String(w.event ?? ''),
    conclusion: w.conclusion ?? null,
    headSha: String(w.head_sha),
    headBranch: String(w.head_branch ?? ''),
    headRepository: String(w.head_repository?.full_name ?? payload.repository?.full_name ?? ''),
    htmlUrl: w.html_url,
    pullRequests: (w.pull_requests ?? []).map(pullRef),
  };
}

async function publishSaved(deps: GateDeps): Promise<ActionResult> {
  const { context: ctx, logger } = deps;
  if (ctx.eventName !== 'workflow_run') {
    throw new Error(
      `mode publish runs on the workflow_run event, and this run is '${ctx.eventName || 'unknown'}': ` +
        'use mode run (or save) in the workflow that runs the tests',
    );
  }
  const trigger = triggeringRun(ctx.payload);
  if (trigger.event !== 'pull_request') {
    logger.warning(
      `test-gate publish skipped: run ${trigger.id} ran on '${trigger.event}', not pull_request ` +
        '(a push posts its own result in mode run)',
    );
    return { outputs: SKIPPED };
  }
  if (trigger.conclusion === 'cancelled' || trigger.conclusion === 'skipped') {
    logger.warning(
      `test-gate publish skipped: run ${trigger.id} was ${trigger.conclusion}; ` +
        'a newer run of the pull request posts its result',
    );
    return { outputs: SKIPPED };
  }
  const client = clientOf(deps);
  if (!client) {
    throw new Error(
      'mode publish needs github-token (with checks: write, statuses: write, pull-requests: read, actions: read)',
    );
  }
  const repo = { owner: ctx.owner, repo: ctx.repo };
  const pr = await findPullForRun(client, repo, trigger);
  if (!pr) {
    logger.warning(
      `no open pull request has ${trigger.headSha.slice(0, 7)} as its head: ` +
        'posting the check run and tree status on the commit only',
    );
  }
  const fork = trigger.headRepository.toLowerCase() !== ctx.repository.toLowerCase();
  const target: GateTarget = {
    event: 'pull_request',
    headSha: trigger.headSha,
    branch: trigger.headBranch,
    pr: pr ? { number: pr.number, baseRef: pr.baseRef, fork, labels: pr.labels } : undefined,
    detailsUrl: trigger.htmlUrl ?? ctx.runUrl,
  };
  // Publishing is this step's whole job: a write it cannot make fails it.
  const reporter = new Reporter(deps, client, target, { writesMustSucceed: true });
  return reporter.completing(() => publishResult(deps, { client, repo, reporter, trigger, pr }));
}

/** The artifact's result posted by the reporter (inside {@link Reporter.completing}: a throw fails the check run). */
async function publishResult(
  deps: GateDeps,
  o: { client: GitHubClient; repo: Repo; reporter: Reporter; trigger: TriggeringRun; pr?: PullRef },
): Promise<ActionResult> {
  const { client, repo, reporter, trigger, pr } = o;
  const on = `${trigger.headSha.slice(0, 7)}${pr ? ` (#${pr.number})` : ''}`;
  deps.logger.info(`publishing the saved result of run ${trigger.id} (${trigger.conclusion ?? 'unknown'}) on ${on}`);
  let run: TestRun;
  try {
    run = await savedRun(deps, client, repo, trigger);
  } catch (err) {
    if (!(err instanceof SavedResultError)) throw err;
    // No result is a red result: the required check must not stay missing, nor turn green.
    await reporter.noResult(`no test result: ${err.message}`);
    return { outputs: SKIPPED, failure: err.message };
  }
  return reporter.finish(run, undefined, { command: `(run ${trigger.id})` });
}

/** The test run saved by the triggering run's mode save; a SavedResultError when it is missing or not its. */
async function savedRun(deps: GateDeps, client: GitHubClient, repo: Repo, trigger: TriggeringRun): Promise<TestRun> {
  const { artifactName } = deps.settings;
  const download = await downloadRunArtifact(client, repo, trigger.id, artifactName);
  if ('missing' in download) {
    throw new SavedResultError(
      `${download.missing}: the tests workflow must run test-gate with mode: save and upload its results-path ` +
        `with actions/upload-artifact (if: always()), named '${artifactName}'`,
    );
  }
  const restored = restoreRun(resultFromZip(download.zip));
  if (restored.saved.headSha !== trigger.headSha) {
    const saved = restored.saved.headSha.slice(0, 7);
    const tested = trigger.headSha.slice(0, 7);
    throw new SavedResultError(`the saved result is for ${saved}, but run ${trigger.id} tested ${tested}`);
  }
  return restored.run;
}

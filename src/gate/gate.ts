// test-gate's orchestration: run the tests, report them, and keep the tree (the default branch's state)
// visible on every pull request and merge-queue entry. Three modes share one reporter: `run` tests and
// posts, `save` tests and writes the result (a fork's pull request, read-only token), `publish` posts a
// saved result from a `workflow_run` workflow. Logger, client and context are injected: no runner needed.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionResult } from '../common/action.js';
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import { mdText } from '../common/markdown.js';
import { oneLine } from '../common/text.js';
import { createClient, type GitHubClient } from '../github/client.js';
import { GITHUB_LIMITS, clip } from '../github/limits.js';
import type { RunContext } from '../github/context.js';
import * as gh from './github.js';
import { caseId } from './junit.js';
import { annotations, conclusion, failingCases, summary, title, type GateReport } from './report.js';
import { runTests, type TestRun } from './run.js';
import { RESULT_FILE, restoreRun, resultFromZip, savedResult, SavedResultError } from './saved.js';
import type { GateSettings } from './settings.js';
import { greenComment, redMainIssue, stillRedComment, treeFromHistory, treeStatus, type CommitResult, type FailingTest, type IssueContext, type TreeState } from './tree.js';

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

/** Pure: the target of a push, pull_request, merge_group or workflow_dispatch run; undefined for others. */
export function targetOf(ctx: RunContext): GateTarget | undefined {
  const branch = ctx.ref.replace(/^refs\/heads\//, '');
  const base = { branch, detailsUrl: ctx.runUrl };
  switch (ctx.eventName) {
    case 'pull_request': {
      const pr = ctx.payload?.pull_request;
      if (!pr) throw new Error('pull_request event without a pull_request payload (GITHUB_EVENT_PATH)');
      const headRepo: string | undefined = pr.head?.repo?.full_name;
      // On pull_request, GITHUB_SHA is a merge commit nobody sees; checks and statuses belong on the head.
      return { ...base, event: 'pull_request', headSha: pr.head.sha, pr: { number: pr.number, baseRef: pr.base.ref, fork: !!headRepo && headRepo.toLowerCase() !== ctx.repository.toLowerCase() } };
    }
    case 'merge_group': {
      const group = ctx.payload?.merge_group;
      if (!group) throw new Error('merge_group event without a merge_group payload (GITHUB_EVENT_PATH)');
      return { ...base, event: 'merge_group', headSha: group.head_sha, branch: String(group.head_ref).replace(/^refs\/heads\//, ''), queueBase: String(group.base_ref).replace(/^refs\/heads\//, '') };
    }
    case 'push':
    case 'workflow_dispatch':
      return { ...base, event: ctx.eventName, headSha: ctx.sha };
    default:
      return undefined;
  }
}

const SKIPPED = { result: 'skipped', tests: 0, failures: 0, flaky: 0, duration: 0, tree: '', 'results-path': '' };

export async function runGate(deps: GateDeps): Promise<ActionResult> {
  const { settings: s, context: ctx, logger } = deps;
  if (s.mode === 'publish') return publishSaved(deps);
  const target = targetOf(ctx);
  if (!target) {
    logger.warning(
      `test-gate skipped: it runs on push, pull_request, merge_group and workflow_dispatch, and this run is '${ctx.eventName || 'unknown'}'. ` +
        'Not run: the test command, the check run, the commit status, the tree status and the red-main issue.' +
        (ctx.eventName === 'workflow_run' ? ' To post the saved result of a pull request\'s run here, set mode: publish.' : ''),
    );
    return { outputs: SKIPPED };
  }
  const run = (): Promise<TestRun> =>
    runTests({ command: s.command, retries: s.retries, cwd: deps.cwd ?? process.cwd(), junit: s.junit, logger, onOutput: deps.onOutput, onAttempt: s.mode === 'save' ? saveReports(deps) : undefined });
  if (s.mode === 'save') return saveRun(deps, target, await run());

  const client = clientOf(deps);
  if (!client) logger.warning('no github-token: the tests run, but no check run, status or tree status is posted');
  if (target.pr?.fork) {
    logger.info(`#${target.pr.number} comes from a fork: its token is read-only, so the check run and the tree status cannot be posted from here. Use mode save here and mode publish in a workflow_run workflow (README: pull requests from forks).`);
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
  logger.info(`saved the result for mode publish in ${s.resultsPath}: upload it with actions/upload-artifact (if: always()) as '${s.artifactName}'`);
  const outputs = { ...runOutputs(run, undefined), 'results-path': s.resultsPath };
  return { outputs, failure: run.passed ? undefined : testFailureMessage(run) };
}

// ---- mode publish: the workflow_run half -----------------------------------------------------------------

/** The triggering run from a `workflow_run` payload; everything that says where to post comes from here. */
function triggeringRun(payload: RunContext['payload']): gh.TriggeringRun {
  const w = payload?.workflow_run;
  if (!w) throw new Error("mode publish runs on the workflow_run event: the payload has no workflow_run (add 'on: workflow_run: workflows: [<the tests workflow>], types: [completed]')");
  return {
    id: Number(w.id),
    event: String(w.event ?? ''),
    conclusion: w.conclusion ?? null,
    headSha: String(w.head_sha),
    headBranch: String(w.head_branch ?? ''),
    headRepository: String(w.head_repository?.full_name ?? payload.repository?.full_name ?? ''),
    htmlUrl: w.html_url,
    pullRequests: (w.pull_requests ?? []).map((p: { number: number; head: { sha: string }; base: { ref: string } }) => ({ number: p.number, headSha: p.head.sha, baseRef: p.base.ref })),
  };
}

async function publishSaved(deps: GateDeps): Promise<ActionResult> {
  const { context: ctx, logger } = deps;
  if (ctx.eventName !== 'workflow_run') {
    throw new Error(`mode publish runs on the workflow_run event, and this run is '${ctx.eventName || 'unknown'}': use mode run (or save) in the workflow that runs the tests`);
  }
  const trigger = triggeringRun(ctx.payload);
  if (trigger.event !== 'pull_request') {
    logger.warning(`test-gate publish skipped: run ${trigger.id} ran on '${trigger.event}', not pull_request (a push posts its own result in mode run)`);
    return { outputs: SKIPPED };
  }
  if (trigger.conclusion === 'cancelled' || trigger.conclusion === 'skipped') {
    logger.warning(`test-gate publish skipped: run ${trigger.id} was ${trigger.conclusion}; a newer run of the pull request posts its result`);
    return { outputs: SKIPPED };
  }
  const client = clientOf(deps);
  if (!client) throw new Error("mode publish needs github-token (with checks: write, statuses: write, pull-requests: read, actions: read)");
  const repo = { owner: ctx.owner, repo: ctx.repo };
  const pr = await gh.findPullForRun(client, repo, trigger);
  if (!pr) logger.warning(`no open pull request has ${trigger.headSha.slice(0, 7)} as its head: posting the check run and tree status on the commit only`);
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
async function publishResult(deps: GateDeps, o: { client: GitHubClient; repo: gh.Repo; reporter: Reporter; trigger: gh.TriggeringRun; pr?: gh.PullRef }): Promise<ActionResult> {
  const { settings: s, logger } = deps;
  const { client, repo, reporter, trigger, pr } = o;
  logger.info(`publishing the saved result of run ${trigger.id} (${trigger.conclusion ?? 'unknown'}) on ${trigger.headSha.slice(0, 7)}${pr ? ` (#${pr.number})` : ''}`);
  let run: TestRun;
  try {
    const download = await gh.downloadRunArtifact(client, repo, trigger.id, s.artifactName);
    if ('missing' in download) throw new SavedResultError(`${download.missing}: the tests workflow must run test-gate with mode: save and upload its results-path with actions/upload-artifact (if: always()), named '${s.artifactName}'`);
    const restored = restoreRun(resultFromZip(download.zip));
    if (restored.saved.headSha !== trigger.headSha) throw new SavedResultError(`the saved result is for ${restored.saved.headSha.slice(0, 7)}, but run ${trigger.id} tested ${trigger.headSha.slice(0, 7)}`);
    run = restored.run;
  } catch (err) {
    if (!(err instanceof SavedResultError)) throw err;
    // No result is a red result: the required check must not stay missing, nor turn green.
    await reporter.noResult(`no test result: ${err.message}`);
    return { outputs: SKIPPED, failure: err.message };
  }
  return reporter.finish(run, undefined, { command: `(run ${trigger.id})` });
}

// ---- the reporter: check run, statuses, tree, red-main issue, summary --------------------------------------

class Reporter {
  private readonly repo: gh.Repo;
  private readonly warnings: string[] = [];
  /** The check run created in_progress, and whether it (or the one posted complete) is completed. */
  private checkRunId?: number;
  private completed = false;
  /** The pending commit status was set, and not yet replaced by the result. */
  private pendingStatus = false;
  private readonly onCompleted = (): void => void (this.completed = true);

  constructor(
    private readonly deps: GateDeps,
    private readonly client: GitHubClient | null,
    private readonly target: GateTarget,
    private readonly o: { writesMustSucceed?: boolean } = {},
  ) {
    this.repo = { owner: deps.context.owner, repo: deps.context.repo };
  }

  /** Writes must not hide the test result: a refused write is a warning (in mode publish, a failure). */
  private async tryWrite<T>(what: string, fn: (client: GitHubClient) => Promise<T>): Promise<T | undefined> {
    if (!this.client) return undefined;
    try {
      return await fn(this.client);
    } catch (err) {
      const msg = `could not ${what}: ${gh.describeApiError(err, this.o.writesMustSucceed ? gh.PERMISSION_HINTS.publish : gh.PERMISSION_HINTS.run)}`;
      this.warnings.push(msg);
      this.deps.logger.warning(msg);
      return undefined;
    }
  }

  private get settings(): GateSettings {
    return this.deps.settings;
  }

  /** The in-progress check run (and pending status) while the tests run. */
  async start(): Promise<number | undefined> {
    const { headSha, detailsUrl } = this.target;
    const id = await this.tryWrite('create the check run', (c) => gh.startCheckRun(c, this.repo, { name: this.settings.checkName, headSha, detailsUrl }));
    this.checkRunId = id;
    if (this.hasCommitStatus()) {
      this.pendingStatus = true;
      await this.tryWrite('set the pending commit status', (c) => gh.setStatus(c, this.repo, headSha, this.settings.checkName, { state: 'pending', description: 'running tests', targetUrl: detailsUrl }));
    }
    return id;
  }

  /** Pushes, dispatches and merge-queue commits get a commit status too (a PR's head has its check run). */
  private hasCommitStatus(): boolean {
    return this.target.event !== 'pull_request';
  }

  /** A failing check run (and tree status) when there is no result to post: missing or unreadable. */
  async noResult(reason: string): Promise<void> {
    const s = this.settings;
    const { headSha, detailsUrl } = this.target;
    this.deps.logger.error(reason);
    await this.tryWrite('complete the check run', (c) =>
      gh.finishCheckRun(c, this.repo, undefined, { name: s.checkName, headSha, detailsUrl, conclusion: 'failure', title: 'no test result', summary: `## ❌ ${s.checkName}: no test result\n\n${mdText(reason, 4000)}\n`, annotations: [], onCompleted: this.onCompleted }),
    );
  }

  /**
   * Runs the rest of the gate; whatever throws, the check run it created in_progress (in mode publish, the
   * one it has not posted yet) is completed as failed, saying why, before the error goes on.
   */
  async completing(rest: () => Promise<ActionResult>): Promise<ActionResult> {
    try {
      return await rest();
    } catch (err) {
      await this.failed(errorMessage(err));
      throw err;
    }
  }

  /** Completes the check run (and a pending commit status) as failed with `reason`, unless it was completed; never throws. */
  private async failed(reason: string): Promise<void> {
    if (!this.client) return;
    if (this.pendingStatus) {
      this.pendingStatus = false;
      const { headSha, detailsUrl } = this.target;
      await this.tryWrite('set the commit status', (c) => gh.setStatus(c, this.repo, headSha, this.settings.checkName, { state: 'failure', description: `the gate failed: ${oneLine(reason, 120)}`, targetUrl: detailsUrl }));
    }
    if (this.completed) return;
    // In mode run a check run that could not even be created is not posted now either.
    if (this.checkRunId === undefined && !this.o.writesMustSucceed) return;
    this.completed = true;
    const { headSha, detailsUrl } = this.target;
    try {
      await gh.failCheckRun(this.client, this.repo, this.checkRunId, { name: this.settings.checkName, headSha, detailsUrl, reason });
      this.deps.logger.info(`completed the check run as failed: ${reason}`);
    } catch (err) {
      this.deps.logger.warning(`could not complete the check run as failed: ${gh.describeApiError(err, this.o.writesMustSucceed ? gh.PERMISSION_HINTS.publish : gh.PERMISSION_HINTS.run)}`);
    }
  }

  async finish(run: TestRun, checkRunId: number | undefined, o: { command?: string } = {}): Promise<ActionResult> {
    const { settings: s, logger } = this.deps;
    const ctx = this.deps.context;
    const { headSha, pr } = this.target;
    const client = this.client;
    if (run.flaky) {
      logger.warning(
        run.flakyTests.length > 0
          ? `flaky: ${run.flakyTests.length} test(s) failed, then passed on a retry: ${run.flakyTests.join(', ')}`
          : `flaky: the command failed, then passed on attempt ${run.attempts.length}`,
      );
    }
    const result = run.passed ? 'success' : 'failure';
    const mainBranch = client ? await gh.defaultBranch(client, this.repo, ctx.payload ?? {}) : this.target.branch;
    const onDefault = (this.target.event === 'push' || this.target.event === 'workflow_dispatch') && this.target.branch === mainBranch;
    const { bug, labels } = await this.bugRule();
    const { tree, previous, overridden, treeBranch } = await this.tree({ result, mainBranch, onDefault, labels });

    const report: GateReport = {
      checkName: s.checkName,
      command: o.command ?? s.command,
      run,
      tree: tree ? { state: tree, branch: treeBranch, overridden, queueEntry: !!this.target.queueBase } : undefined,
      bugRule: bug?.applies ? bug : undefined,
    };
    const text = summary(report);
    const anns = annotations(run);
    const unlocated = failingCases(run).filter((c) => !c.file).length;
    if (unlocated > 0) logger.info(`${unlocated} failing test(s) have no file in their report: listed in the summary, not annotated`);
    const { detailsUrl } = this.target;
    const warned = this.warnings.length;
    await this.tryWrite('complete the check run', (c) =>
      gh.finishCheckRun(c, this.repo, checkRunId, { name: s.checkName, headSha, detailsUrl, conclusion: conclusion(report), title: title(report), summary: text, annotations: anns, onCompleted: this.onCompleted }),
    );
    if (this.hasCommitStatus()) {
      this.pendingStatus = false;
      await this.tryWrite('set the commit status', (c) => gh.setStatus(c, this.repo, headSha, s.checkName, { state: result, description: clip(title(report), GITHUB_LIMITS.statusDescription), targetUrl: detailsUrl }));
    }
    // The completing request was refused (annotations GitHub would not take, a server error): the check
    // run must not stay in_progress.
    if (!this.completed) await this.failed(this.warnings[warned] ?? 'could not complete the check run');

    const commitUrl = (sha: string): string => `${ctx.serverUrl}/${ctx.repository}/commit/${sha}`;
    if (client && tree && onDefault && previous) {
      await this.afterDefaultBranchRun({ client, tree, previous, run, commitUrl, mainBranch });
    } else if (client && tree && this.target.queueBase) {
      // A queue entry is tested on top of the branch: its own result says whether merging it leaves the branch
      // green, so a red tree must not hold back the entry that is the fix. The queue needs the status reported.
      const status = queueTreeStatus(tree, { branch: treeBranch, passed: run.passed, commitUrl });
      logger.info(`tree status on the merge queue entry: ${status.state}: ${status.description}`);
      await this.tryWrite('set the tree status', (c) => gh.setStatus(c, this.repo, headSha, `${s.checkName}/tree`, status));
    } else if (client && tree && this.target.event === 'pull_request') {
      const status = treeStatus(tree, { branch: treeBranch, overridden, overrideLabel: s.treeOverrideLabel, commitUrl });
      logger.info(`tree status on ${pr ? `#${pr.number}` : headSha.slice(0, 7)}: ${status.state}: ${status.description}`);
      await this.tryWrite('set the tree status', (c) => gh.setStatus(c, this.repo, headSha, `${s.checkName}/tree`, status));
    }

    if (this.deps.writeSummary) {
      try {
        await this.deps.writeSummary(text);
      } catch (err) {
        logger.warning(`could not write the job summary: ${errorMessage(err)}`);
      }
    }

    const failures: string[] = [];
    if (this.o.writesMustSucceed) {
      // The check run carries the tests' verdict; this step fails only when it could not publish it.
      if (this.warnings.length > 0) failures.push(`could not publish everything: ${this.warnings.join('; ')}`);
    } else {
      if (!run.passed) failures.push(testFailureMessage(run));
      if (bug && !bug.ok) failures.push(bug.message);
    }
    return { outputs: runOutputs(run, tree), failure: failures.length > 0 ? failures.join('\n') : undefined };
  }

  /** A test for every bug: the pull request's labels, and its changed files when it is labelled a bug fix. */
  private async bugRule(): Promise<{ bug?: gh.BugRuleResult; labels: string[] }> {
    const { pr } = this.target;
    if (!pr || !this.client) return { labels: pr?.labels ?? [] };
    const labels = pr.labels ?? (await gh.labelsOf(this.client, this.repo, pr.number));
    if (!this.settings.requireTestForBug) return { labels };
    const labelled = gh.bugRule(labels, [], this.settings);
    const bug = labelled.applies ? gh.bugRule(labels, await gh.changedFiles(this.client, this.repo, pr.number), this.settings) : labelled;
    this.deps.logger.info(`bug-needs-test: ${bug.message}`);
    return { bug, labels };
  }

  /**
   * The tree: on the default branch this run's result is its new state (and `previous` the one before); on a
   * pull request or a queue entry, the state of the branch it merges into.
   */
  private async tree(o: { result: 'success' | 'failure'; mainBranch: string; onDefault: boolean; labels: string[] }): Promise<{ tree?: TreeState; previous?: TreeState; overridden: boolean; treeBranch: string }> {
    const s = this.settings;
    const { headSha, pr, queueBase } = this.target;
    const depth = this.deps.historyDepth ?? 30;
    if (!this.client) return { overridden: false, treeBranch: o.mainBranch };
    if (o.onDefault) {
      const history = await gh.branchHistory(this.client, this.repo, headSha, s.checkName, { depth, skipResultOf: headSha });
      const parents = history.filter((c) => c.sha !== headSha);
      const self: CommitResult = { ...(history.find((c) => c.sha === headSha) ?? { sha: headSha }), result: o.result, url: this.target.detailsUrl };
      return { tree: treeFromHistory([self, ...parents]), previous: treeFromHistory(parents), overridden: false, treeBranch: o.mainBranch };
    }
    if (!s.tree || (this.target.event !== 'pull_request' && !queueBase)) return { overridden: false, treeBranch: o.mainBranch };
    const treeBranch = pr?.baseRef ?? queueBase ?? o.mainBranch;
    const tree = treeFromHistory(await gh.branchHistory(this.client, this.repo, treeBranch, s.checkName, { depth }));
    const overridden = tree.state === 'closed' && o.labels.some((l) => l.toLowerCase() === s.treeOverrideLabel.toLowerCase());
    return { tree, overridden, treeBranch };
  }

  private async afterDefaultBranchRun(o: { client: GitHubClient; tree: TreeState; previous: TreeState; run: TestRun; commitUrl: (sha: string) => string; mainBranch: string }): Promise<void> {
    const { client, tree, previous } = o;
    const s = this.settings;
    const { logger, context: ctx } = this.deps;
    const issueCtx: IssueContext = { checkName: s.checkName, branch: o.mainBranch, repository: ctx.repository, serverUrl: ctx.serverUrl, runUrl: this.target.detailsUrl, overrideLabel: s.treeOverrideLabel };
    const turned = tree.state !== previous.state;
    logger.info(`tree: ${tree.state}${turned ? ` (was ${previous.state})` : ''}`);
    const current: CommitResult = tree.at ?? { sha: this.target.headSha };
    let pullsCache: gh.OpenPull[] | undefined;
    const pulls = async (): Promise<gh.OpenPull[]> => (pullsCache ??= s.tree ? await gh.openPulls(client, this.repo, o.mainBranch) : []);
    if (tree.state === 'closed') {
      const failing: FailingTest[] = failingCases(o.run).map((c) => ({ id: caseId(c), file: c.file, line: c.line, message: c.message }));
      const issue = redMainIssue(tree, current, failing, issueCtx);
      await this.tryWrite('open or update the red-main issue', (c) => gh.openOrUpdateRedMainIssue(c, this.repo, s.checkName, issue, stillRedComment(current, failing, issueCtx), logger));
    } else if (turned || !previous.known) {
      // The pull requests are counted first so the closing comment can say how many were let through again.
      await this.tryWrite('close the red-main issue', async (c) => gh.closeRedMainIssue(c, this.repo, s.checkName, greenComment(current, issueCtx, turned ? (await pulls()).length : 0), logger));
    }
    // Only a change of state touches the open pull requests: when the tree closes they turn red (unless they
    // carry the override label), when it opens they turn green, without anyone re-running anything.
    if (!s.tree || !turned) return;
    const open = (await this.tryWrite('list open pull requests', pulls)) ?? [];
    for (const p of open) {
      const overridden = tree.state === 'closed' && p.labels.some((l) => l.toLowerCase() === s.treeOverrideLabel.toLowerCase());
      const status = treeStatus(tree, { branch: o.mainBranch, overridden, overrideLabel: s.treeOverrideLabel, commitUrl: o.commitUrl });
      await this.tryWrite(`set the tree status on #${p.number}`, (c) => gh.setStatus(c, this.repo, p.headSha, `${s.checkName}/tree`, status));
    }
    logger.info(`tree status set to ${tree.state === 'open' ? 'success' : 'failure'} on ${open.length} open pull request(s)`);
  }
}

/** Pure: the `<check-name>/tree` status on a merge-queue entry: the entry's own result on top of the branch. */
export function queueTreeStatus(tree: TreeState, o: { branch: string; passed: boolean; commitUrl: (sha: string) => string }): { state: 'success' | 'failure'; description: string; targetUrl?: string } {
  const at = tree.since ?? tree.at;
  const targetUrl = at ? (at.url ?? o.commitUrl(at.sha)) : undefined;
  if (!o.passed) return { state: 'failure', description: `merge queue: red on top of ${o.branch}, so it leaves the queue`, targetUrl };
  const description = tree.state === 'closed' ? `merge queue: green on top of ${o.branch}, which is red: this entry is the fix` : `merge queue: green on top of ${o.branch}`;
  return { state: 'success', description, targetUrl };
}

function runOutputs(run: TestRun, tree: TreeState | undefined) {
  const rep = run.final.report;
  return {
    result: run.passed ? 'passed' : 'failed',
    tests: rep?.tests ?? 0,
    failures: rep ? rep.failures + rep.errors : run.passed ? 0 : 1,
    flaky: run.flaky ? Math.max(1, run.flakyTests.length) : 0,
    duration: Math.round(run.durationMs / 100) / 10,
    tree: tree?.state ?? '',
    'results-path': '',
  };
}

function testFailureMessage(run: TestRun): string {
  const rep = run.final.report;
  const failing = failingCases(run);
  const attempts = run.attempts.length > 1 ? ` (after ${run.attempts.length} attempts)` : '';
  if (rep && failing.length > 0) {
    const names = failing.slice(0, 5).map(caseId).join(', ');
    return `${failing.length} of ${rep.tests} tests failed${attempts}: ${names}${failing.length > 5 ? ', …' : ''}`;
  }
  return `the test command failed with exit code ${run.final.exitCode}${run.final.signal ? ` (${run.final.signal})` : ''}${attempts}`;
}

// test-gate's reporter: the check run (created in_progress, completed with the result, or failed saying why),
// the commit status and the job summary; the tree's statuses and the red-main issue through TreeReporter.
// Every write is tried: one GitHub refuses is a warning (in mode publish, a failure), never a hidden result.
import type { ActionResult } from '../common/action.js';
import { errorMessage } from '../common/errors.js';
import { mdText } from '../common/markdown.js';
import { oneLine } from '../common/text.js';
import type { GitHubClient } from '../github/client.js';
import { GITHUB_LIMITS, clip } from '../github/limits.js';
import { bugRule, type BugRuleResult } from './bug-rule.js';
import { failCheckRun, finishCheckRun, setStatus, startCheckRun } from './commit-checks.js';
import type { GateDeps, GateTarget } from './deps.js';
import { defaultBranch, describeApiError, PERMISSION_HINTS, type Repo } from './github.js';
import { runOutputs, testFailureMessage } from './outputs.js';
import { changedFiles, labelsOf } from './pull-requests.js';
import { annotations, conclusion, failingCases, summary, title, type GateReport } from './report.js';
import type { TestRun } from './run.js';
import type { GateSettings } from './settings.js';
import { TreeReporter } from './tree-reporter.js';

export class Reporter {
  private readonly repo: Repo;
  private readonly warnings: string[] = [];
  /** The check run created in_progress, and whether it (or the one posted complete) is completed. */
  private checkRunId?: number;
  private completed = false;
  /** The pending commit status was set, and not yet replaced by the result. */
  private pendingStatus = false;
  private readonly onCompleted = (): void => void (this.completed = true);
  /** The tree statuses and the red-main issue, written as this reporter writes. */
  private readonly trees: TreeReporter;

  constructor(
    private readonly deps: GateDeps,
    private readonly client: GitHubClient | null,
    private readonly target: GateTarget,
    private readonly o: { writesMustSucceed?: boolean } = {},
  ) {
    this.repo = { owner: deps.context.owner, repo: deps.context.repo };
    this.trees = new TreeReporter(deps, client, target, (what, fn) => this.tryWrite(what, fn));
  }

  /** Writes must not hide the test result: a refused write is a warning (in mode publish, a failure). */
  private async tryWrite<T>(what: string, fn: (client: GitHubClient) => Promise<T>): Promise<T | undefined> {
    if (!this.client) return undefined;
    try {
      return await fn(this.client);
    } catch (err) {
      const msg = `could not ${what}: ${describeApiError(err, this.permissionHints())}`;
      this.warnings.push(msg);
      this.deps.logger.warning(msg);
      return undefined;
    }
  }

  private permissionHints(): string {
    return this.o.writesMustSucceed ? PERMISSION_HINTS.publish : PERMISSION_HINTS.run;
  }

  private get settings(): GateSettings {
    return this.deps.settings;
  }

  /** The in-progress check run (and pending status) while the tests run. */
  async start(): Promise<number | undefined> {
    const { headSha, detailsUrl } = this.target;
    const name = this.settings.checkName;
    const id = await this.tryWrite('create the check run', (c) =>
      startCheckRun(c, this.repo, { name, headSha, detailsUrl }),
    );
    this.checkRunId = id;
    if (this.hasCommitStatus()) {
      this.pendingStatus = true;
      const pending = { state: 'pending', description: 'running tests', targetUrl: detailsUrl } as const;
      await this.tryWrite('set the pending commit status', (c) => setStatus(c, this.repo, headSha, name, pending));
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
      finishCheckRun(c, this.repo, undefined, {
        name: s.checkName,
        headSha,
        detailsUrl,
        conclusion: 'failure',
        title: 'no test result',
        summary: `## ❌ ${s.checkName}: no test result\n\n${mdText(reason, 4000)}\n`,
        annotations: [],
        onCompleted: this.onCompleted,
      }),
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

  /**
   * Completes the check run (and a pending commit status) as failed with `reason`, unless it was completed;
   * never throws.
   */
  private async failed(reason: string): Promise<void> {
    if (!this.client) return;
    const { headSha, detailsUrl } = this.target;
    if (this.pendingStatus) {
      this.pendingStatus = false;
      const description = `the gate failed: ${oneLine(reason, 120)}`;
      const status = { state: 'failure', description, targetUrl: detailsUrl } as const;
      await this.tryWrite('set the commit status', (c) =>
        setStatus(c, this.repo, headSha, this.settings.checkName, status),
      );
    }
    if (this.completed) return;
    // In mode run a check run that could not even be created is not posted now either.
    if (this.checkRunId === undefined && !this.o.writesMustSucceed) return;
    this.completed = true;
    try {
      const name = this.settings.checkName;
      await failCheckRun(this.client, this.repo, this.checkRunId, { name, headSha, detailsUrl, reason });
      this.deps.logger.info(`completed the check run as failed: ${reason}`);
    } catch (err) {
      const why = describeApiError(err, this.permissionHints());
      this.deps.logger.warning(`could not complete the check run as failed: ${why}`);
    }
  }

  /** Posts the run's result (check run, statuses, tree, issue, summary); the step's outputs and failure. */
  async finish(run: TestRun, checkRunId: number | undefined, o: { command?: string } = {}): Promise<ActionResult> {
    const s = this.settings;
    this.warnFlaky(run);
    const result = run.passed ? 'success' : 'failure';
    const payload = this.deps.context.payload ?? {};
    const mainBranch = this.client ? await defaultBranch(this.client, this.repo, payload) : this.target.branch;
    const { event, branch } = this.target;
    const onDefault = (event === 'push' || event === 'workflow_dispatch') && branch === mainBranch;
    const { bug, labels } = await this.bugRule();
    const view = await this.trees.read({ result, mainBranch, onDefault, labels });
    const { tree, overridden, treeBranch } = view;
    const report: GateReport = {
      checkName: s.checkName,
      command: o.command ?? s.command,
      run,
      tree: tree ? { state: tree, branch: treeBranch, overridden, queueEntry: !!this.target.queueBase } : undefined,
      bugRule: bug?.applies ? bug : undefined,
    };
    const text = summary(report);
    await this.postResult(run, report, text, checkRunId);
    await this.trees.post(run, view, { mainBranch, onDefault });
    await this.writeSummary(text);
    return { outputs: runOutputs(run, tree), failure: this.stepFailure(run, bug) };
  }

  private warnFlaky(run: TestRun): void {
    if (!run.flaky) return;
    this.deps.logger.warning(
      run.flakyTests.length > 0
        ? `flaky: ${run.flakyTests.length} test(s) failed, then passed on a retry: ${run.flakyTests.join(', ')}`
        : `flaky: the command failed, then passed on attempt ${run.attempts.length}`,
    );
  }

  /** The check run completed with the report, and the commit status; a check run left in_progress is failed. */
  private async postResult(
    run: TestRun,
    report: GateReport,
    text: string,
    checkRunId: number | undefined,
  ): Promise<void> {
    const s = this.settings;
    const { headSha, detailsUrl } = this.target;
    const anns = annotations(run);
    const unlocated = failingCases(run).filter((c) => !c.file).length;
    if (unlocated > 0) {
      this.deps.logger.info(
        `${unlocated} failing test(s) have no file in their report: listed in the summary, not annotated`,
      );
    }
    const warned = this.warnings.length;
    await this.tryWrite('complete the check run', (c) =>
      finishCheckRun(c, this.repo, checkRunId, {
        name: s.checkName,
        headSha,
        detailsUrl,
        conclusion: conclusion(report),
        title: title(report),
        summary: text,
        annotations: anns,
        onCompleted: this.onCompleted,
      }),
    );
    if (this.hasCommitStatus()) {
      this.pendingStatus = false;
      const state = run.passed ? 'success' : 'failure';
      const description = clip(title(report), GITHUB_LIMITS.statusDescription);
      const status = { state, description, targetUrl: detailsUrl } as const;
      await this.tryWrite('set the commit status', (c) => setStatus(c, this.repo, headSha, s.checkName, status));
    }
    // The completing request was refused (annotations GitHub would not take, a server error): the check
    // run must not stay in_progress.
    if (!this.completed) await this.failed(this.warnings[warned] ?? 'could not complete the check run');
  }

  private async writeSummary(text: string): Promise<void> {
    if (!this.deps.writeSummary) return;
    try {
      await this.deps.writeSummary(text);
    } catch (err) {
      this.deps.logger.warning(`could not write the job summary: ${errorMessage(err)}`);
    }
  }

  /** Why the step fails, if it does. */
  private stepFailure(run: TestRun, bug: BugRuleResult | undefined): string | undefined {
    const failures: string[] = [];
    if (this.o.writesMustSucceed) {
      // The check run carries the tests' verdict; this step fails only when it could not publish it.
      if (this.warnings.length > 0) failures.push(`could not publish everything: ${this.warnings.join('; ')}`);
    } else {
      if (!run.passed) failures.push(testFailureMessage(run));
      if (bug && !bug.ok) failures.push(bug.message);
    }
    return failures.length > 0 ? failures.join('\n') : undefined;
  }

  /** A test for every bug: the pull request's labels, and its changed files when it is labelled a bug fix. */
  private async bugRule(): Promise<{ bug?: BugRuleResult; labels: string[] }> {
    const { pr } = this.target;
    if (!pr || !this.client) return { labels: pr?.labels ?? [] };
    const labels = pr.labels ?? (await labelsOf(this.client, this.repo, pr.number));
    if (!this.settings.requireTestForBug) return { labels };
    const labelled = bugRule(labels, [], this.settings);
    const bug = labelled.applies
      ? bugRule(labels, await changedFiles(this.client, this.repo, pr.number), this.settings)
      : labelled;
    this.deps.logger.info(`bug-needs-test: ${bug.message}`);
    return { bug, labels };
  }
}

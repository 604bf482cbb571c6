// test-gate's orchestration: run the tests, report them, and keep the tree (the default branch's state)
// visible on every pull request. Logger, client and context are injected: no runner needed to test it.
import type { ActionResult } from '../common/action.js';
import type { Logger } from '../common/logger.js';
import { createClient, type GitHubClient } from '../github/client.js';
import type { RunContext } from '../github/context.js';
import * as gh from './github.js';
import { caseId } from './junit.js';
import { annotations, conclusion, failingCases, summary, title, type GateReport } from './report.js';
import { runTests, type TestRun } from './run.js';
import type { GateSettings } from './settings.js';
import { greenComment, redMainIssue, stillRedComment, treeFromHistory, treeStatus, type CommitResult, type FailingTest, type IssueContext, type TreeState } from './tree.js';
import { errorMessage } from '../common/errors.js';

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

export const SUPPORTED_EVENTS = ['push', 'pull_request', 'workflow_dispatch'];

export async function runGate(deps: GateDeps): Promise<ActionResult> {
  const { settings: s, context: ctx, logger } = deps;
  if (!SUPPORTED_EVENTS.includes(ctx.eventName)) {
    logger.warning(
      `test-gate skipped: it runs on push, pull_request and workflow_dispatch, and this run is '${ctx.eventName || 'unknown'}'. ` +
        'Not run: the test command, the check run, the commit status, the tree status and the red-main issue.',
    );
    return { outputs: { result: 'skipped', tests: 0, failures: 0, flaky: 0, duration: 0, tree: '' } };
  }
  const client = deps.client === undefined ? (s.githubToken ? createClient(s.githubToken, ctx.apiUrl) : null) : deps.client;
  if (!client) logger.warning('no github-token: the tests run, but no check run, status or tree status is posted');
  const repo = { owner: ctx.owner, repo: ctx.repo };
  const pr = ctx.eventName === 'pull_request' ? ctx.payload?.pull_request : undefined;
  if (ctx.eventName === 'pull_request' && !pr) throw new Error('pull_request event without a pull_request payload (GITHUB_EVENT_PATH)');
  // On pull_request, GITHUB_SHA is a merge commit nobody sees; checks and statuses belong on the head.
  const headSha: string = pr ? pr.head.sha : ctx.sha;
  const branch = ctx.ref.replace(/^refs\/heads\//, '');
  const depth = deps.historyDepth ?? 30;
  const warnings: string[] = [];
  /** Writes must not hide the test result: a refused write is a warning, the gate goes on. */
  const tryWrite = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!client) return undefined;
    try {
      return await fn();
    } catch (err) {
      const msg = `could not ${what}: ${gh.describeApiError(err)}`;
      warnings.push(msg);
      logger.warning(msg);
      return undefined;
    }
  };

  const mainBranch = client ? await gh.defaultBranch(client, repo, ctx.payload ?? {}) : branch;
  const onDefault = !pr && branch === mainBranch;

  // A test for every bug: decided before the tests run, reported with them.
  let bug: gh.BugRuleResult | undefined;
  let prLabels: string[] = [];
  if (pr && client) {
    prLabels = await gh.labelsOf(client, repo, pr.number);
    if (s.requireTestForBug) {
      const labelled = gh.bugRule(prLabels, [], s);
      bug = labelled.applies ? gh.bugRule(prLabels, await gh.changedFiles(client, repo, pr.number), s) : labelled;
      logger.info(`bug-needs-test: ${bug.message}`);
    }
  }

  const checkRunId = await tryWrite('create the check run', () => gh.startCheckRun(client!, repo, { name: s.checkName, headSha, detailsUrl: ctx.runUrl }));
  if (!pr) await tryWrite('set the pending commit status', () => gh.setStatus(client!, repo, headSha, s.checkName, { state: 'pending', description: 'running tests', targetUrl: ctx.runUrl }));

  const run = await runTests({ command: s.command, retries: s.retries, cwd: deps.cwd ?? process.cwd(), junit: s.junit, logger, onOutput: deps.onOutput });
  if (run.flaky) {
    logger.warning(
      run.flakyTests.length > 0
        ? `flaky: ${run.flakyTests.length} test(s) failed, then passed on a retry: ${run.flakyTests.join(', ')}`
        : `flaky: the command failed, then passed on attempt ${run.attempts.length}`,
    );
  }
  const result: GateConclusion = run.passed ? 'success' : 'failure';

  // The tree: on the default branch this run's result is its new state; on a pull request, the base branch's.
  let tree: TreeState | undefined;
  let previous: TreeState | undefined;
  let overridden = false;
  let treeBranch = mainBranch;
  if (client && onDefault) {
    const history = await gh.branchHistory(client, repo, headSha, s.checkName, { depth, skipResultOf: headSha });
    const parents = history.filter((c) => c.sha !== headSha);
    const self: CommitResult = { ...(history.find((c) => c.sha === headSha) ?? { sha: headSha }), result, url: ctx.runUrl };
    previous = treeFromHistory(parents);
    tree = treeFromHistory([self, ...parents]);
  } else if (client && pr && s.tree) {
    treeBranch = pr.base.ref;
    tree = treeFromHistory(await gh.branchHistory(client, repo, treeBranch, s.checkName, { depth }));
    overridden = tree.state === 'closed' && prLabels.some((l) => l.toLowerCase() === s.treeOverrideLabel.toLowerCase());
  }

  const report: GateReport = { checkName: s.checkName, command: s.command, run, tree: tree ? { state: tree, branch: treeBranch, overridden } : undefined, bugRule: bug?.applies ? bug : undefined };
  const text = summary(report);
  const anns = annotations(run);
  const unlocated = failingCases(run).filter((c) => !c.file).length;
  if (unlocated > 0) logger.info(`${unlocated} failing test(s) have no file in their report: listed in the summary, not annotated`);
  await tryWrite('complete the check run', () =>
    gh.finishCheckRun(client!, repo, checkRunId, { name: s.checkName, headSha, detailsUrl: ctx.runUrl, conclusion: conclusion(report), title: title(report), summary: text, annotations: anns }),
  );
  if (!pr) {
    await tryWrite('set the commit status', () =>
      gh.setStatus(client!, repo, headSha, s.checkName, { state: result, description: title(report).slice(0, 140), targetUrl: ctx.runUrl }),
    );
  }

  const commitUrl = (sha: string): string => `${ctx.serverUrl}/${ctx.repository}/commit/${sha}`;
  const issueCtx: IssueContext = { checkName: s.checkName, branch: mainBranch, repository: ctx.repository, serverUrl: ctx.serverUrl, runUrl: ctx.runUrl, overrideLabel: s.treeOverrideLabel };
  if (client && tree && onDefault && previous) {
    await afterDefaultBranchRun({ client, repo, s, tree, previous, headSha, run, issueCtx, commitUrl, mainBranch, logger, tryWrite });
  } else if (client && tree && pr) {
    const status = treeStatus(tree, { branch: treeBranch, overridden, overrideLabel: s.treeOverrideLabel, commitUrl });
    logger.info(`tree status on #${pr.number}: ${status.state}: ${status.description}`);
    await tryWrite('set the tree status', () => gh.setStatus(client, repo, headSha, `${s.checkName}/tree`, status));
  }

  if (deps.writeSummary) {
    try {
      await deps.writeSummary(text);
    } catch (err) {
      logger.warning(`could not write the job summary: ${errorMessage(err)}`);
    }
  }

  const rep = run.final.report;
  const outputs = {
    result: run.passed ? 'passed' : 'failed',
    tests: rep?.tests ?? 0,
    failures: rep ? rep.failures + rep.errors : run.passed ? 0 : 1,
    flaky: run.flaky ? Math.max(1, run.flakyTests.length) : 0,
    duration: Math.round(run.durationMs / 100) / 10,
    tree: tree?.state ?? '',
  };
  const failures: string[] = [];
  if (!run.passed) failures.push(testFailureMessage(run));
  if (bug && !bug.ok) failures.push(bug.message);
  return { outputs, failure: failures.length > 0 ? failures.join('\n') : undefined };
}

type GateConclusion = 'success' | 'failure';

async function afterDefaultBranchRun(o: {
  client: GitHubClient;
  repo: gh.Repo;
  s: GateSettings;
  tree: TreeState;
  previous: TreeState;
  headSha: string;
  run: TestRun;
  issueCtx: IssueContext;
  commitUrl: (sha: string) => string;
  mainBranch: string;
  logger: Logger;
  tryWrite: <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;
}): Promise<void> {
  const { client, repo, s, tree, previous, logger, tryWrite } = o;
  const turned = tree.state !== previous.state;
  logger.info(`tree: ${tree.state}${turned ? ` (was ${previous.state})` : ''}`);
  const current: CommitResult = tree.at ?? { sha: o.headSha };
  let pullsCache: gh.OpenPull[] | undefined;
  const pulls = async (): Promise<gh.OpenPull[]> => (pullsCache ??= s.tree ? await gh.openPulls(client, repo, o.mainBranch) : []);
  if (tree.state === 'closed') {
    const failing: FailingTest[] = failingCases(o.run).map((c) => ({ id: caseId(c), file: c.file, line: c.line, message: c.message }));
    const issue = redMainIssue(tree, current, failing, o.issueCtx);
    await tryWrite('open or update the red-main issue', () => gh.openOrUpdateRedMainIssue(client, repo, s.checkName, issue, stillRedComment(current, failing, o.issueCtx), logger));
  } else if (turned || !previous.known) {
    // The pull requests are counted first so the closing comment can say how many were let through again.
    await tryWrite('close the red-main issue', async () => gh.closeRedMainIssue(client, repo, s.checkName, greenComment(current, o.issueCtx, turned ? (await pulls()).length : 0), logger));
  }
  // Only a change of state touches the open pull requests: when the tree closes they turn red (unless they
  // carry the override label), when it opens they turn green, without anyone re-running anything.
  if (!s.tree || !turned) return;
  const open = (await tryWrite('list open pull requests', pulls)) ?? [];
  for (const p of open) {
    const overridden = tree.state === 'closed' && p.labels.some((l) => l.toLowerCase() === s.treeOverrideLabel.toLowerCase());
    const status = treeStatus(tree, { branch: o.mainBranch, overridden, overrideLabel: s.treeOverrideLabel, commitUrl: o.commitUrl });
    await tryWrite(`set the tree status on #${p.number}`, () => gh.setStatus(client, repo, p.headSha, `${s.checkName}/tree`, status));
  }
  logger.info(`tree status set to ${tree.state === 'open' ? 'success' : 'failure'} on ${open.length} open pull request(s)`);
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

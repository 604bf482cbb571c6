// The tree part of test-gate's reporter: the tree a run sees (the default branch's state, from the gate's
// results on its recent commits), and what a run posts of it: the red-main issue and the open pull requests'
// tree statuses after a default-branch run, a queue entry's or a pull request's own tree status.
import type { GitHubClient } from '../github/client.js';
import { branchHistory } from './branch-history.js';
import { setStatus } from './commit-checks.js';
import type { GateDeps, GateTarget } from './deps.js';
import type { Repo } from './github.js';
import { caseId } from './junit.js';
import { openPulls, type OpenPull } from './pull-requests.js';
import { closeRedMainIssue, openOrUpdateRedMainIssue } from './red-main-issue.js';
import { failingCases } from './report.js';
import type { TestRun } from './run.js';
import type { GateSettings } from './settings.js';
import {
  greenComment,
  redMainIssue,
  stillRedComment,
  treeFromHistory,
  treeStatus,
  type CommitResult,
  type FailingTest,
  type IssueContext,
  type TreeState,
} from './tree.js';

/** The tree as a run sees it: see {@link TreeReporter.read}. */
export interface TreeView {
  tree?: TreeState;
  previous?: TreeState;
  overridden: boolean;
  treeBranch: string;
}

/** The reporter's way to write: a write GitHub refuses is a warning (undefined), not a throw. */
export type TryWrite = <T>(what: string, fn: (client: GitHubClient) => Promise<T>) => Promise<T | undefined>;

export class TreeReporter {
  private readonly repo: Repo;

  constructor(
    private readonly deps: GateDeps,
    private readonly client: GitHubClient | null,
    private readonly target: GateTarget,
    private readonly tryWrite: TryWrite,
  ) {
    this.repo = { owner: deps.context.owner, repo: deps.context.repo };
  }

  private get settings(): GateSettings {
    return this.deps.settings;
  }

  /**
   * The tree: on the default branch this run's result is its new state (and `previous` the one before); on a
   * pull request or a queue entry, the state of the branch it merges into.
   */
  async read(o: {
    result: 'success' | 'failure';
    mainBranch: string;
    onDefault: boolean;
    labels: string[];
  }): Promise<TreeView> {
    const s = this.settings;
    const { headSha, pr, queueBase } = this.target;
    const depth = this.deps.historyDepth ?? 30;
    if (!this.client) return { overridden: false, treeBranch: o.mainBranch };
    if (o.onDefault) {
      const history = await branchHistory(this.client, this.repo, headSha, s.checkName, {
        depth,
        skipResultOf: headSha,
      });
      const parents = history.filter((c) => c.sha !== headSha);
      const own = history.find((c) => c.sha === headSha) ?? { sha: headSha };
      const self: CommitResult = { ...own, result: o.result, url: this.target.detailsUrl };
      const tree = treeFromHistory([self, ...parents]);
      return { tree, previous: treeFromHistory(parents), overridden: false, treeBranch: o.mainBranch };
    }
    if (!s.tree || (this.target.event !== 'pull_request' && !queueBase)) {
      return { overridden: false, treeBranch: o.mainBranch };
    }
    const treeBranch = pr?.baseRef ?? queueBase ?? o.mainBranch;
    const tree = treeFromHistory(await branchHistory(this.client, this.repo, treeBranch, s.checkName, { depth }));
    const overridden = tree.state === 'closed' && hasLabel(o.labels, s.treeOverrideLabel);
    return { tree, overridden, treeBranch };
  }

  /**
   * After a default-branch run, the red-main issue and the open pull requests' tree statuses; on a queue
   * entry or a pull request, its own tree status.
   */
  async post(run: TestRun, view: TreeView, o: { mainBranch: string; onDefault: boolean }): Promise<void> {
    const { client } = this;
    const { tree, previous, overridden, treeBranch } = view;
    const { settings: s, logger, context: ctx } = this.deps;
    const { headSha, pr } = this.target;
    const commitUrl = (sha: string): string => `${ctx.serverUrl}/${ctx.repository}/commit/${sha}`;
    const treeContext = `${s.checkName}/tree`;
    if (client && tree && o.onDefault && previous) {
      await this.afterDefaultBranchRun({ client, tree, previous, run, commitUrl, mainBranch: o.mainBranch });
    } else if (client && tree && this.target.queueBase) {
      // A queue entry is tested on top of the branch: its own result says whether merging it leaves the branch
      // green, so a red tree must not hold back the entry that is the fix. The queue needs the status reported.
      const status = queueTreeStatus(tree, { branch: treeBranch, passed: run.passed, commitUrl });
      logger.info(`tree status on the merge queue entry: ${status.state}: ${status.description}`);
      await this.tryWrite('set the tree status', (c) => setStatus(c, this.repo, headSha, treeContext, status));
    } else if (client && tree && this.target.event === 'pull_request') {
      const overrideLabel = s.treeOverrideLabel;
      const status = treeStatus(tree, { branch: treeBranch, overridden, overrideLabel, commitUrl });
      const where = pr ? `#${pr.number}` : headSha.slice(0, 7);
      logger.info(`tree status on ${where}: ${status.state}: ${status.description}`);
      await this.tryWrite('set the tree status', (c) => setStatus(c, this.repo, headSha, treeContext, status));
    }
  }

  private async afterDefaultBranchRun(o: {
    client: GitHubClient;
    tree: TreeState;
    previous: TreeState;
    run: TestRun;
    commitUrl: (sha: string) => string;
    mainBranch: string;
  }): Promise<void> {
    const { client, tree, previous } = o;
    const s = this.settings;
    const { logger, context: ctx } = this.deps;
    const issueCtx: IssueContext = {
      checkName: s.checkName,
      branch: o.mainBranch,
      repository: ctx.repository,
      serverUrl: ctx.serverUrl,
      runUrl: this.target.detailsUrl,
      overrideLabel: s.treeOverrideLabel,
    };
    const turned = tree.state !== previous.state;
    logger.info(`tree: ${tree.state}${turned ? ` (was ${previous.state})` : ''}`);
    const current: CommitResult = tree.at ?? { sha: this.target.headSha };
    let pullsCache: OpenPull[] | undefined;
    const pulls = async (): Promise<OpenPull[]> =>
      (pullsCache ??= s.tree ? await openPulls(client, this.repo, o.mainBranch) : []);
    if (tree.state === 'closed') {
      const failing: FailingTest[] = failingCases(o.run).map((c) => ({
        id: caseId(c),
        file: c.file,
        line: c.line,
        message: c.message,
      }));
      const issue = redMainIssue(tree, current, failing, issueCtx);
      await this.tryWrite('open or update the red-main issue', (c) => {
        const comment = stillRedComment(current, failing, issueCtx);
        return openOrUpdateRedMainIssue(c, this.repo, s.checkName, issue, comment, logger);
      });
    } else if (turned || !previous.known) {
      // The pull requests are counted first so the closing comment can say how many were let through again.
      await this.tryWrite('close the red-main issue', async (c) => {
        const comment = greenComment(current, issueCtx, turned ? (await pulls()).length : 0);
        return closeRedMainIssue(c, this.repo, s.checkName, comment, logger);
      });
    }
    // Only a change of state touches the open pull requests: when the tree closes they turn red (unless they
    // carry the override label), when it opens they turn green, without anyone re-running anything.
    if (!s.tree || !turned) return;
    await this.retreeOpenPulls(tree, pulls, o);
  }

  /** Every open pull request's tree status, once the default branch's tree opened or closed. */
  private async retreeOpenPulls(
    tree: TreeState,
    pulls: () => Promise<OpenPull[]>,
    o: { mainBranch: string; commitUrl: (sha: string) => string },
  ): Promise<void> {
    const s = this.settings;
    const open = (await this.tryWrite('list open pull requests', pulls)) ?? [];
    for (const p of open) {
      const overridden = tree.state === 'closed' && hasLabel(p.labels, s.treeOverrideLabel);
      const overrideLabel = s.treeOverrideLabel;
      const status = treeStatus(tree, { branch: o.mainBranch, overridden, overrideLabel, commitUrl: o.commitUrl });
      await this.tryWrite(`set the tree status on #${p.number}`, (c) =>
        setStatus(c, this.repo, p.headSha, `${s.checkName}/tree`, status),
      );
    }
    const state = tree.state === 'open' ? 'success' : 'failure';
    this.deps.logger.info(`tree status set to ${state} on ${open.length} open pull request(s)`);
  }
}

/** Whether `labels` holds `label`, case aside. */
function hasLabel(labels: readonly string[], label: string): boolean {
  return labels.some((l) => l.toLowerCase() === label.toLowerCase());
}

/** Pure: the `<check-name>/tree` status on a merge-queue entry: the entry's own result on top of the branch. */
export function queueTreeStatus(
  tree: TreeState,
  o: { branch: string; passed: boolean; commitUrl: (sha: string) => string },
): { state: 'success' | 'failure'; description: string; targetUrl?: string } {
  const at = tree.since ?? tree.at;
  const targetUrl = at ? (at.url ?? o.commitUrl(at.sha)) : undefined;
  if (!o.passed) {
    const description = `merge queue: red on top of ${o.branch}, so it leaves the queue`;
    return { state: 'failure', description, targetUrl };
  }
  const description =
    tree.state === 'closed'
      ? `merge queue: green on top of ${o.branch}, which is red: this entry is the fix`
      : `merge queue: green on top of ${o.branch}`;
  return { state: 'success', description, targetUrl };
}

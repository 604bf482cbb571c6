/**
 * A stateful stand-in for the GitHub REST API, for tests that drive the real Octokit client.
 *
 *   const gh = await startGitHubApi();              // listens on 127.0.0.1, free port
 *   const client = createClient('any-token', gh.url);
 *   gh.setDefaultBranch('o/r', 'main');
 *   const [a, b] = gh.seedCommits('o/r', 'main', [{ message: 'one' }, { message: 'two' }]); // oldest first
 *   gh.seedPull('o/r', { head: 'feature', labels: ['bug'], files: ['src/x.ts'] });
 *   gh.seedWorkflowRun('o/r', { id: 42, status: 'in_progress' });  // again with the same id to update it
 *   ... run the code under test ...
 *   gh.repo('o/r').issues / .statuses / .checkRuns / .deployments / .workflowRuns  // read back everything
 *   await gh.close();
 *
 * Behaviour kept close to GitHub's, because the code under test must survive the real thing:
 * - every request needs an `authorization` header (401 otherwise); `tokens` restricts which ones.
 * - repositories spring into existence on first use (default branch `main`), so tests seed only what matters.
 * - issues and pull requests share one number sequence; PRs show up in the issue list with `pull_request`.
 * - list endpoints page with `per_page`/`page` and a `Link` header, so `octokit.paginate` works.
 * - check runs: at most 50 annotations per request (422 "No more than 50 items are allowed; N were
 *   supplied."), annotations from updates are appended, summary/text at most 65535 characters.
 * - commit status descriptions longer than 140 characters are rejected with 422, as GitHub does.
 * - a `{ref}` in a path may be a sha, a branch name, `heads/<branch>` or `refs/heads/<branch>`.
 * - a success deployment status marks the environment's earlier successful deployments `inactive`.
 * - `failNext()` makes the next matching request(s) fail, to test error handling (`times: Infinity`: all of
 *   them, e.g. a 403 for a route the token has no permission for).
 * - `readOnlyTokens`: a token GitHub gives a pull request from a fork; every write with it is a 403
 *   "Resource not accessible by integration".
 * - a pull request seeded with `fork` has its head in that repository (`head.repo`, `head.label` owner:branch).
 * - workflow runs carry `event`, `head_branch`, `head_repository` and `pull_requests`, and for a run of a
 *   fork's pull request `pull_requests` is empty, as GitHub sends it; `workflowRunEvent()` builds the
 *   `workflow_run` event payload. Artifacts of a run are listed, and their zip is a 302 to a signed blob URL
 *   that needs no authorization (as GitHub's storage URLs); an expired artifact's zip is a 410.
 * - the merge queue: `enqueue()` builds the entry's merge-group commit on top of the branch or of the entry
 *   ahead (as GitHub does) and returns the `merge_group` event; `settleQueue(required)` merges the front
 *   entries whose required checks (a commit status or a check run of that name) passed, by moving the branch
 *   to the tested commit, drops the first that failed, and rebuilds the entries behind it.
 *
 * Served: repos (get), user (get: 403 for a bot's token, as GitHub answers an installation token); issues (create, get, update, list with state/labels/creator filters,
 * comments create/list/update, labels add/set/remove/list), repo labels (list, create, get); pulls (create,
 * get, update, list with state/head/base, files); statuses (create, list for ref, combined); check runs
 * (create, update, get, annotations, list for ref); git refs (get, matching, create, update, delete);
 * branches (get); commits (list for branch or sha, get one, compare); deployments (create, get, list,
 * statuses create/list); releases (create, list, get by tag, update); workflow runs (get); artifacts (list
 * for a run, get, download zip).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

/* eslint-disable @typescript-eslint/no-explicit-any -- request bodies and GitHub payloads are free-form JSON */
type Json = Record<string, any>;

export interface UserRef {
  login: string;
  id: number;
  type: string;
}

export interface LabelRecord {
  id: number;
  name: string;
  color: string;
  description: string | null;
  default: boolean;
}

export interface IssueRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: string | null;
  labels: LabelRecord[];
  user: UserRef;
  assignees: UserRef[];
  comments: number;
  html_url: string;
  url: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  pull_request?: { url: string; html_url: string };
}

export interface ReleaseRecord {
  id: number;
  tag_name: string;
  target_commitish: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  make_latest: string;
  html_url: string;
  created_at: string;
}

export interface CommentRecord {
  id: number;
  issue_number: number;
  body: string;
  user: UserRef;
  html_url: string;
  created_at: string;
  updated_at: string;
}

export interface PullFile {
  filename: string;
  status: string;
  additions: number;
  deletions: number;
  changes: number;
}

export interface PullRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  draft: boolean;
  merged: boolean;
  user: UserRef;
  head: { ref: string; sha: string; label: string };
  base: { ref: string; sha: string; label: string };
  /** owner/name of the fork holding the head branch; undefined for a branch of this repository. */
  fork?: string;
  html_url: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  files: PullFile[];
}

export interface StatusRecord {
  id: number;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  context: string;
  description: string | null;
  target_url: string | null;
  creator: UserRef;
  created_at: string;
  updated_at: string;
}

export interface AnnotationRecord {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
  title?: string;
  raw_details?: string;
}

export interface CheckRunRecord {
  id: number;
  name: string;
  head_sha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  started_at: string | null;
  completed_at: string | null;
  details_url: string | null;
  external_id: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  annotations: AnnotationRecord[];
  /** Annotation count of each create/update request, in order: shows how the client batched them. */
  annotationBatches: number[];
}

export interface WorkflowRunRecord {
  id: number;
  name: string;
  status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  conclusion: string | null;
  run_attempt: number;
  head_sha: string;
  event: string;
  head_branch: string;
  /** owner/name of the repository the head commit is in: a fork for a fork's pull request. */
  head_repository: string;
  /** The pull requests of a same-repository head; GitHub sends none for a fork's. */
  pull_requests: { number: number; head: { ref: string; sha: string }; base: { ref: string; sha: string } }[];
  created_at: string;
  updated_at: string;
}

export interface ArtifactRecord {
  id: number;
  name: string;
  runId: number;
  zip: Uint8Array;
  expired: boolean;
  created_at: string;
}

export interface QueueEntry {
  pull: number;
  /** The merge-group commit the entry is tested on: the branch (and the entries ahead) plus this pull request. */
  sha: string;
  baseSha: string;
  headRef: string;
}

export interface CommitRecord {
  sha: string;
  message: string;
  author: { name: string; email: string; date: string };
  login: string | null;
  parents: string[];
}

export interface DeploymentRecord {
  id: number;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  description: string | null;
  payload: unknown;
  transient_environment: boolean;
  production_environment: boolean;
  creator: UserRef;
  created_at: string;
  updated_at: string;
  statuses: DeploymentStatusRecord[];
}

export interface DeploymentStatusRecord {
  id: number;
  state: string;
  description: string;
  environment: string;
  log_url: string;
  environment_url: string;
  creator: UserRef;
  created_at: string;
}

export interface SeedCommit {
  sha?: string;
  message?: string;
  author?: { name?: string; email?: string; login?: string | null };
  date?: string;
}

export interface SeedPull {
  number?: number;
  title?: string;
  body?: string;
  /** Head branch name; its sha is `headSha`, else the branch's seeded tip, else one derived from the name. */
  head: string;
  headSha?: string;
  base?: string;
  labels?: string[];
  /** Changed files: names (status `modified`) or full entries. */
  files?: (string | (Partial<PullFile> & { filename: string }))[];
  state?: 'open' | 'closed';
  draft?: boolean;
  user?: string;
  /** owner/name of a fork the head branch lives in. */
  fork?: string;
}

export interface SeedIssue {
  title: string;
  body?: string;
  labels?: string[];
  state?: 'open' | 'closed';
  user?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
}

export interface FailRule {
  method?: string;
  /** Matched against the path without the query string. */
  path: string | RegExp;
  status: number;
  message?: string;
  /** How many matching requests fail; default 1, `Infinity` for all. */
  times?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Json = {},
  ) {
    super(message);
  }
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const isSha = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);
/** Deterministic fake sha for a name, so unseeded branches still have a stable head. */
export const fakeSha = (seed: string): string => createHash('sha1').update(seed).digest('hex');
const notFound = (): HttpError => new HttpError(404, 'Not Found');
const invalid = (message: string): HttpError => new HttpError(422, message);
const validation = (resource: string, field: string, code = 'invalid', message?: string): HttpError =>
  new HttpError(422, 'Validation Failed', { errors: [{ resource, field, code, ...(message ? { message } : {}) }] });

/** Everything one repository holds. Fields are public so tests can read back (and tweak) state. */
export class RepoState {
  defaultBranch = 'main';
  readonly commits = new Map<string, CommitRecord>();
  /** Branch → commit shas, oldest first. */
  readonly branches = new Map<string, string[]>();
  readonly tags = new Map<string, string>();
  readonly issues: IssueRecord[] = [];
  readonly comments: CommentRecord[] = [];
  readonly pulls: PullRecord[] = [];
  readonly labels: LabelRecord[] = [];
  readonly statuses: StatusRecord[] = [];
  readonly checkRuns: CheckRunRecord[] = [];
  readonly deployments: DeploymentRecord[] = [];
  readonly releases: ReleaseRecord[] = [];
  readonly workflowRuns: WorkflowRunRecord[] = [];
  readonly artifacts: ArtifactRecord[] = [];
  /** Merge queue entries per branch, front first. */
  readonly queues = new Map<string, QueueEntry[]>();

  constructor(readonly fullName: string) {}

  issue(number: number): IssueRecord | undefined {
    return this.issues.find((i) => i.number === number);
  }
  pull(number: number): PullRecord | undefined {
    return this.pulls.find((p) => p.number === number);
  }
  commentsOn(number: number): CommentRecord[] {
    return this.comments.filter((c) => c.issue_number === number);
  }
  tip(branch: string): string | undefined {
    const list = this.branches.get(branch);
    return list?.[list.length - 1];
  }
  /** sha, branch, heads/<b>, refs/heads/<b>, tag → sha (undefined when unknown). */
  resolve(ref: string): string | undefined {
    const r = ref.replace(/^refs\//, '');
    if (r.startsWith('heads/')) return this.tip(r.slice(6));
    if (r.startsWith('tags/')) return this.tags.get(r.slice(5));
    if (this.branches.has(r)) return this.tip(r);
    if (this.tags.has(r)) return this.tags.get(r);
    if (isSha(r)) return r;
    const prefix = [...this.commits.keys()].filter((s) => r.length >= 7 && s.startsWith(r));
    return prefix.length === 1 ? prefix[0] : undefined;
  }
  /** Statuses on a sha, newest first. */
  statusesFor(sha: string): StatusRecord[] {
    return this.statuses.filter((s) => s.sha === sha).reverse();
  }
  /** Latest status per context on a sha, or of one context. */
  latestStatus(sha: string, context: string): StatusRecord | undefined {
    return this.statusesFor(sha).find((s) => s.context === context);
  }
}

export class GitHubApiStandIn {
  url = '';
  readonly requests: RecordedRequest[] = [];
  private readonly repos = new Map<string, RepoState>();
  private readonly failRules: (FailRule & { left: number })[] = [];
  private nextId = 1000;
  private server: Server;

  constructor(private readonly options: StandInOptions = {}) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  get htmlUrl(): string {
    return this.options.htmlUrl ?? 'https://github.com';
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  // ---- seeding and read-back -------------------------------------------------------------------------

  /** The repository's state, created on first use. */
  repo(fullName: string): RepoState {
    const key = fullName.toLowerCase();
    let r = this.repos.get(key);
    if (!r) {
      r = new RepoState(fullName);
      this.repos.set(key, r);
    }
    return r;
  }

  setDefaultBranch(fullName: string, branch: string): void {
    this.repo(fullName).defaultBranch = branch;
  }

  /** Appends commits (oldest first) to a branch, creating it; returns their shas. Like a push. */
  seedCommits(fullName: string, branch: string, commits: SeedCommit[]): string[] {
    const r = this.repo(fullName);
    const list = r.branches.get(branch) ?? [];
    r.branches.set(branch, list);
    return commits.map((c) => {
      const sha = c.sha ?? fakeSha(`${fullName}/${branch}/${list.length}/${c.message ?? ''}/${this.nextId++}`);
      const parent = list[list.length - 1];
      r.commits.set(sha, {
        sha,
        message: c.message ?? `commit ${list.length + 1}`,
        author: {
          name: c.author?.name ?? 'Dev Eloper',
          email: c.author?.email ?? 'dev@example.com',
          date: c.date ?? now(),
        },
        login: c.author?.login === undefined ? 'developer' : c.author.login,
        parents: parent ? [parent] : [],
      });
      list.push(sha);
      return sha;
    });
  }

  seedPull(fullName: string, seed: SeedPull): PullRecord {
    const r = this.repo(fullName);
    const pull = this.createPull(r, {
      title: seed.title ?? `PR from ${seed.head}`,
      body: seed.body ?? null,
      head: seed.head,
      headSha: seed.headSha,
      base: seed.base ?? r.defaultBranch,
      draft: seed.draft ?? false,
      user: seed.user,
      number: seed.number,
    });
    if (seed.fork) {
      pull.fork = seed.fork;
      pull.head.label = `${seed.fork.split('/')[0]}:${seed.head}`;
    }
    pull.files = (seed.files ?? []).map((f) => {
      const e = typeof f === 'string' ? { filename: f } : f;
      return { status: 'modified', additions: 1, deletions: 0, changes: 1, ...e };
    });
    if (seed.labels) this.addLabels(r, r.issue(pull.number)!, seed.labels);
    if (seed.state === 'closed') this.setIssueState(r, pull.number, 'closed');
    return pull;
  }

  seedIssue(fullName: string, seed: SeedIssue): IssueRecord {
    const r = this.repo(fullName);
    const issue = this.createIssue(r, { title: seed.title, body: seed.body ?? null, user: seed.user });
    if (seed.labels) this.addLabels(r, issue, seed.labels);
    if (seed.state === 'closed') this.setIssueState(r, issue.number, 'closed');
    return issue;
  }

  seedStatus(
    fullName: string,
    sha: string,
    s: { state: StatusRecord['state']; context: string; description?: string; target_url?: string },
  ): StatusRecord {
    return this.createStatus(this.repo(fullName), sha, s);
  }

  seedCheckRun(
    fullName: string,
    c: { name: string; head_sha: string; status?: CheckRunRecord['status']; conclusion?: string },
  ): CheckRunRecord {
    return this.createCheckRun(this.repo(fullName), { status: c.conclusion ? 'completed' : 'in_progress', ...c });
  }

  /**
   * Adds a workflow run, or updates the one with `id` (a run moving on: queued → in_progress → completed).
   * A conclusion alone means completed; completed without one is a success; a run not completed has none.
   */
  seedWorkflowRun(
    fullName: string,
    w: Partial<Omit<WorkflowRunRecord, 'created_at' | 'updated_at'>>,
  ): WorkflowRunRecord {
    const r = this.repo(fullName);
    let run = w.id === undefined ? undefined : r.workflowRuns.find((x) => x.id === w.id);
    if (!run) {
      run = {
        id: w.id ?? this.nextId++,
        name: 'deploy',
        status: 'in_progress',
        conclusion: null,
        run_attempt: 1,
        head_sha: r.tip(r.defaultBranch) ?? fakeSha(`${fullName}:${r.defaultBranch}`),
        event: 'push',
        head_branch: r.defaultBranch,
        head_repository: r.fullName,
        pull_requests: [],
        created_at: now(),
        updated_at: now(),
      };
      r.workflowRuns.push(run);
    }
    Object.assign(run, w, { status: w.status ?? (w.conclusion ? 'completed' : run.status), updated_at: now() });
    run.conclusion = run.status === 'completed' ? (run.conclusion ?? 'success') : null;
    return run;
  }

  /** Stores an artifact (a zip, as actions/upload-artifact makes it) of a workflow run. */
  seedArtifact(
    fullName: string,
    a: { runId: number; name: string; zip: Uint8Array; expired?: boolean },
  ): ArtifactRecord {
    const rec: ArtifactRecord = {
      id: this.nextId++,
      name: a.name,
      runId: a.runId,
      zip: a.zip,
      expired: a.expired ?? false,
      created_at: now(),
    };
    this.repo(fullName).artifacts.push(rec);
    return rec;
  }

  /** The `workflow_run` event payload GitHub sends when run `id` completes. */
  workflowRunEvent(fullName: string, id: number, workflow = 'test'): Json {
    const r = this.repo(fullName);
    const w = r.workflowRuns.find((x) => x.id === id);
    if (!w) throw new Error(`no workflow run ${id}`);
    return {
      action: 'completed',
      workflow_run: this.workflowRunJson(r, w),
      workflow: { name: workflow },
      repository: this.repoJson(r),
    };
  }

  /**
   * Puts a pull request in the merge queue of its base branch: its merge-group commit is built on top of
   * the entry ahead (or the branch's tip). Returns the entry and the `merge_group` event for it.
   */
  enqueue(fullName: string, pullNumber: number): { entry: QueueEntry; payload: Json } {
    const r = this.repo(fullName);
    const pull = r.pull(pullNumber);
    if (!pull || pull.state !== 'open') throw new Error(`#${pullNumber} is not an open pull request`);
    const queue = r.queues.get(pull.base.ref) ?? [];
    r.queues.set(pull.base.ref, queue);
    const entry = this.buildGroup(r, pull, queue.length > 0 ? queue[queue.length - 1].sha : r.tip(pull.base.ref)!);
    queue.push(entry);
    return { entry, payload: this.mergeGroupEvent(r, pull.base.ref, entry) };
  }

  /** The queue of a branch, front first. */
  queue(fullName: string, branch = this.repo(fullName).defaultBranch): QueueEntry[] {
    return this.repo(fullName).queues.get(branch) ?? [];
  }

  /**
   * Decides the front of the queue, as GitHub does once required checks report: an entry whose checks all
   * passed merges (the branch moves to the commit that was tested), the first that failed drops out and the
   * entries behind it are rebuilt on what is left (new commits, so their checks must run again: their
   * `merge_group` events are returned), an entry still waiting stops the walk.
   */
  settleQueue(
    fullName: string,
    required: string[],
    branch = this.repo(fullName).defaultBranch,
  ): { merged: number[]; dropped: number[]; rebuilt: { entry: QueueEntry; payload: Json }[] } {
    const r = this.repo(fullName);
    const queue = r.queues.get(branch) ?? [];
    const merged: number[] = [];
    const dropped: number[] = [];
    const rebuilt: { entry: QueueEntry; payload: Json }[] = [];
    while (queue.length > 0) {
      const front = queue[0];
      const states = required.map((c) => this.requiredState(r, front.sha, c));
      if (states.includes('failure')) {
        queue.shift();
        dropped.push(front.pull);
        // Everything behind was built on the dropped entry: build it again on the branch's tip.
        let base = r.tip(branch)!;
        for (let i = 0; i < queue.length; i++) {
          queue[i] = this.buildGroup(r, r.pull(queue[i].pull)!, base);
          base = queue[i].sha;
          rebuilt.push({ entry: queue[i], payload: this.mergeGroupEvent(r, branch, queue[i]) });
        }
        continue;
      }
      if (states.some((st) => st !== 'success')) break;
      queue.shift();
      r.branches.get(branch)!.push(front.sha);
      const pull = r.pull(front.pull)!;
      pull.merged = true;
      this.setIssueState(r, pull.number, 'closed');
      merged.push(front.pull);
    }
    return { merged, dropped, rebuilt: rebuilt.filter((x) => queue.includes(x.entry)) };
  }

  private buildGroup(r: RepoState, pull: PullRecord, baseSha: string): QueueEntry {
    const sha = fakeSha(`group:${pull.number}:${baseSha}:${this.nextId++}`);
    r.commits.set(sha, {
      sha,
      message: `Merge pull request #${pull.number} from ${pull.head.label}\n\n${pull.title}`,
      author: { name: 'GitHub', email: 'noreply@github.com', date: now() },
      login: 'web-flow',
      parents: [baseSha, pull.head.sha],
    });
    const headRef = `gh-readonly-queue/${pull.base.ref}/pr-${pull.number}-${baseSha}`;
    // The temporary branch: the base's history, then the group commit.
    const baseHistory = this.history(r, baseSha) ?? [baseSha];
    r.branches.set(headRef, [...baseHistory, sha]);
    return { pull: pull.number, sha, baseSha, headRef };
  }

  private mergeGroupEvent(r: RepoState, branch: string, e: QueueEntry): Json {
    const c = r.commits.get(e.sha)!;
    return {
      action: 'checks_requested',
      merge_group: {
        head_sha: e.sha,
        head_ref: `refs/heads/${e.headRef}`,
        base_sha: e.baseSha,
        base_ref: `refs/heads/${branch}`,
        head_commit: {
          id: e.sha,
          tree_id: fakeSha(`tree${e.sha}`),
          message: c.message,
          timestamp: c.author.date,
          author: { name: c.author.name, email: c.author.email },
          committer: { name: c.author.name, email: c.author.email },
        },
      },
      repository: this.repoJson(r),
    };
  }

  /** A required check on a commit: a commit status of that context, or a check run of that name. */
  private requiredState(r: RepoState, sha: string, context: string): 'success' | 'failure' | 'pending' {
    const status = r.latestStatus(sha, context);
    const run = [...r.checkRuns].reverse().find((c) => c.head_sha === sha && c.name === context);
    const states: ('success' | 'failure' | 'pending')[] = [];
    if (status)
      states.push(status.state === 'success' ? 'success' : status.state === 'pending' ? 'pending' : 'failure');
    if (run)
      states.push(
        run.status !== 'completed'
          ? 'pending'
          : ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '')
            ? 'success'
            : 'failure',
      );
    if (states.length === 0) return 'pending';
    return states.includes('failure') ? 'failure' : states.includes('pending') ? 'pending' : 'success';
  }

  /** Makes the next `times` requests matching method and path fail with `status`. */
  failNext(rule: FailRule): void {
    this.failRules.push({ ...rule, left: rule.times ?? 1 });
  }

  /** Requests seen so far, optionally only those whose `METHOD path` matches. */
  requestsMatching(pattern: RegExp): RecordedRequest[] {
    return this.requests.filter((q) => pattern.test(`${q.method} ${q.path}`));
  }

  // ---- HTTP plumbing ---------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams.entries());
    const record: RecordedRequest = {
      method,
      path: decodeURIComponent(url.pathname),
      query,
      body: undefined,
      status: 0,
    };
    this.requests.push(record);
    // A signed storage URL, as an artifact's zip redirects to: no authorization, the signature is the key.
    const blob = /^\/_blobs\/(\d+)$/.exec(url.pathname);
    if (blob && method === 'GET') {
      const a = [...this.repos.values()].flatMap((r) => r.artifacts).find((x) => x.id === Number(blob[1]));
      const ok = a && query.sig === fakeSha(`blob${a.id}`);
      record.status = ok ? 200 : 403;
      res.writeHead(record.status, { 'content-type': ok ? 'application/zip' : 'application/xml' });
      res.end(ok ? Buffer.from(a.zip) : '<Error><Code>AuthenticationFailed</Code></Error>');
      return;
    }
    let status = 200;
    let payload: unknown;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    try {
      const raw = await readBody(req);
      let body: Json = {};
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          throw new HttpError(400, 'Problems parsing JSON');
        }
      }
      record.body = raw.length > 0 ? body : undefined;
      const auth = req.headers.authorization;
      if (!auth) throw new HttpError(401, 'Requires authentication');
      const token = auth.replace(/^(token|bearer)\s+/i, '');
      if (this.options.tokens && !this.options.tokens.includes(token) && !this.options.readOnlyTokens?.includes(token))
        throw new HttpError(401, 'Bad credentials');
      if (method !== 'GET' && this.options.readOnlyTokens?.includes(token))
        throw new HttpError(403, 'Resource not accessible by integration');
      const rule = this.failRules.find(
        (f) =>
          f.left > 0 &&
          (!f.method || f.method.toUpperCase() === method) &&
          (typeof f.path === 'string' ? f.path === record.path : f.path.test(record.path)),
      );
      if (rule) {
        rule.left--;
        throw new HttpError(rule.status, rule.message ?? 'Injected failure');
      }
      const result = this.route(method, url.pathname, query, body);
      if (result.location) headers.location = result.location;
      status = result.status ?? (method === 'POST' ? 201 : 200);
      payload = result.body;
      if (Array.isArray(payload) || result.listKey) {
        const paged = paginate(result.listKey ? (payload as Json)[result.listKey] : (payload as unknown[]), query);
        if (paged.link) headers.link = paged.link.replace(/\{base\}/g, `${this.url}${url.pathname}`);
        payload = result.listKey ? { ...(payload as Json), [result.listKey]: paged.items } : paged.items;
      }
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        payload = { message: err.message, documentation_url: 'https://docs.github.com/rest', ...err.extra };
      } else {
        status = 500;
        payload = { message: String(err instanceof Error ? err.stack : err) };
      }
    }
    record.status = status;
    res.writeHead(status, headers);
    res.end(status === 204 ? undefined : JSON.stringify(payload));
  }

  private route(
    method: string,
    path: string,
    q: Record<string, string>,
    b: Json,
  ): { status?: number; body?: unknown; listKey?: string; location?: string } {
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (method === 'GET' && path === '/user') {
      // An installation token (the workflow's GITHUB_TOKEN, a bot) may not read /user, as on GitHub.
      if (this.user().type === 'Bot') throw new HttpError(403, 'Resource not accessible by integration');
      return { body: this.user() };
    }
    if (seg[0] !== 'repos' || seg.length < 3) throw notFound();
    const r = this.repo(`${seg[1]}/${seg[2]}`);
    const rest = seg.slice(3);
    const at = (i: number): string => rest[i] ?? '';
    const num = (i: number): number => {
      const n = Number(at(i));
      if (!Number.isInteger(n)) throw notFound();
      return n;
    };
    // Numeric path segments become `:n`, so `PATCH issues/comments/5` reads as `PATCH issues/comments/:n`.
    const route = `${method} ${rest.map((s) => (/^\d+$/.test(s) ? ':n' : s)).join('/')}`;

    // Repository
    if (method === 'GET' && rest.length === 0) return { body: this.repoJson(r) };
    if (method === 'GET' && at(0) === 'branches' && rest.length >= 2) {
      const name = rest.slice(1).join('/');
      const sha = r.tip(name);
      if (!sha) throw new HttpError(404, 'Branch not found');
      return { body: { name, commit: this.commitJson(r, sha), protected: false } };
    }
    // Issues, comments, labels
    if (method === 'GET' && rest.length === 1 && at(0) === 'labels') return { body: r.labels };
    if (method === 'POST' && rest.length === 1 && at(0) === 'labels') {
      if (!b.name) throw validation('Label', 'name', 'missing_field');
      if (r.labels.some((l) => l.name.toLowerCase() === String(b.name).toLowerCase()))
        throw validation('Label', 'name', 'already_exists');
      return { body: this.label(r, b.name, b.color, b.description) };
    }
    if (method === 'GET' && rest.length === 2 && at(0) === 'labels') {
      const l = r.labels.find((x) => x.name.toLowerCase() === at(1).toLowerCase());
      if (!l) throw notFound();
      return { body: l };
    }
    switch (route) {
      case 'POST issues': {
        if (!b.title) throw validation('Issue', 'title', 'missing_field');
        const issue = this.createIssue(r, { title: String(b.title), body: b.body ?? null });
        if (Array.isArray(b.labels))
          this.addLabels(
            r,
            issue,
            b.labels.map((l: string | Json) => (typeof l === 'string' ? l : l.name)),
          );
        if (Array.isArray(b.assignees)) issue.assignees = b.assignees.map((a: string) => this.userRef(a));
        return { body: issue };
      }
      case 'GET issues': {
        const state = q.state ?? 'open';
        const wanted = (q.labels ?? '')
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean);
        let list = r.issues.filter((i) => state === 'all' || i.state === state);
        list = list.filter((i) => wanted.every((w) => i.labels.some((l) => l.name.toLowerCase() === w)));
        if (q.creator) list = list.filter((i) => i.user.login === q.creator);
        if (q.since) list = list.filter((i) => i.updated_at >= q.since);
        const key = q.sort === 'updated' ? 'updated_at' : q.sort === 'comments' ? 'comments' : 'id';
        list = [...list].sort((x, y) => (x[key] < y[key] ? -1 : x[key] > y[key] ? 1 : x.id - y.id));
        if ((q.direction ?? 'desc') === 'desc') list.reverse();
        return { body: list };
      }
      case 'GET issues/:n':
        return { body: this.mustIssue(r, num(1)) };
      case 'PATCH issues/:n': {
        const issue = this.mustIssue(r, num(1));
        if (b.title !== undefined) issue.title = String(b.title);
        if (b.body !== undefined) issue.body = b.body;
        if (Array.isArray(b.labels)) {
          issue.labels = [];
          this.addLabels(
            r,
            issue,
            b.labels.map((l: string | Json) => (typeof l === 'string' ? l : l.name)),
          );
        }
        if (b.state !== undefined) {
          if (b.state !== 'open' && b.state !== 'closed') throw validation('Issue', 'state');
          this.setIssueState(r, issue.number, b.state, b.state_reason);
        }
        issue.updated_at = now();
        return { body: issue };
      }
      case 'POST issues/:n/comments': {
        const issue = this.mustIssue(r, num(1));
        if (!b.body) throw validation('IssueComment', 'body', 'missing_field');
        const c: CommentRecord = {
          id: this.nextId++,
          issue_number: issue.number,
          body: String(b.body),
          user: this.user(),
          html_url: `${issue.html_url}#issuecomment-${this.nextId}`,
          created_at: now(),
          updated_at: now(),
        };
        r.comments.push(c);
        issue.comments++;
        issue.updated_at = now();
        return { body: c };
      }
      case 'GET issues/:n/comments':
        this.mustIssue(r, num(1));
        return { body: r.commentsOn(num(1)) };
      case 'PATCH issues/comments/:n': {
        const c = r.comments.find((x) => x.id === num(2));
        if (!c) throw notFound();
        c.body = String(b.body ?? c.body);
        c.updated_at = now();
        return { body: c };
      }
      case 'GET issues/:n/labels':
        return { body: this.mustIssue(r, num(1)).labels };
      case 'POST issues/:n/labels':
      case 'PUT issues/:n/labels': {
        const issue = this.mustIssue(r, num(1));
        const names: string[] = (Array.isArray(b) ? b : (b.labels ?? [])).map((l: string | Json) =>
          typeof l === 'string' ? l : l.name,
        );
        if (method === 'PUT') issue.labels = [];
        this.addLabels(r, issue, names);
        return { status: 200, body: issue.labels };
      }
    }
    if (method === 'DELETE' && rest.length === 4 && at(0) === 'issues' && at(2) === 'labels') {
      const issue = this.mustIssue(r, num(1));
      const before = issue.labels.length;
      issue.labels = issue.labels.filter((l) => l.name.toLowerCase() !== at(3).toLowerCase());
      if (issue.labels.length === before) throw new HttpError(404, 'Label does not exist');
      return { body: issue.labels };
    }
    // Pull requests
    switch (route) {
      case 'POST pulls': {
        if (!b.head) throw validation('PullRequest', 'head', 'missing_field');
        if (!b.base) throw validation('PullRequest', 'base', 'missing_field');
        const head = String(b.head).replace(/^[^:]+:/, '');
        if (head === b.base) throw validation('PullRequest', 'base', 'invalid', 'head and base must be different');
        const dup = r.pulls.find((p) => p.state === 'open' && p.head.ref === head && p.base.ref === b.base);
        if (dup)
          throw validation(
            'PullRequest',
            'head',
            'custom',
            `A pull request already exists for ${r.fullName.split('/')[0]}:${head}.`,
          );
        const pull = this.createPull(r, {
          title: String(b.title ?? head),
          body: b.body ?? null,
          head,
          base: String(b.base),
          draft: Boolean(b.draft),
        });
        return { body: this.pullJson(r, pull) };
      }
      case 'GET pulls': {
        const state = q.state ?? 'open';
        let list = r.pulls.filter((p) => state === 'all' || p.state === state);
        if (q.head) list = list.filter((p) => p.head.label === q.head || p.head.ref === q.head);
        if (q.base) list = list.filter((p) => p.base.ref === q.base);
        list = [...list].sort((x, y) => x.id - y.id);
        if ((q.direction ?? (q.sort && q.sort !== 'created' ? 'asc' : 'desc')) === 'desc') list.reverse();
        return { body: list.map((p) => this.pullJson(r, p)) };
      }
      case 'GET pulls/:n':
        return { body: this.pullJson(r, this.mustPull(r, num(1))) };
      case 'PATCH pulls/:n': {
        const pull = this.mustPull(r, num(1));
        if (b.title !== undefined) pull.title = String(b.title);
        if (b.body !== undefined) pull.body = b.body;
        if (b.base !== undefined) pull.base.ref = String(b.base);
        if (b.state !== undefined) this.setIssueState(r, pull.number, b.state);
        pull.updated_at = now();
        return { body: this.pullJson(r, pull) };
      }
      case 'GET pulls/:n/files':
        return { body: this.mustPull(r, num(1)).files.map((f) => ({ sha: fakeSha(f.filename), ...f })) };
    }
    // Commit statuses
    if (method === 'POST' && at(0) === 'statuses' && rest.length === 2) {
      return { body: this.createStatus(r, at(1), b) };
    }
    if (
      method === 'GET' &&
      at(0) === 'commits' &&
      rest.length >= 3 &&
      (at(rest.length - 1) === 'statuses' || at(rest.length - 1) === 'status' || at(rest.length - 1) === 'check-runs')
    ) {
      const ref = rest.slice(1, -1).join('/');
      const sha = r.resolve(ref);
      const kind = at(rest.length - 1);
      if (!sha) throw invalid(`No commit found for SHA: ${ref}`);
      if (kind === 'statuses') return { body: r.statusesFor(sha).map((s) => this.statusJson(r, s)) };
      if (kind === 'status') return { body: this.combinedStatus(r, sha) };
      let runs = r.checkRuns.filter((c) => c.head_sha === sha).reverse();
      if (q.check_name) runs = runs.filter((c) => c.name === q.check_name);
      if (q.status) runs = runs.filter((c) => c.status === q.status);
      if ((q.filter ?? 'latest') === 'latest')
        runs = runs.filter((c, i) => runs.findIndex((x) => x.name === c.name) === i);
      return {
        body: { total_count: runs.length, check_runs: runs.map((c) => this.checkRunJson(r, c)) },
        listKey: 'check_runs',
      };
    }
    // Check runs
    switch (route) {
      case 'POST check-runs':
        return { body: this.checkRunJson(r, this.createCheckRun(r, b)) };
      case 'GET check-runs/:n':
        return { body: this.checkRunJson(r, this.mustCheckRun(r, num(1))) };
      case 'PATCH check-runs/:n':
        return { body: this.checkRunJson(r, this.updateCheckRun(r, this.mustCheckRun(r, num(1)), b)) };
      case 'GET check-runs/:n/annotations':
        return {
          body: this.mustCheckRun(r, num(1)).annotations.map((a) => ({
            start_column: null,
            end_column: null,
            title: null,
            raw_details: null,
            blob_href: '',
            ...a,
          })),
        };
    }
    // Git refs, commits
    if (at(0) === 'git' && (at(1) === 'ref' || at(1) === 'refs' || at(1) === 'matching-refs'))
      return this.refs(r, method, at(1), rest.slice(2).join('/'), b);
    if (method === 'GET' && at(0) === 'commits' && rest.length === 1) {
      const start = q.sha ?? r.defaultBranch;
      const history = this.history(r, start);
      if (!history) throw new HttpError(404, 'Not Found', { message: `No commit found for SHA: ${start}` });
      return { body: [...history].reverse().map((sha) => this.commitJson(r, sha)) };
    }
    if (method === 'GET' && at(0) === 'commits' && rest.length >= 2) {
      const ref = rest.slice(1).join('/');
      const sha = r.resolve(ref);
      if (!sha || !r.commits.has(sha)) throw invalid(`No commit found for SHA: ${ref}`);
      return { body: this.commitJson(r, sha) };
    }
    if (method === 'GET' && at(0) === 'compare' && rest.length >= 2) {
      const [baseRef, headRef] = rest.slice(1).join('/').split('...');
      const baseSha = r.resolve(baseRef ?? '');
      const headHistory = this.history(r, headRef ?? '');
      if (!baseSha || !headHistory) throw notFound();
      const idx = headHistory.indexOf(baseSha);
      const ahead = idx === -1 ? headHistory : headHistory.slice(idx + 1);
      return {
        body: {
          status: idx === -1 ? 'diverged' : ahead.length === 0 ? 'identical' : 'ahead',
          ahead_by: ahead.length,
          behind_by: 0,
          total_commits: ahead.length,
          commits: ahead.map((sha) => this.commitJson(r, sha)),
          files: [],
        },
      };
    }
    // Deployments
    switch (route) {
      case 'POST deployments': {
        if (!b.ref) throw validation('Deployment', 'ref', 'missing_field');
        const sha = r.resolve(String(b.ref)) ?? fakeSha(String(b.ref));
        const environment = String(b.environment ?? 'production');
        const d: DeploymentRecord = {
          id: this.nextId++,
          sha,
          ref: String(b.ref),
          task: String(b.task ?? 'deploy'),
          environment,
          description: b.description ?? null,
          payload: b.payload ?? {},
          transient_environment: Boolean(b.transient_environment),
          production_environment: b.production_environment ?? environment === 'production',
          creator: this.user(),
          created_at: now(),
          updated_at: now(),
          statuses: [],
        };
        r.deployments.push(d);
        return { body: this.deploymentJson(r, d) };
      }
      case 'GET deployments': {
        let list = [...r.deployments].reverse();
        for (const k of ['sha', 'ref', 'task', 'environment'] as const)
          if (q[k]) list = list.filter((d) => d[k] === q[k]);
        return { body: list.map((d) => this.deploymentJson(r, d)) };
      }
      case 'GET deployments/:n':
        return { body: this.deploymentJson(r, this.mustDeployment(r, num(1))) };
      case 'POST deployments/:n/statuses': {
        const d = this.mustDeployment(r, num(1));
        const states = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
        if (!states.includes(b.state)) throw validation('DeploymentStatus', 'state');
        const s = this.deploymentStatus(d, b.state, b);
        // GitHub's auto_inactive: a new success retires the environment's earlier successful deployments.
        if (b.state === 'success' && b.auto_inactive !== false && !d.transient_environment) {
          for (const other of r.deployments) {
            if (
              other !== d &&
              other.environment === d.environment &&
              other.statuses[other.statuses.length - 1]?.state === 'success'
            ) {
              this.deploymentStatus(other, 'inactive', {});
            }
          }
        }
        return { body: this.deploymentStatusJson(r, d, s) };
      }
      case 'GET deployments/:n/statuses': {
        const d = this.mustDeployment(r, num(1));
        return { body: [...d.statuses].reverse().map((s) => this.deploymentStatusJson(r, d, s)) };
      }
    }
    // Releases (GitHub refuses a second release of one tag: 422 already_exists)
    switch (route) {
      case 'POST releases': {
        if (!b.tag_name) throw validation('Release', 'tag_name', 'missing_field');
        if (r.releases.some((x) => x.tag_name === b.tag_name))
          throw validation('Release', 'tag_name', 'already_exists');
        const rel: ReleaseRecord = {
          id: this.nextId++,
          tag_name: String(b.tag_name),
          target_commitish: String(b.target_commitish ?? r.defaultBranch),
          name: b.name ?? null,
          body: b.body ?? null,
          draft: Boolean(b.draft),
          prerelease: Boolean(b.prerelease),
          make_latest: String(b.make_latest ?? 'true'),
          html_url: `https://github.com/${r.fullName}/releases/tag/${b.tag_name}`,
          created_at: now(),
        };
        r.releases.push(rel);
        return { body: rel };
      }
      case 'GET releases':
        return { body: [...r.releases].reverse() };
      case 'PATCH releases/:n': {
        const rel = r.releases.find((x) => x.id === num(1));
        if (!rel) throw notFound();
        for (const k of ['name', 'body', 'draft', 'prerelease', 'make_latest'] as const)
          if (b[k] !== undefined) (rel as Json)[k] = b[k];
        return { body: rel };
      }
    }
    // Workflow runs
    if (route === 'GET actions/runs/:n') {
      const w = r.workflowRuns.find((x) => x.id === num(2));
      if (!w) throw notFound();
      return { body: this.workflowRunJson(r, w) };
    }
    // Artifacts
    if (route === 'GET actions/runs/:n/artifacts') {
      let list = r.artifacts.filter((a) => a.runId === num(2));
      if (q.name) list = list.filter((a) => a.name === q.name);
      return {
        body: { total_count: list.length, artifacts: list.map((a) => this.artifactJson(r, a)) },
        listKey: 'artifacts',
      };
    }
    if (route === 'GET actions/artifacts/:n' || route === 'GET actions/artifacts/:n/zip') {
      const a = r.artifacts.find((x) => x.id === num(2));
      if (!a) throw notFound();
      if (at(3) !== 'zip') return { body: this.artifactJson(r, a) };
      if (a.expired) throw new HttpError(410, 'Artifact has expired');
      return { status: 302, body: {}, location: `${this.url}/_blobs/${a.id}?sig=${fakeSha(`blob${a.id}`)}` };
    }
    if (method === 'GET' && rest.length === 3 && at(0) === 'releases' && at(1) === 'tags') {
      const rel = r.releases.find((x) => x.tag_name === at(2));
      if (!rel) throw notFound();
      return { body: rel };
    }
    throw notFound();
  }

  // ---- model operations ------------------------------------------------------------------------------

  private userRef(login: string): UserRef {
    return {
      login,
      id: Math.abs(parseInt(fakeSha(login).slice(0, 8), 16)),
      type: login.endsWith('[bot]') ? 'Bot' : 'User',
    };
  }
  private user(): UserRef {
    return this.userRef(this.options.login ?? 'github-actions[bot]');
  }

  private label(r: RepoState, name: string, color?: string, description?: string): LabelRecord {
    let l = r.labels.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!l) {
      l = { id: this.nextId++, name, color: color ?? 'ededed', description: description ?? null, default: false };
      r.labels.push(l);
    }
    return l;
  }

  /** GitHub creates unknown labels when they are added to an issue. */
  private addLabels(r: RepoState, issue: IssueRecord, names: string[]): void {
    for (const name of names) {
      const l = this.label(r, name);
      if (!issue.labels.some((x) => x.id === l.id)) issue.labels.push(l);
    }
  }

  private createIssue(
    r: RepoState,
    i: { title: string; body: string | null; user?: string; number?: number },
  ): IssueRecord {
    const number = i.number ?? Math.max(0, ...r.issues.map((x) => x.number)) + 1;
    if (r.issue(number)) throw new Error(`issue #${number} exists`);
    const issue: IssueRecord = {
      id: this.nextId++,
      number,
      title: i.title,
      body: i.body,
      state: 'open',
      state_reason: null,
      labels: [],
      user: i.user ? this.userRef(i.user) : this.user(),
      assignees: [],
      comments: 0,
      html_url: `${this.htmlUrl}/${r.fullName}/issues/${number}`,
      url: `${this.url}/repos/${r.fullName}/issues/${number}`,
      created_at: now(),
      updated_at: now(),
      closed_at: null,
    };
    r.issues.push(issue);
    return issue;
  }

  private setIssueState(r: RepoState, number: number, state: 'open' | 'closed', reason?: string): void {
    const issue = this.mustIssue(r, number);
    issue.state = state;
    issue.state_reason = state === 'closed' ? (reason ?? 'completed') : reason === 'reopened' ? 'reopened' : null;
    issue.closed_at = state === 'closed' ? now() : null;
    const pull = r.pull(number);
    if (pull) {
      pull.state = state;
      pull.closed_at = issue.closed_at;
    }
  }

  private createPull(
    r: RepoState,
    p: {
      title: string;
      body: string | null;
      head: string;
      headSha?: string;
      base: string;
      draft: boolean;
      user?: string;
      number?: number;
    },
  ): PullRecord {
    const issue = this.createIssue(r, { title: p.title, body: p.body, user: p.user, number: p.number });
    issue.html_url = `${this.htmlUrl}/${r.fullName}/pull/${issue.number}`;
    issue.pull_request = { url: `${this.url}/repos/${r.fullName}/pulls/${issue.number}`, html_url: issue.html_url };
    const owner = r.fullName.split('/')[0];
    const pull: PullRecord = {
      id: this.nextId++,
      number: issue.number,
      title: p.title,
      body: p.body,
      state: 'open',
      draft: p.draft,
      merged: false,
      user: issue.user,
      head: {
        ref: p.head,
        sha: p.headSha ?? r.tip(p.head) ?? fakeSha(`${r.fullName}:${p.head}`),
        label: `${owner}:${p.head}`,
      },
      base: { ref: p.base, sha: r.tip(p.base) ?? fakeSha(`${r.fullName}:${p.base}`), label: `${owner}:${p.base}` },
      html_url: issue.html_url,
      created_at: issue.created_at,
      updated_at: issue.updated_at,
      closed_at: null,
      files: [],
    };
    r.pulls.push(pull);
    return pull;
  }

  private createStatus(r: RepoState, sha: string, b: Json): StatusRecord {
    const resolved = r.resolve(sha);
    if (!resolved) throw invalid(`No commit found for SHA: ${sha}`);
    if (!['error', 'failure', 'pending', 'success'].includes(b.state)) throw validation('Status', 'state');
    if (typeof b.description === 'string' && b.description.length > 140) {
      throw validation('Status', 'description', 'custom', 'description is too long (maximum is 140 characters)');
    }
    const s: StatusRecord = {
      id: this.nextId++,
      sha: resolved,
      state: b.state,
      context: b.context ?? 'default',
      description: b.description ?? null,
      target_url: b.target_url ?? null,
      creator: this.user(),
      created_at: now(),
      updated_at: now(),
    };
    r.statuses.push(s);
    return s;
  }

  private combinedStatus(r: RepoState, sha: string): Json {
    const latest = r.statusesFor(sha).filter((s, i, all) => all.findIndex((x) => x.context === s.context) === i);
    const states = latest.map((s) => s.state);
    const state = states.some((s) => s === 'error' || s === 'failure')
      ? 'failure'
      : states.length > 0 && states.every((s) => s === 'success')
        ? 'success'
        : 'pending';
    return {
      state,
      sha,
      total_count: latest.length,
      statuses: latest.map((s) => this.statusJson(r, s)),
      repository: this.repoJson(r),
      commit_url: `${this.url}/repos/${r.fullName}/commits/${sha}`,
    };
  }

  private checkAnnotations(b: Json): AnnotationRecord[] {
    const out = b.output;
    if (out === undefined || out === null) return [];
    if (out.title === undefined || out.summary === undefined)
      throw validation('CheckRun', 'output', 'missing_field', 'output needs title and summary');
    for (const field of ['summary', 'text']) {
      const v = out[field];
      if (typeof v === 'string' && v.length > 65535)
        throw invalid(`Invalid request.\n\nOnly 65535 characters are allowed; ${v.length} were supplied.`);
    }
    const list: Json[] = out.annotations ?? [];
    if (list.length > 50)
      throw invalid(`Invalid request.\n\nNo more than 50 items are allowed; ${list.length} were supplied.`);
    for (const a of list) {
      for (const k of ['path', 'start_line', 'end_line', 'annotation_level', 'message']) {
        if (a[k] === undefined || a[k] === null || a[k] === '')
          throw invalid(`Invalid request.\n\n"${k}" wasn't supplied.`);
      }
      if (!['notice', 'warning', 'failure'].includes(a.annotation_level))
        throw invalid(`Invalid request.\n\n"annotation_level" is not one of notice, warning, failure.`);
    }
    return list as AnnotationRecord[];
  }

  private createCheckRun(r: RepoState, b: Json): CheckRunRecord {
    if (!b.name) throw validation('CheckRun', 'name', 'missing_field');
    if (!b.head_sha) throw validation('CheckRun', 'head_sha', 'missing_field');
    const annotations = this.checkAnnotations(b);
    const c: CheckRunRecord = {
      id: this.nextId++,
      name: String(b.name),
      head_sha: r.resolve(String(b.head_sha)) ?? String(b.head_sha),
      status: 'queued',
      conclusion: null,
      started_at: b.started_at ?? now(),
      completed_at: null,
      details_url: b.details_url ?? null,
      external_id: b.external_id ?? null,
      output: { title: null, summary: null, text: null },
      annotations: [],
      annotationBatches: [],
    };
    this.applyCheckRun(c, b, annotations);
    r.checkRuns.push(c);
    return c;
  }

  private updateCheckRun(_r: RepoState, c: CheckRunRecord, b: Json): CheckRunRecord {
    this.applyCheckRun(c, b, this.checkAnnotations(b));
    return c;
  }

  private applyCheckRun(c: CheckRunRecord, b: Json, annotations: AnnotationRecord[]): void {
    const status = b.conclusion
      ? 'completed'
      : (b.status ?? (c.status === 'queued' && b.started_at ? 'in_progress' : c.status));
    if (!['queued', 'in_progress', 'completed'].includes(status)) throw validation('CheckRun', 'status');
    const conclusion = b.conclusion ?? c.conclusion;
    if (status === 'completed' && !conclusion)
      throw validation('CheckRun', 'conclusion', 'missing_field', 'conclusion is required when status is completed');
    const conclusions = [
      'action_required',
      'cancelled',
      'failure',
      'neutral',
      'success',
      'skipped',
      'stale',
      'timed_out',
    ];
    if (conclusion && !conclusions.includes(conclusion)) throw validation('CheckRun', 'conclusion');
    c.status = status;
    c.conclusion = conclusion ?? null;
    if (status === 'completed') c.completed_at = b.completed_at ?? c.completed_at ?? now();
    if (b.details_url !== undefined) c.details_url = b.details_url;
    if (b.name !== undefined) c.name = String(b.name);
    if (b.output) {
      c.output = {
        title: b.output.title ?? c.output.title,
        summary: b.output.summary ?? c.output.summary,
        text: b.output.text ?? c.output.text,
      };
      c.annotations.push(...annotations);
      c.annotationBatches.push(annotations.length);
    }
  }

  private refs(r: RepoState, method: string, kind: string, ref: string, b: Json): { status?: number; body?: unknown } {
    const all = (): { ref: string; sha: string }[] => [
      ...[...r.branches.keys()].filter((n) => r.tip(n)).map((n) => ({ ref: `refs/heads/${n}`, sha: r.tip(n)! })),
      ...[...r.tags.entries()].map(([n, sha]) => ({ ref: `refs/tags/${n}`, sha })),
    ];
    const json = (x: { ref: string; sha: string }): Json => ({
      ref: x.ref,
      node_id: fakeSha(x.ref),
      url: `${this.url}/repos/${r.fullName}/git/${x.ref}`,
      object: { sha: x.sha, type: 'commit', url: `${this.url}/repos/${r.fullName}/git/commits/${x.sha}` },
    });
    const full = ref.startsWith('refs/') ? ref : `refs/${ref}`;
    if (method === 'GET' && kind === 'matching-refs')
      return {
        body: all()
          .filter((x) => x.ref.startsWith(full))
          .map(json),
      };
    if (method === 'GET' && kind === 'ref') {
      const found = all().find((x) => x.ref === full);
      if (!found) throw notFound();
      return { body: json(found) };
    }
    if (method === 'POST' && kind === 'refs' && ref === '') {
      const name = String(b.ref ?? '');
      if (!/^refs\/(heads|tags)\/.+/.test(name) || !b.sha) throw invalid('Reference update failed');
      if (all().some((x) => x.ref === name)) throw invalid('Reference already exists');
      this.setRef(r, name, String(b.sha));
      return { status: 201, body: json({ ref: name, sha: String(b.sha) }) };
    }
    if (method === 'PATCH' && kind === 'refs') {
      if (!all().some((x) => x.ref === full)) throw invalid('Reference does not exist');
      this.setRef(r, full, String(b.sha));
      return { body: json({ ref: full, sha: String(b.sha) }) };
    }
    if (method === 'DELETE' && kind === 'refs') {
      if (!all().some((x) => x.ref === full)) throw invalid('Reference does not exist');
      if (full.startsWith('refs/heads/')) r.branches.delete(full.slice(11));
      else r.tags.delete(full.slice(10));
      return { status: 204 };
    }
    throw notFound();
  }

  /** Points a ref at a sha: a sha already in the branch rewinds it, another is appended (a push). */
  private setRef(r: RepoState, ref: string, sha: string): void {
    if (ref.startsWith('refs/tags/')) {
      r.tags.set(ref.slice(10), sha);
      return;
    }
    const name = ref.slice(11);
    const source = [...r.branches.values()].find((h) => h.includes(sha));
    const history = source ? source.slice(0, source.indexOf(sha) + 1) : [...(r.branches.get(name) ?? []), sha];
    if (!r.commits.has(sha)) {
      const parent = history[history.length - 2];
      r.commits.set(sha, {
        sha,
        message: `commit ${sha.slice(0, 7)}`,
        author: { name: 'Dev Eloper', email: 'dev@example.com', date: now() },
        login: null,
        parents: parent ? [parent] : [],
      });
    }
    r.branches.set(name, history);
  }

  /** The history ending at a branch tip or a sha (oldest first), or undefined when unknown. */
  private history(r: RepoState, start: string): string[] | undefined {
    if (r.branches.has(start)) return r.branches.get(start);
    const sha = r.resolve(start);
    if (!sha) return undefined;
    for (const h of r.branches.values()) if (h.includes(sha)) return h.slice(0, h.indexOf(sha) + 1);
    return r.commits.has(sha) ? [sha] : undefined;
  }

  private deploymentStatus(d: DeploymentRecord, state: string, b: Json): DeploymentStatusRecord {
    const s: DeploymentStatusRecord = {
      id: this.nextId++,
      state,
      description: b.description ?? '',
      environment: b.environment ?? d.environment,
      log_url: b.log_url ?? b.target_url ?? '',
      environment_url: b.environment_url ?? '',
      creator: this.user(),
      created_at: now(),
    };
    d.statuses.push(s);
    d.updated_at = s.created_at;
    return s;
  }

  private mustIssue(r: RepoState, n: number): IssueRecord {
    const i = r.issue(n);
    if (!i) throw notFound();
    return i;
  }
  private mustPull(r: RepoState, n: number): PullRecord {
    const p = r.pull(n);
    if (!p) throw notFound();
    return p;
  }
  private mustCheckRun(r: RepoState, id: number): CheckRunRecord {
    const c = r.checkRuns.find((x) => x.id === id);
    if (!c) throw notFound();
    return c;
  }
  private mustDeployment(r: RepoState, id: number): DeploymentRecord {
    const d = r.deployments.find((x) => x.id === id);
    if (!d) throw notFound();
    return d;
  }

  // ---- JSON shapes -----------------------------------------------------------------------------------

  private repoJson(r: RepoState): Json {
    const [owner, name] = r.fullName.split('/');
    return {
      id: parseInt(fakeSha(r.fullName).slice(0, 8), 16),
      name,
      full_name: r.fullName,
      owner: this.userRef(owner),
      private: false,
      default_branch: r.defaultBranch,
      html_url: `${this.htmlUrl}/${r.fullName}`,
      url: `${this.url}/repos/${r.fullName}`,
    };
  }

  private pullJson(r: RepoState, p: PullRecord): Json {
    const { files: _files, ...rest } = p;
    const repo = this.repoJson(r);
    return {
      ...rest,
      url: `${this.url}/repos/${r.fullName}/pulls/${p.number}`,
      labels: r.issue(p.number)?.labels ?? [],
      head: p.fork
        ? { ...p.head, repo: this.repoJson(this.repo(p.fork)), user: this.userRef(p.fork.split('/')[0]) }
        : { ...p.head, repo, user: repo.owner },
      base: { ...p.base, repo, user: repo.owner },
      merged_at: null,
      mergeable: null,
    };
  }

  private statusJson(r: RepoState, s: StatusRecord): Json {
    const { sha: _sha, ...rest } = s;
    return { ...rest, node_id: fakeSha(`status${s.id}`), url: `${this.url}/repos/${r.fullName}/statuses/${s.sha}` };
  }

  private checkRunJson(r: RepoState, c: CheckRunRecord): Json {
    const { annotations, annotationBatches: _b, output, ...rest } = c;
    return {
      ...rest,
      node_id: fakeSha(`check${c.id}`),
      url: `${this.url}/repos/${r.fullName}/check-runs/${c.id}`,
      html_url: `${this.htmlUrl}/${r.fullName}/runs/${c.id}`,
      output: {
        ...output,
        annotations_count: annotations.length,
        annotations_url: `${this.url}/repos/${r.fullName}/check-runs/${c.id}/annotations`,
      },
      check_suite: { id: 1 },
      app: { slug: 'github-actions', name: 'GitHub Actions' },
      pull_requests: [],
    };
  }

  private commitJson(r: RepoState, sha: string): Json {
    const c = r.commits.get(sha);
    const author = c ? { ...c.author } : { name: 'unknown', email: 'unknown@example.com', date: now() };
    return {
      sha,
      node_id: fakeSha(`commit${sha}`),
      commit: { message: c?.message ?? '', author, committer: author },
      author: c?.login ? this.userRef(c.login) : null,
      committer: c?.login ? this.userRef(c.login) : null,
      parents: (c?.parents ?? []).map((p) => ({ sha: p, url: `${this.url}/repos/${r.fullName}/commits/${p}` })),
      url: `${this.url}/repos/${r.fullName}/commits/${sha}`,
      html_url: `${this.htmlUrl}/${r.fullName}/commit/${sha}`,
    };
  }

  private deploymentJson(r: RepoState, d: DeploymentRecord): Json {
    const { statuses: _s, ...rest } = d;
    return {
      ...rest,
      original_environment: d.environment,
      node_id: fakeSha(`deployment${d.id}`),
      url: `${this.url}/repos/${r.fullName}/deployments/${d.id}`,
      statuses_url: `${this.url}/repos/${r.fullName}/deployments/${d.id}/statuses`,
      repository_url: `${this.url}/repos/${r.fullName}`,
    };
  }

  private workflowRunJson(r: RepoState, w: WorkflowRunRecord): Json {
    const url = `${this.url}/repos/${r.fullName}/actions/runs/${w.id}`;
    return {
      ...w,
      node_id: fakeSha(`run${w.id}`),
      display_title: w.name,
      run_number: w.id,
      path: '.github/workflows/deploy.yml',
      run_started_at: w.created_at,
      url,
      html_url: `${this.htmlUrl}/${r.fullName}/actions/runs/${w.id}`,
      jobs_url: `${url}/jobs`,
      logs_url: `${url}/logs`,
      actor: this.user(),
      repository: this.repoJson(r),
      head_repository: this.repoJson(this.repo(w.head_repository)),
      pull_requests: w.pull_requests.map((p) => ({ ...p, url: `${this.url}/repos/${r.fullName}/pulls/${p.number}` })),
      artifacts_url: `${url}/artifacts`,
    };
  }

  private artifactJson(r: RepoState, a: ArtifactRecord): Json {
    const url = `${this.url}/repos/${r.fullName}/actions/artifacts/${a.id}`;
    const run = r.workflowRuns.find((w) => w.id === a.runId);
    return {
      id: a.id,
      node_id: fakeSha(`artifact${a.id}`),
      name: a.name,
      size_in_bytes: a.zip.length,
      url,
      archive_download_url: `${url}/zip`,
      expired: a.expired,
      created_at: a.created_at,
      updated_at: a.created_at,
      expires_at: a.created_at,
      workflow_run: run
        ? { id: run.id, repository_id: 1, head_repository_id: 1, head_branch: run.head_branch, head_sha: run.head_sha }
        : null,
    };
  }

  private deploymentStatusJson(r: RepoState, d: DeploymentRecord, s: DeploymentStatusRecord): Json {
    return {
      ...s,
      target_url: s.log_url,
      node_id: fakeSha(`ds${s.id}`),
      updated_at: s.created_at,
      deployment_url: `${this.url}/repos/${r.fullName}/deployments/${d.id}`,
      repository_url: `${this.url}/repos/${r.fullName}`,
    };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** GitHub-style paging: per_page (default 30, max 100), page, and a Link header with next/last. */
function paginate<T>(items: T[], q: Record<string, string>): { items: T[]; link?: string } {
  const perPage = Math.min(100, Math.max(1, Number(q.per_page ?? 30) || 30));
  const page = Math.max(1, Number(q.page ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const slice = items.slice((page - 1) * perPage, page * perPage);
  if (last === 1) return { items: slice };
  const other = Object.entries(q).filter(([k]) => k !== 'page' && k !== 'per_page');
  const href = (p: number): string => {
    const params = new URLSearchParams([...other, ['per_page', String(perPage)], ['page', String(p)]]);
    return `<{base}?${params.toString()}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${href(page + 1)}; rel="next"`, `${href(last)}; rel="last"`);
  if (page > 1) links.push(`${href(1)}; rel="first"`, `${href(page - 1)}; rel="prev"`);
  return { items: slice, link: links.join(', ') || undefined };
}

export interface StandInOptions {
  htmlUrl?: string;
  login?: string;
  tokens?: string[];
  /** Tokens that can read but not write (a fork's pull request). */
  readOnlyTokens?: string[];
}

/** Starts a stand-in on a free loopback port. */
export async function startGitHubApi(options: StandInOptions = {}): Promise<GitHubApiStandIn> {
  const api = new GitHubApiStandIn(options);
  await api.listen();
  return api;
}

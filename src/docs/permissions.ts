// The GITHUB_TOKEN permissions each action needs, feature by feature: one table that the README's
// "Permissions" lines are generated from and that test/workflows/ checks every sample job against, so
// the docs, the sample workflows and the code's API calls cannot drift apart.

export type Scope = 'actions' | 'checks' | 'contents' | 'deployments' | 'issues' | 'pull-requests' | 'statuses';
export type Access = 'read' | 'write';
export type Permissions = Partial<Record<Scope, Access>>;
/** A step's `with:` values as written; an expression (`${{ … }}`) may take any value. */
export type StepInputs = Record<string, string | undefined>;

export interface PermissionRule {
  /** What the action does with the permission. */
  feature: string;
  /** When it does it, for the docs ("always", "with `environment`"). */
  when: string;
  needs: Permissions;
  /** Whether a step with these inputs can use the feature. */
  applies(inputs: StepInputs): boolean;
}

const isExpression = (v: string | undefined) => v !== undefined && v.includes('${{');
/** An input that may be non-empty (set, or an expression). */
const maySet = (name: string) => (w: StepInputs) => (w[name] ?? '').trim() !== '';
/** A boolean input that may be true: literally true, an expression, or unset with default `def`. */
const mayBeTrue = (name: string, def: boolean) => (w: StepInputs) => {
  const v = w[name];
  if (v === undefined || v.trim() === '') return def;
  return isExpression(v) || v.trim() === 'true';
};
/** test-gate's `mode` may be one of these (unset is `run`; an expression may be any). */
const gateMode = (w: StepInputs, ...modes: string[]) => {
  const v = (w.mode ?? '').trim();
  return isExpression(v) || modes.includes(v === '' ? 'run' : v);
};

export const ACTION_PERMISSIONS: Record<string, PermissionRule[]> = {
  'test-gate': [
    {
      feature: 'posts the check run with its annotations',
      when: 'in mode run and publish',
      needs: { checks: 'write' },
      applies: (w) => gateMode(w, 'run', 'publish'),
    },
    {
      feature: 'sets the commit status and the `<check-name>/tree` status',
      when: 'in mode run and publish',
      needs: { statuses: 'write' },
      applies: (w) => gateMode(w, 'run', 'publish'),
    },
    {
      feature: "reads the default branch's history to find its last gate result",
      when: 'in mode run and publish',
      needs: { contents: 'read' },
      applies: (w) => gateMode(w, 'run', 'publish'),
    },
    {
      feature: 'opens the red-main issue while the default branch is red, closes it when green',
      when: 'in mode run (on the default branch)',
      needs: { issues: 'write' },
      applies: (w) => gateMode(w, 'run'),
    },
    {
      feature:
        "reads a pull request's labels and changed files, and lists the open pull requests whose tree status " +
        'turns green',
      when:
        'in mode run with `tree` or `require-test-for-bug` (both on by default); always in mode publish ' +
        '(it finds the pull request)',
      needs: { 'pull-requests': 'read' },
      applies: (w) =>
        (gateMode(w, 'run') && (mayBeTrue('tree', true)(w) || mayBeTrue('require-test-for-bug', true)(w))) ||
        gateMode(w, 'publish'),
    },
    {
      feature: 'downloads the saved result, an artifact of the run that triggered the workflow_run',
      when: 'in mode publish',
      needs: { actions: 'read' },
      applies: (w) => gateMode(w, 'publish'),
    },
  ],
  'ssh-rollout': [
    {
      feature: 'records the rollout as a GitHub Deployment, with its statuses',
      when: 'with `environment`',
      needs: { deployments: 'write' },
      applies: maySet('environment'),
    },
    {
      feature:
        "reads the workflow run named in a held deploy lock, so a finished run's lock is taken over at once " +
        '(without it, after 60 s)',
      when: 'with `github-token` (the default)',
      needs: { actions: 'read' },
      // `github-token` defaults to `${{ github.token }}`: unset is set; only an explicit empty value turns it off.
      applies: (w) => w['github-token'] === undefined || maySet('github-token')(w),
    },
  ],
  'metric-watch': [],
  'auto-revert': [
    {
      feature: "marks the reverted release's GitHub Deployments failed",
      when: 'with `hosts` and `mark-bad` (on by default; a rollback on purpose marks nothing failed)',
      needs: { deployments: 'write' },
      applies: (w) => maySet('hosts')(w) && mayBeTrue('mark-bad', true)(w),
    },
    {
      feature: 'pushes the revert commit (to the branch, or to `fivestep/revert-<sha>`)',
      when: 'with `revert-commit`',
      needs: { contents: 'write' },
      applies: mayBeTrue('revert-commit', false),
    },
    {
      feature: 'opens the revert pull request',
      when: 'with `revert-commit` and `revert-mode: pull-request` (the default mode)',
      needs: { 'pull-requests': 'write' },
      applies: (w) =>
        mayBeTrue('revert-commit', false)(w) &&
        (isExpression(w['revert-mode']) || (w['revert-mode'] ?? 'pull-request').trim() !== 'push'),
    },
    {
      feature: 'opens or comments on the root-cause-analysis issue',
      when: 'with `rca-issue` (on by default)',
      needs: { issues: 'write' },
      applies: mayBeTrue('rca-issue', true),
    },
  ],
};

/** Actions other than ours that the sample and docs workflows use, and what they need with these inputs. */
export const OTHER_ACTION_PERMISSIONS: Record<string, (inputs: StepInputs) => Permissions> = {
  'actions/checkout': () => ({ contents: 'read' }),
  'actions/setup-node': () => ({}),
  // Artifacts of the same run go through the runner's own token; another run's need the API.
  'actions/upload-artifact': () => ({}),
  'actions/download-artifact': (inputs) => (inputs['run-id'] ? { actions: 'read' } : {}),
};

/** `run:` steps that call the API with the job's token (`gh`), and what those calls need. */
export const RUN_COMMAND_PERMISSIONS: { pattern: RegExp; needs: Permissions }[] = [
  { pattern: /\bgh run (list|view|download)\b/, needs: { actions: 'read' } },
];

/** What a `run:` script needs, from the calls it makes that the table knows. */
export function runPermissions(script: string): Permissions {
  return RUN_COMMAND_PERMISSIONS.filter((c) => c.pattern.test(script)).reduce<Permissions>(
    (acc, c) => mergePermissions(acc, c.needs),
    {},
  );
}

const rank = (a: Access | 'none' | undefined) => (a === 'write' ? 2 : a === 'read' ? 1 : 0);

/** The union of two permission sets (write covers read). */
export function mergePermissions(a: Permissions, b: Permissions): Permissions {
  const out: Permissions = { ...a };
  for (const [scope, access] of Object.entries(b) as [Scope, Access][])
    if (rank(access) > rank(out[scope])) out[scope] = access;
  return out;
}

/** What one of our actions needs with these inputs. */
export function requiredPermissions(action: string, inputs: StepInputs): Permissions {
  const rules = ACTION_PERMISSIONS[action];
  if (!rules) throw new Error(`unknown action '${action}'`);
  return rules.filter((r) => r.applies(inputs)).reduce<Permissions>((acc, r) => mergePermissions(acc, r.needs), {});
}

/** Where `granted` falls short of `needed`, and what it grants beyond it: both empty = least privilege. */
export function comparePermissions(granted: Permissions, needed: Permissions): { missing: string[]; excess: string[] } {
  const scopes = [...new Set([...Object.keys(granted), ...Object.keys(needed)])].sort() as Scope[];
  const missing: string[] = [];
  const excess: string[] = [];
  for (const s of scopes) {
    const g = rank(granted[s]);
    const n = rank(needed[s]);
    if (g < n) missing.push(`${s}: ${needed[s]}`);
    else if (g > n) excess.push(`${s}: ${granted[s]}${n ? ` (needs only ${needed[s]})` : ''}`);
  }
  return { missing, excess };
}

/** The README's "Permissions" paragraph of one action: one bullet per feature, nothing else is used. */
export function permissionsLine(action: string): string {
  const rules = ACTION_PERMISSIONS[action];
  if (!rules) throw new Error(`unknown action '${action}'`);
  if (rules.length === 0)
    return (
      '**Permissions:** none. It calls no GitHub API, so its job may grant `permissions: {}` (plus ' +
      '`contents: read` if it checks the repository out).'
    );
  const grant = (p: Permissions) =>
    Object.entries(p)
      .map(([s, a]) => `\`${s}: ${a}\``)
      .join(', ');
  return [
    "**Permissions** (the job's `permissions:`; the action uses nothing else):",
    ...rules.map((r) => `- ${grant(r.needs)} ${r.when}: ${r.feature}.`),
  ].join('\n');
}

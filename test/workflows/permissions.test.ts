// Least privilege in the sample workflows: every job grants exactly what its `uses:` steps need for the
// features their inputs turn on (src/docs/permissions.ts, the table the README's "Permissions" lines
// come from), nothing less and nothing more.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  ACTION_PERMISSIONS,
  OTHER_ACTION_PERMISSIONS,
  runPermissions,
  comparePermissions,
  mergePermissions,
  permissionsLine,
  requiredPermissions,
  type Permissions,
  type StepInputs,
} from '../../src/docs/permissions.js';

const SAMPLES = [
  '.github/workflows/continuous-deployment.yml',
  '.github/workflows/watch-production.yml',
  '.github/workflows/deploy-large-fleet.yml',
  '.github/workflows/alert-rules.yml',
];
/** The copy-paste workflows of the docs and the README: every fenced yaml block that is a whole workflow (it has `jobs:`). */
const DOC_WORKFLOWS = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
]
  .flatMap((f) =>
    [...readFileSync(f, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({
      name: `${f} (yaml block ${i + 1})`,
      text: m[1],
    })),
  )
  .filter((b) => /^jobs:/m.test(b.text));

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  permissions?: Permissions | string;
  steps?: Step[];
}
interface Workflow {
  permissions?: Permissions | string;
  jobs: Record<string, Job>;
}

/** What one `uses:` step needs; an action nobody has described is an error, not "needs nothing". */
function stepNeeds(step: Step): Permissions {
  const uses = step.uses!;
  const ours = /^(?:\.\/|[\w.-]+\/[\w.-]+\/)actions\/([\w-]+)(?:@.+)?$/.exec(uses);
  const inputs: StepInputs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, String(v)]));
  if (ours) return requiredPermissions(ours[1], inputs);
  const other = OTHER_ACTION_PERMISSIONS[uses.split('@')[0]];
  if (!other) throw new Error(`${uses}: no permissions known for this action; add it to OTHER_ACTION_PERMISSIONS`);
  return other(inputs);
}

/** For every job of a workflow: what it grants, what its steps need, and the difference. */
function audit(file: string, text = readFileSync(file, 'utf8')) {
  const wf = parse(text) as Workflow;
  return Object.entries(wf.jobs).map(([name, job]) => {
    const granted = job.permissions ?? wf.permissions;
    if (granted === undefined || typeof granted === 'string')
      return {
        job: `${file}:${name}`,
        granted,
        missing: [],
        excess: [`permissions: ${granted ?? '(unset: the repository default)'}`],
      };
    const needed = (job.steps ?? []).reduce<Permissions>(
      (acc, s) => mergePermissions(acc, s.uses ? stepNeeds(s) : runPermissions(String(s.run ?? ''))),
      {},
    );
    return { job: `${file}:${name}`, granted, ...comparePermissions(granted, needed) };
  });
}

test.each(SAMPLES)('%s: every job grants what its steps need and nothing more', (file) => {
  const jobs = audit(file);
  expect(jobs.length).toBeGreaterThan(0);
  for (const j of jobs)
    expect({ job: j.job, missing: j.missing, excess: j.excess }).toEqual({ job: j.job, missing: [], excess: [] });
});

test("the docs' example workflows grant what their steps need and nothing more", () => {
  expect(DOC_WORKFLOWS.length).toBeGreaterThanOrEqual(2);
  for (const doc of DOC_WORKFLOWS)
    for (const j of audit(doc.name, doc.text))
      expect({ job: j.job, missing: j.missing, excess: j.excess }).toEqual({ job: j.job, missing: [], excess: [] });
});

// Node 20 left the runners in September 2026: an action pinned to an older major no longer runs
// (download-artifact v7, not v8: v8 stops unzipping, which the docs' steps rely on).
const NODE24_MAJORS: Record<string, string> = {
  'actions/checkout': 'v7',
  'actions/setup-node': 'v7',
  'actions/upload-artifact': 'v7',
  'actions/download-artifact': 'v7',
};

test("the sample and docs workflows pin the node24 majors of GitHub's own actions", () => {
  const texts = [...SAMPLES.map((f) => readFileSync(f, 'utf8')), ...DOC_WORKFLOWS.map((d) => d.text)];
  const uses = texts.flatMap((t) =>
    Object.values((parse(t) as Workflow).jobs).flatMap((j) => (j.steps ?? []).map((s) => s.uses ?? '')),
  );
  const external = uses.filter((u) => u.startsWith('actions/'));
  expect(external).toContain('actions/upload-artifact@v7');
  for (const u of external) expect(u).toBe(`${u.split('@')[0]}@${NODE24_MAJORS[u.split('@')[0]]}`);
});

test('a job missing a permission, or granting one no step uses, is caught', () => {
  // The deploy job's auto-revert pushes a revert commit and opens a pull request and the RCA issue.
  const needed = requiredPermissions('auto-revert', {
    hosts: 'web1',
    'revert-commit': "${{ github.event_name == 'push' }}",
  });
  expect(needed).toEqual({ deployments: 'write', contents: 'write', 'pull-requests': 'write', issues: 'write' });
  expect(comparePermissions({ contents: 'write', issues: 'write', deployments: 'write' }, needed).missing).toEqual([
    'pull-requests: write',
  ]);
  expect(comparePermissions({ ...needed, checks: 'write' }, needed).excess).toEqual(['checks: write']);
  expect(
    comparePermissions(
      { ...needed, issues: 'write', 'pull-requests': 'write', contents: 'write' },
      { ...needed, contents: 'read' },
    ).excess,
  ).toEqual(['contents: write (needs only read)']);
});

test('features switched off by their inputs need nothing', () => {
  expect(requiredPermissions('auto-revert', { 'rca-issue': 'false' })).toEqual({});
  expect(
    requiredPermissions('auto-revert', { 'revert-commit': 'true', 'revert-mode': 'push', 'rca-issue': 'false' }),
  ).toEqual({ contents: 'write' });
  // `github-token` defaults to `${{ github.token }}`: unset, it reads the lock holder's run.
  expect(requiredPermissions('ssh-rollout', { hosts: 'web1' })).toEqual({ actions: 'read' });
  expect(requiredPermissions('ssh-rollout', { hosts: 'web1', 'github-token': '' })).toEqual({});
  expect(
    requiredPermissions('ssh-rollout', { environment: 'production', 'github-token': '${{ secrets.DEPLOY_TOKEN }}' }),
  ).toEqual({ deployments: 'write', actions: 'read' });
  expect(requiredPermissions('test-gate', { tree: 'false', 'require-test-for-bug': 'false' })).toEqual({
    checks: 'write',
    statuses: 'write',
    contents: 'read',
    issues: 'write',
  });
  expect(requiredPermissions('metric-watch', { url: 'http://x' })).toEqual({});
});

test('every action has a Permissions line in the README, generated from the same table', () => {
  const readme = readFileSync('README.md', 'utf8');
  for (const action of Object.keys(ACTION_PERMISSIONS)) expect(readme).toContain(permissionsLine(action));
  expect(permissionsLine('ssh-rollout')).toBe(
    [
      "**Permissions** (the job's `permissions:`; the action uses nothing else):",
      '- `deployments: write` with `environment`: records the rollout as a GitHub Deployment, with its statuses.',
      "- `actions: read` with `github-token` (the default): reads the workflow run named in a held deploy lock, so a finished run's lock is taken over at once (without it, after 60 s).",
    ].join('\n'),
  );
});

// bad-release empty means "the release an ssh-rollout of THIS workflow run put there", on a REAL OpenSSH
// fleet, with real ssh-rollouts, a real git repository and the GitHub API stand-in.
//
// The issue this guards: hosts on a healthy v1 (v0 before it), both rolled out by run 1. Run 2's
// ssh-rollout of v2 fails on an input typo (`wave-wait: 5min`) before touching any host; the README's
// `if: failure()` auto-revert step (no bad-release) then switched every host from v1 to v0, marked v1
// bad and reverted the commit. Now: nothing is done anywhere, and it says why.
// Only public surfaces are read: outputs, log text, the job summary, files on the hosts, the remote, the API.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { createClient } from '../../src/github/client.js';
import { autoRevert } from '../../src/revert/main.js';
import { Fleet } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import { runEnv, runUrl } from '../rollout/child-rollout.js';
import { connector, currents, deployLog, makeArtifact, runRollout } from '../rollout/helpers.js';

let fleet: Fleet;
let gh: GitHubApiStandIn;
let tmp: string;

beforeAll(async () => {
  [fleet, gh] = await Promise.all([Fleet.start(3), startGitHubApi()]);
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-this-run-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([fleet?.stop(), gh?.close()]);
  rmSync(tmp, { recursive: true, force: true });
});

const HEALTH = { 'health-command': 'test -f healthy', 'health-timeout': '5s' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

/** A bare remote with `main` and the job's checkout of it; the last commit is the one deployed. */
function repository(name: string): { remote: string; work: string; sha: string } {
  const remote = join(tmp, `${name}.git`);
  const work = join(tmp, `${name}-work`);
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  execFileSync('git', ['clone', '--quiet', remote, work], { stdio: 'ignore' });
  writeFileSync(join(work, 'price.txt'), '10\n');
  git(work, 'add', '.');
  git(work, '-c', 'user.name=D', '-c', 'user.email=d@x', 'commit', '--quiet', '-m', 'initial');
  writeFileSync(join(work, 'price.txt'), '12\n');
  git(work, '-c', 'user.name=D', '-c', 'user.email=d@x', 'commit', '--quiet', '-am', `change for ${name}`);
  git(work, 'push', '--quiet', 'origin', 'main');
  return { remote, work, sha: git(work, 'rev-parse', 'HEAD') };
}

const branches = (remote: string) =>
  git(remote, 'for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n').filter(Boolean);
const badMarks = (i: number) => {
  const dir = fleet.path(i, '/srv/app/.fivestep/bad');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
const writes = () => gh.requestsMatching(/^(POST|PATCH|PUT|DELETE)/).length;

async function rollOut(
  release: string,
  runId: number,
  extra: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
) {
  const artifact = makeArtifact(tmp, release, { healthy: '' });
  return runRollout(
    fleet,
    { artifact, 'release-id': release, waves: '1, 100%', ...HEALTH, ...extra },
    { env: { RUNNER_TEMP: tmp, ...runEnv(runId), ...env } },
  );
}

/** auto-revert as the README wires it (no bad-release), in workflow run `runId`, attempt `attempt`. */
async function revert(
  runId: number,
  attempt: string,
  repo: { work: string; sha: string },
  extra: Record<string, string> = {},
) {
  const logger = new MemoryLogger();
  let summary = '';
  const env = runEnv(runId, {
    GITHUB_RUN_ATTEMPT: attempt,
    GITHUB_SHA: repo.sha,
    GITHUB_REF: 'refs/heads/main',
    GITHUB_API_URL: gh.url,
  });
  const result = await autoRevert(
    objectInputs({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      ...HEALTH,
      reason: 'ssh-rollout failed',
      'revert-commit': 'true',
      'github-token': 'ghs_app_token',
      ...extra,
    }),
    {
      connector,
      logger,
      mask: () => {},
      env,
      cwd: repo.work,
      createClient,
      writeSummary: async (md) => void (summary += md),
    },
  );
  return { result, log: logger.text(), summary };
}

test('run 2 fails on an input typo before touching any host: its auto-revert leaves every host on the healthy v1, marks nothing, reverts no commit, opens no issue, and says why', async () => {
  for (const release of ['v0', 'v1']) {
    const r = await rollOut(release, 1);
    expect({ result: r.outputs.result, failure: r.failure }).toEqual({ result: 'success', failure: undefined });
  }
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);

  await expect(rollOut('v2', 2, { 'wave-wait': '5min' })).rejects.toThrow(/input 'wave-wait'/);
  const logsBefore = [0, 1, 2].map((i) => deployLog(fleet, i));
  expect(logsBefore.flat().filter((e) => e.run === runUrl(2))).toEqual([]);

  const repo = repository('typo');
  const writesBefore = writes();
  const r = await revert(2, '1', repo);
  console.log(`auto-revert after a rollout that reached no host: ${r.result.outputs.result}`);
  expect({
    result: r.result.outputs.result,
    failure: r.result.failure,
    revertedHosts: r.result.outputs['reverted-hosts'],
    revertSha: r.result.outputs['revert-sha'],
    pullRequest: r.result.outputs['pull-request'],
    issue: r.result.outputs.issue,
    currents: currents(fleet),
    badMarks: [0, 1, 2].map(badMarks),
    logs: [0, 1, 2].map((i) => deployLog(fleet, i)),
    apiWrites: writes() - writesBefore,
    branches: branches(repo.remote),
    remoteMain: git(repo.remote, 'rev-parse', 'main'),
  }).toEqual({
    result: 'nothing-to-do',
    failure: undefined,
    revertedHosts: [],
    revertSha: '',
    pullRequest: '',
    issue: '',
    currents: ['v1', 'v1', 'v1'],
    badMarks: [[], [], []],
    logs: logsBefore,
    apiWrites: 0,
    branches: ['main'],
    remoteMain: repo.sha,
  });
  expect(r.log).toContain(
    `Nothing to do: no ssh-rollout of this workflow run (${runUrl(2)}) reached any of the 3 host(s)`,
  );
  expect(r.log).toContain(
    `${fleet.hosts[0].id}: nothing to do: no ssh-rollout of this workflow run (${runUrl(2)}) reached this host; set bad-release to name a release`,
  );
  expect(r.log).toMatch(/Git: [0-9a-f]{40} not reverted: the release reached no host/);
  expect(r.summary).toContain('## auto-revert: nothing-to-do');
  expect(r.summary).toContain('The commit is not reverted: it never ran on a host.');
}, 90_000);

test('run 3 puts v2 on the hosts; its auto-revert (attempt 2) takes v2 off and reverts the commit; a later run and a second attempt change nothing', async () => {
  expect((await rollOut('v2', 3)).outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2']);

  const repo = repository('v2');
  const r = await revert(3, '2', repo);
  expect({
    result: r.result.outputs.result,
    failure: r.result.failure,
    currents: currents(fleet),
    badMarks: [0, 1, 2].map(badMarks),
  }).toEqual({
    result: 'reverted',
    failure: undefined,
    currents: ['v1', 'v1', 'v1'],
    badMarks: [['v2'], ['v2'], ['v2']],
  });
  expect(r.result.outputs['pull-request']).toMatch(/\/pull\/\d+$/);
  expect(branches(repo.remote)).toEqual(['fivestep/revert-' + repo.sha.slice(0, 12), 'main'].sort());
  expect(r.result.outputs.issue).not.toBe('');

  // Run 4 (a later run that rolled nothing out) and run 3 again (attempt 3): nothing changes anywhere.
  const logs = [0, 1, 2].map((i) => deployLog(fleet, i));
  const writesBefore = writes();
  const later = await revert(4, '1', repo);
  const again = await revert(3, '3', repo);
  expect({
    later: later.result.outputs.result,
    again: again.result.outputs.result,
    currents: currents(fleet),
    logs: [0, 1, 2].map((i) => deployLog(fleet, i)),
    apiWrites: writes() - writesBefore,
  }).toEqual({ later: 'nothing-to-do', again: 'nothing-to-do', currents: ['v1', 'v1', 'v1'], logs, apiWrites: 0 });
  expect(later.log).toContain(`no ssh-rollout of this workflow run (${runUrl(4)}) reached any of the 3 host(s)`);
}, 90_000);

test('bad-release named but on no host at all: nothing done, the commit is not reverted (push mode), and it says why', async () => {
  const repo = repository('named');
  const logs = [0, 1, 2].map((i) => deployLog(fleet, i));
  const r = await revert(5, '1', repo, { 'bad-release': 'v9', 'revert-mode': 'push', 'rca-issue': 'false' });
  expect({
    result: r.result.outputs.result,
    failure: r.result.failure,
    currents: currents(fleet),
    logs: [0, 1, 2].map((i) => deployLog(fleet, i)),
    remoteMain: git(repo.remote, 'rev-parse', 'main'),
  }).toEqual({ result: 'nothing-to-do', failure: undefined, currents: ['v1', 'v1', 'v1'], logs, remoteMain: repo.sha });
  expect(r.log).toContain(
    'Nothing to do: release v9 is on none of the 3 host(s) (not current, not on disk, not marked bad, in no deploy log)',
  );
  expect(r.log).toContain('not reverted: the release reached no host');

  // Named and on the hosts (an earlier run's v2, marked bad): the git revert goes ahead as asked.
  const named = await revert(5, '1', repo, { 'bad-release': 'v2', 'revert-mode': 'push', 'rca-issue': 'false' });
  expect({ result: named.result.outputs.result, failure: named.result.failure }).toEqual({
    result: 'reverted',
    failure: undefined,
  });
  expect(git(repo.remote, 'log', '-1', '--format=%s', 'main')).toMatch(/^Revert/);
}, 60_000);

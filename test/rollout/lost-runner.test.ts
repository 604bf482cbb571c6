// A lock outlives a lost runner and is then taken over, end to end on a real sshd fleet: the real ssh-rollout entry
// runs as a child process (as the runner runs it) and is killed with SIGKILL mid-bake, so nothing of
// it cleans up: its locks stay on every host and host 0 stays on a release that never became healthy.
// The next rollout must take the stale lock over (after 60 s without a heartbeat, or at once when the
// GitHub API says the holder's run completed), say so naming the dead run, and name host 0 as
// "never became healthy". A LIVE lock is waited on for lock-timeout only, then refused naming its
// holder and its heartbeat's age. Only public surfaces are read: outputs, log text, files on the hosts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';
import {
  killHard,
  runEnv,
  runRolloutWithSummary,
  runUrl,
  startChildRollout,
  type ChildRollout,
} from './child-rollout.js';
import { currentOf, currents, deployLog, lockHeld, makeArtifact, releasesOf, runRollout, waitFor } from './helpers.js';

let tmp: string;
let gh: GitHubApiStandIn;
const fleets: Fleet[] = [];
const children: ChildRollout[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-lost-runner-'));
  gh = await startGitHubApi();
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await Promise.all(fleets.map((f) => f.stop()));
  await gh?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Each test gets its own fleet, so a lock one test leaves behind cannot decide another. */
async function newFleet(n = 3): Promise<Fleet> {
  const f = await Fleet.start(n);
  fleets.push(f);
  return f;
}

/** `release` on every host, in-process, by run `runId`. */
async function deployEverywhere(fleet: Fleet, release: string, runId: number): Promise<void> {
  const r = await runRollout(
    fleet,
    { artifact: makeArtifact(tmp, release), 'release-id': release },
    { env: { RUNNER_TEMP: tmp, ...runEnv(runId) } },
  );
  expect({ result: r.outputs.result, failure: r.failure }).toEqual({ result: 'success', failure: undefined });
}

/**
 * Starts the entry with `release` in waves `1, 100%` and a 60 s bake, waits until wave 1 (host 0) is
 * on it, then SIGKILLs it. Returns when the process is gone.
 */
async function killMidBake(
  fleet: Fleet,
  release: string,
  runId: number,
  before: string,
): Promise<{ killedAt: number; child: ChildRollout }> {
  const child = startChildRollout(
    fleet,
    tmp,
    { artifact: makeArtifact(tmp, release), 'release-id': release, waves: '1, 100%', 'wave-wait': '60s' },
    runEnv(runId),
  );
  children.push(child);
  await waitFor(
    `host 0 to switch to ${release} (child rollout)`,
    () => currentOf(fleet, 0) === release || !child.running(),
    30_000,
  );
  expect({ running: child.running(), stderr: child.stderr() }).toEqual({ running: true, stderr: expect.any(String) });
  // Wave 1's `switched` line is what tells the next run that host 0 is mid-rollout.
  await waitFor(
    `host 0's deploy log to record ${release} switched`,
    () => deployLog(fleet, 0).some((e) => e.release === release && e.result === 'switched'),
    5_000,
  );
  expect(currents(fleet)).toEqual([release, before, before]);
  await killHard(child);
  const killedAt = Date.now();
  // The situation under test: the dead run's locks are still on every host.
  expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([true, true, true]);
  return { killedAt, child };
}

/** Log lines that contain every needle. */
const linesWith = (log: string, ...needles: string[]): string[] =>
  log.split('\n').filter((l) => needles.every((n) => l.includes(n)));

test('SIGKILLed mid-bake: the next rollout (lock-timeout 3m) takes the stale lock over ~60 s after the last heartbeat, names the dead run and host 0 as never healthy, and finishes', async () => {
  const fleet = await newFleet();
  await deployEverywhere(fleet, 'a-v1', 100);
  const { killedAt } = await killMidBake(fleet, 'a-v2', 111, 'a-v1');

  // Bound the run so a lock that is never taken over fails this test with a clear message, not a jest timeout.
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), 125_000);
  const next = await runRolloutWithSummary(
    fleet,
    { artifact: makeArtifact(tmp, 'a-v3'), 'release-id': 'a-v3', 'lock-timeout': '3m' },
    { env: { RUNNER_TEMP: tmp, ...runEnv(222) }, signal: bound.signal },
  ).finally(() => clearTimeout(timer));
  const afterKillS = Math.round((Date.now() - killedAt) / 100) / 10;
  console.log(
    `lost runner: the next rollout finished ${afterKillS} s after the SIGKILL (result ${next.outputs.result}${bound.signal.aborted ? ', stopped by the test after 125 s' : ''})`,
  );

  const h0 = fleet.hosts[0].id;
  const neverHealthy = linesWith(next.log, 'never became healthy');
  expect({
    result: next.outputs.result,
    failure: next.failure,
    currents: currents(fleet),
    locksLeft: fleet.hosts.map((_, i) => lockHeld(fleet, i)),
    // Stale 60 s after the last renewal (the child renewed at most ~20 s before it died, most likely at its start).
    finishedBetween50And95sAfterTheKill: afterKillS >= 50 && afterKillS <= 95,
    tookOverNamingTheDeadRun: linesWith(next.log, 'took over', runUrl(111)).length > 0,
    preflightNamesHost0OnNeverHealthyV2: neverHealthy.some((l) => l.includes(h0) && l.includes('a-v2')),
    preflightNamesNoHostOnA_v1: neverHealthy.some((l) => fleet.hosts.slice(1).some((h) => l.includes(h.id))),
    summaryMentionsIt: next.summary.includes('never became healthy') && next.summary.includes(h0),
  }).toEqual({
    result: 'success',
    failure: undefined,
    currents: ['a-v3', 'a-v3', 'a-v3'],
    locksLeft: [false, false, false],
    finishedBetween50And95sAfterTheKill: true,
    tookOverNamingTheDeadRun: true,
    preflightNamesHost0OnNeverHealthyV2: true,
    preflightNamesNoHostOnA_v1: false,
    summaryMentionsIt: true,
  });
}, 200_000);

test('SIGKILLed mid-bake, and the GitHub API says its run completed: the lock is stale at once, taken over within ~15 s', async () => {
  // The stand-in answers GET /repos/{o}/{r}/actions/runs/{id} from seeded runs.
  gh.seedWorkflowRun('acme/shop', { id: 111, status: 'completed', conclusion: 'cancelled' });

  const fleet = await newFleet();
  await deployEverywhere(fleet, 'b-v1', 100);
  const { killedAt } = await killMidBake(fleet, 'b-v2', 111, 'b-v1');

  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), 45_000);
  const next = await runRolloutWithSummary(
    fleet,
    { artifact: makeArtifact(tmp, 'b-v3'), 'release-id': 'b-v3', 'lock-timeout': '3m', 'github-token': 'test-token' },
    { env: { RUNNER_TEMP: tmp, ...runEnv(223, { GITHUB_API_URL: gh.url }) }, signal: bound.signal },
  ).finally(() => clearTimeout(timer));
  const afterKillS = Math.round((Date.now() - killedAt) / 100) / 10;
  console.log(
    `lost runner, run completed per the API: the next rollout finished ${afterKillS} s after the SIGKILL (result ${next.outputs.result})`,
  );

  expect({
    result: next.outputs.result,
    failure: next.failure,
    currents: currents(fleet),
    locksLeft: fleet.hosts.map((_, i) => lockHeld(fleet, i)),
    finishedWithin15sOfTheKill: afterKillS <= 15,
    askedGitHubAboutRun111: gh.requestsMatching(/^GET \/repos\/acme\/shop\/actions\/runs\/111$/).length > 0,
    tookOverNamingTheDeadRun: linesWith(next.log, 'took over', runUrl(111)).length > 0,
  }).toEqual({
    result: 'success',
    failure: undefined,
    currents: ['b-v3', 'b-v3', 'b-v3'],
    locksLeft: [false, false, false],
    finishedWithin15sOfTheKill: true,
    askedGitHubAboutRun111: true,
    tookOverNamingTheDeadRun: true,
  });
}, 120_000);

test('a live lock (its holder baking) is waited on for lock-timeout, then refused naming the holder and its heartbeat age; the holder finishes unaffected', async () => {
  const fleet = await newFleet();
  await deployEverywhere(fleet, 'c-v1', 300);

  const first = runRollout(
    fleet,
    { artifact: makeArtifact(tmp, 'c-v2'), 'release-id': 'c-v2', waves: '1, 100%', 'wave-wait': '12s' },
    { env: { RUNNER_TEMP: tmp, ...runEnv(301) } },
  );
  await waitFor('host 0 to switch to c-v2 (the first rollout)', () => currentOf(fleet, 0) === 'c-v2', 30_000);

  const t0 = Date.now();
  const second = await runRollout(
    fleet,
    { artifact: makeArtifact(tmp, 'c-v3'), 'release-id': 'c-v3', 'lock-timeout': '2s' },
    { env: { RUNNER_TEMP: tmp, ...runEnv(302) } },
  );
  const waitedMs = Date.now() - t0;
  // Still baking when refused: the refusal is the lock's doing, not the first run having finished.
  const duringTheBake = currents(fleet);
  const firstRun = await first;

  const told = [second.failure ?? '', ...second.outputs['failed-hosts'].map((f) => f.reason), second.log].join('\n');
  const c3Lines = fleet.hosts.flatMap((_, i) => deployLog(fleet, i).filter((e) => e.release === 'c-v3'));
  expect({
    secondResult: second.outputs.result,
    secondUpdated: second.outputs['updated-hosts'],
    waitedAboutLockTimeout: waitedMs >= 2000 && waitedMs < 10_000,
    duringTheBake,
    namesTheHolder: told.includes(runUrl(301)),
    saysHowOldItsHeartbeatIs: /heartbeat .*\d+ ?s/.test(told),
    c3StagedOrLoggedAnywhere: c3Lines.length > 0 || fleet.hosts.some((_, i) => releasesOf(fleet, i).includes('c-v3')),
  }).toEqual({
    secondResult: expect.not.stringMatching(/^success$/),
    secondUpdated: [],
    waitedAboutLockTimeout: true,
    duringTheBake: ['c-v2', 'c-v1', 'c-v1'],
    namesTheHolder: true,
    saysHowOldItsHeartbeatIs: true,
    c3StagedOrLoggedAnywhere: false,
  });
  expect({
    result: firstRun.outputs.result,
    failure: firstRun.failure,
    currents: currents(fleet),
    locksLeft: fleet.hosts.map((_, i) => lockHeld(fleet, i)),
  }).toEqual({
    result: 'success',
    failure: undefined,
    currents: ['c-v2', 'c-v2', 'c-v2'],
    locksLeft: [false, false, false],
  });
}, 90_000);

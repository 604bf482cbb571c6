// The release ledger, end to end on a real sshd fleet: each host's append-only deploy log says
// what happened to every release there (staged, switched, healthy, failed, bad), and auto-revert and
// pruning decide from it. The history built here, in order:
//   v1 rolled out (healthy) · v2 rolled out and reverted (its health check fails) · v3 rolled out by the
//   real entry as a child process, SIGKILLed after wave 1 (host 0) switched: it never finished
// then auto-revert in a later run with empty bad-release must leave v3 alone (an earlier run put it
// there), and with bad-release v3 and empty to-release must take v3 off host 0 and land on v1, the
// newest HEALTHY release (not v2, which is newer but failed), and a v4 rollout with keep-releases 1
// prunes the failed and bad releases but keeps the newest healthy release besides the current one.
// Only public surfaces are read: outputs, log text, files on the hosts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import { autoRevert } from '../../src/revert/main.js';
import { Fleet } from '../servers/fleet.js';
import {
  killHard,
  runEnv,
  runRolloutWithSummary,
  startChildRollout,
  type ChildRollout,
} from '../rollout/child-rollout.js';
import {
  connector,
  currentOf,
  currents,
  deployLog,
  makeArtifact,
  releasesOf,
  runRollout,
  waitFor,
} from '../rollout/helpers.js';

let tmp: string;
const fleets: Fleet[] = [];
const children: ChildRollout[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-ledger-'));
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  await Promise.all(fleets.map((f) => f.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

const HEALTH = { 'health-command': 'test -f healthy', 'health-timeout': '2s' };

/** An artifact whose health check passes (it holds `healthy`) or fails. */
function artifact(release: string, healthy: boolean): string {
  const dir = makeArtifact(tmp, release);
  if (healthy) writeFileSync(join(dir, 'healthy'), '');
  return dir;
}

/** The expected entries (matched by the fields given) that do not occur in `log` in this order. */
function missingInOrder(log: DeployLogEntry[], expected: Partial<DeployLogEntry>[]): Partial<DeployLogEntry>[] {
  let at = 0;
  for (const [k, want] of expected.entries()) {
    const found = log.findIndex(
      (e, i) => i >= at && Object.entries(want).every(([f, v]) => (e as unknown as Record<string, unknown>)[f] === v),
    );
    if (found < 0) return expected.slice(k);
    at = found + 1;
  }
  return [];
}

/** Starts the real entry with `release` (waves `1, 100%`, 60 s bake) and SIGKILLs it once host 0 has switched. */
async function killAfterWave1(
  fleet: Fleet,
  release: string,
  runId: number,
  inputs: Record<string, string> = {},
): Promise<void> {
  const child = startChildRollout(
    fleet,
    tmp,
    {
      artifact: artifact(release, true),
      'release-id': release,
      waves: '1, 100%',
      'wave-wait': '60s',
      ...HEALTH,
      ...inputs,
    },
    runEnv(runId),
  );
  children.push(child);
  await waitFor(
    `host 0 to switch to ${release} (child rollout)`,
    () => currentOf(fleet, 0) === release || !child.running(),
    30_000,
  );
  expect({ running: child.running(), stderr: child.stderr() }).toEqual({ running: true, stderr: expect.any(String) });
  await waitFor(
    `host 0's deploy log to record ${release} switched`,
    () => deployLog(fleet, 0).some((e) => e.release === release && e.result === 'switched'),
    5_000,
  );
  await killHard(child);
}

/** auto-revert in workflow run `env` (default: run 444, a later run that rolled nothing out). */
async function revert(fleet: Fleet, extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = runEnv(444)) {
  const logger = new MemoryLogger();
  let summary = '';
  const result = await autoRevert(
    objectInputs({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      ...HEALTH,
      'health-timeout': '5s',
      'rca-issue': 'false',
      reason: 'error rate above 5%',
      ...extra,
    }),
    { connector, logger, mask: () => {}, env, writeSummary: async (md) => void (summary += md) },
  );
  return { result, log: logger.text(), summary };
}

describe('a history of healthy, reverted and killed rollouts on 3 hosts', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await Fleet.start(3);
    fleets.push(fleet);
  });

  test("auto-revert of a later run leaves the dead run's v3 alone unless named; named (empty to-release) it takes v3 off host 0 and lands on v1, the newest healthy release, not the failed v2", async () => {
    const env = { RUNNER_TEMP: tmp, ...runEnv(111) };
    const v1 = await runRollout(
      fleet,
      { artifact: artifact('v1', true), 'release-id': 'v1', waves: '1, 100%', ...HEALTH },
      { env },
    );
    expect({ result: v1.outputs.result, failure: v1.failure }).toEqual({ result: 'success', failure: undefined });

    const v2 = await runRollout(
      fleet,
      { artifact: artifact('v2', false), 'release-id': 'v2', waves: '1, 100%', ...HEALTH },
      { env: { ...env, GITHUB_RUN_ID: '222' } },
    );
    expect({ result: v2.outputs.result, currents: currents(fleet) }).toEqual({
      result: 'reverted',
      currents: ['v1', 'v1', 'v1'],
    });

    await killAfterWave1(fleet, 'v3', 333);
    expect(currents(fleet)).toEqual(['v3', 'v1', 'v1']);
    // A killed rollout leaves `switched` without `healthy`/`failed` for its release.
    expect(
      deployLog(fleet, 0).filter(
        (e) => e.release === 'v3' && e.action === 'rollout' && (e.result === 'healthy' || e.result === 'failed'),
      ),
    ).toEqual([]);
    // A later run's auto-revert with bad-release empty: v3 was put there by run 333, not by run 444.
    const ledgers = [0, 1, 2].map((i) => deployLog(fleet, i));
    const later = await revert(fleet);
    expect({
      result: later.result.outputs.result,
      failure: later.result.failure,
      currents: currents(fleet),
      ledgers: [0, 1, 2].map((i) => deployLog(fleet, i)),
    }).toEqual({
      result: 'nothing-to-do',
      failure: undefined,
      currents: ['v3', 'v1', 'v1'],
      ledgers,
    });
    expect(later.log).toContain(
      'no ssh-rollout of this workflow run (https://github.com/acme/shop/actions/runs/444) reached any of the 3 host(s)',
    );

    const before = [1, 2].map((i) => deployLog(fleet, i).length);
    const addedSince = (i: number, k: number) =>
      deployLog(fleet, i)
        .slice(before[k])
        .map((e) => `${e.action} ${e.release} ${e.result}`);

    // As the preflight warning says: name the dead run's release.
    const r = await revert(fleet, { 'bad-release': 'v3' });
    console.log(
      `auto-revert after the killed v3: ${r.result.outputs.result} ${JSON.stringify(r.result.outputs['reverted-to'])}`,
    );
    const h0 = fleet.hosts[0].id;
    expect({
      result: r.result.outputs.result,
      failure: r.result.failure,
      revertedHosts: r.result.outputs['reverted-hosts'],
      revertedTo: r.result.outputs['reverted-to'],
      currents: currents(fleet),
      // Hosts 1 and 2 never ran v3 (only staged it): nothing to do there. Marking v3 bad where it is
      // staged is allowed (the bad release is marked bad on every host that has it); any other line is not.
      ledgerLinesAddedOnHosts1And2BesidesV3Bad: [1, 2].map((i, k) =>
        addedSince(i, k).filter((l) => l !== 'revert v3 bad'),
      ),
    }).toEqual({
      result: 'reverted',
      failure: undefined,
      revertedHosts: [h0],
      revertedTo: { [h0]: 'v1' },
      currents: ['v1', 'v1', 'v1'],
      ledgerLinesAddedOnHosts1And2BesidesV3Bad: [[], []],
    });

    // Host 0's ledger, in order: v1 healthy, v2 failed, v3 switched (never finished), then v3 marked bad.
    expect(
      missingInOrder(deployLog(fleet, 0), [
        { action: 'rollout', release: 'v1', result: 'staged' },
        { action: 'rollout', release: 'v1', result: 'switched' },
        { action: 'rollout', release: 'v1', result: 'healthy' },
        { action: 'rollout', release: 'v2', result: 'staged' },
        { action: 'rollout', release: 'v2', result: 'switched' },
        { action: 'rollout', release: 'v2', result: 'failed' },
        { action: 'rollout', release: 'v3', result: 'staged' },
        { action: 'rollout', release: 'v3', result: 'switched' },
        { action: 'revert', release: 'v3', result: 'bad' },
      ]),
    ).toEqual([]);
    // Hosts 1 and 2 staged v2 (staging is everywhere before any switch) but were never switched to it.
    for (const i of [1, 2]) {
      const v2Events = deployLog(fleet, i)
        .filter((e) => e.release === 'v2')
        .map((e) => e.result);
      expect({
        host: i,
        staged: v2Events.includes('staged'),
        switched: v2Events.includes('switched'),
        healthy: v2Events.includes('healthy'),
      }).toEqual({
        host: i,
        staged: true,
        switched: false,
        healthy: false,
      });
    }
  }, 90_000);

  test('v4 with keep-releases 1: success; failed v2 and bad/never-switched v3 pruned; v1 (newest healthy besides current, and previous) kept', async () => {
    // The killed v3 run's locks are still on the hosts: lock-timeout covers their 60 s to go stale.
    const t0 = Date.now();
    const bound = new AbortController();
    const timer = setTimeout(() => bound.abort(), 120_000);
    const v4 = await runRolloutWithSummary(
      fleet,
      {
        artifact: artifact('v4', true),
        'release-id': 'v4',
        waves: '1, 100%',
        ...HEALTH,
        'keep-releases': '1',
        'lock-timeout': '3m',
      },
      { env: { RUNNER_TEMP: tmp, ...runEnv(555) }, signal: bound.signal },
    ).finally(() => clearTimeout(timer));
    console.log(`v4 after the dead v3 run: ${v4.outputs.result} in ${Math.round((Date.now() - t0) / 1000)} s`);
    expect({ result: v4.outputs.result, failure: v4.failure, currents: currents(fleet) }).toEqual({
      result: 'success',
      failure: undefined,
      currents: ['v4', 'v4', 'v4'],
    });
    expect(fleet.hosts.map((_, i) => releasesOf(fleet, i))).toEqual([
      ['v1', 'v4'],
      ['v1', 'v4'],
      ['v1', 'v4'],
    ]);
    for (const i of [0, 1, 2])
      expect(
        deployLog(fleet, i)
          .filter((e) => e.release === 'v4')
          .map((e) => e.result),
      ).toEqual(['staged', 'switched', 'healthy']);
  }, 150_000);
});

test('a fresh host whose only rollout was killed after its switch has no healthy release: auto-revert of that run (attempt 2, bad-release empty) reports it and leaves it as it is', async () => {
  const fleet = await Fleet.start(2);
  fleets.push(fleet);
  await killAfterWave1(fleet, 'f1', 666);
  expect(currents(fleet)).toEqual(['f1', '']);
  const logsBefore = [0, 1].map((i) => deployLog(fleet, i).filter((e) => e.result !== 'bad'));

  // A re-run of the killed run: every attempt shares the run URL the ledger records.
  const r = await revert(fleet, {}, runEnv(666, { GITHUB_RUN_ATTEMPT: '2' }));
  const h0 = fleet.hosts[0].id;
  const told = `${r.result.failure ?? ''}\n${r.log}`;
  console.log(`auto-revert on a host with no healthy release: ${r.result.outputs.result}; ${r.result.failure}`);
  expect({
    result: r.result.outputs.result,
    revertedHosts: r.result.outputs['reverted-hosts'],
    currents: currents(fleet),
    reportsHost0WithNoHealthyRelease: told.split('\n').some((l) => l.includes(h0) && /no healthy release/i.test(l)),
    // Nothing but (at most) a `bad` mark is added to either ledger: no switch, no reload.
    ledgersOtherwiseUnchanged: [0, 1].map((i) => deployLog(fleet, i).filter((e) => e.result !== 'bad')),
  }).toEqual({
    result: 'failed',
    revertedHosts: [],
    currents: ['f1', ''],
    reportsHost0WithNoHealthyRelease: true,
    ledgersOtherwiseUnchanged: logsBefore,
  });
}, 60_000);

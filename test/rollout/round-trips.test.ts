// The round-trip budget of a rollout, measured: on a real network a rollout's time is its sequential round trips
// times the RTT, so each one saved is time a user gets back per host and per wave. Three real OpenSSH hosts, each
// behind its own latency proxy (test/servers/latency-proxy.ts), get the same rollout at RTT 0 and at RTT 400 ms;
// the difference divided by the RTT is the number of round trips on the rollout's critical path.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RolloutReport } from '../../src/rollout/record.js';
import { Fleet } from '../servers/fleet.js';
import { startLatencyProxies, type LatencyProxies } from '../servers/latency-proxy.js';
import { currents, makeArtifact, runRollout } from './helpers.js';

const ONE_WAY_MS = 200;
const RTT = 2 * ONE_WAY_MS;
/** The issue's budget for a rollout in three waves of one host. */
const BUDGET = 20;

let tmp: string;
let fleet: Fleet;
let proxies: LatencyProxies;
/** The rollout inputs that reach the hosts through their proxies. */
let through: Record<string, string>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-round-trips-'));
  fleet = await Fleet.start(3);
  proxies = await startLatencyProxies(
    fleet.hosts.map((h) => ({ host: h.host, port: h.port })),
    0,
  );
  through = {
    hosts: proxies.ports.map((p) => `${fleet.user}@127.0.0.1:${p}`).join('\n'),
    // Each host's own key, under the name the runner dials.
    'known-hosts': fleet.hosts
      .map((h, i) => `[127.0.0.1]:${proxies.ports[i]} ${h.hostKey.split(/\s+/).slice(0, 2).join(' ')}\n`)
      .join(''),
  };
}, 30_000);

afterAll(async () => {
  await proxies?.close();
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  wallMs: number;
  report: RolloutReport;
}

/** Rolls `release` out to the three hosts, one a wave, at the given one-way delay; the wall time and the report. */
async function rollout(release: string, oneWayMs: number): Promise<Run> {
  await proxies.setDelay(oneWayMs);
  const start = performance.now();
  const run = await runRollout(fleet, {
    ...through,
    artifact: makeArtifact(tmp, release, { 'index.html': `<h1>${release}</h1>\n` }),
    'release-id': release,
    waves: '1, 1, 1',
    'wave-wait': '0',
    // The whole artifact, as the issue's rollout (and the bench) sends it: delta staging's compare is 2 more.
    delta: 'false',
    'reload-command': 'echo "$RELEASE_ID" > "$DEPLOY_PATH/reloaded"',
    'health-command': 'test -s version',
  });
  const wallMs = performance.now() - start;
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual([release, release, release]);
  return { wallMs, report: run.report };
}

/** The run that took least time: a busy machine only ever adds time. */
const fastest = (rs: Run[]) => rs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));

test(`a rollout in 3 waves of 1 host takes at most ${BUDGET} sequential round trips`, async () => {
  // The first release takes the first-deploy path (no `current` yet); the measured ones all replace one. Each RTT
  // is run twice and the faster run kept, so a moment of load on the machine does not count as round trips.
  await rollout('r1', 0);
  const nearRuns = [await rollout('r2', 0), await rollout('r3', 0)];
  const farRuns = [await rollout('r4', ONE_WAY_MS), await rollout('r5', ONE_WAY_MS)];
  const near = fastest(nearRuns);
  const far = fastest(farRuns);

  const roundTrips = (far.wallMs - near.wallMs) / RTT;
  // Each host's steps at RTT 400, in round trips from the start (a step that took no round trip was joined).
  const t0 = Date.parse(far.report.startedAt);
  const at = (ms: number) => ((ms - t0) / RTT).toFixed(1);
  const timeline = far.report.hosts.map(
    (h) => `  ${h.host}: ${h.steps.map((s) => `${s.name} ${at(s.start)}–${at(s.end)}`).join(', ')}`,
  );
  console.log(
    `rollout, 3 waves of 1 host: ${Math.round(near.wallMs)} ms at RTT 0, ${Math.round(far.wallMs)} ms at ` +
      `RTT ${RTT} ms → ${roundTrips.toFixed(1)} sequential round trips (budget ${BUDGET})\n${timeline.join('\n')}`,
  );
  expect(roundTrips).toBeLessThanOrEqual(BUDGET);
  // The proxies are on the path (each wave waits at least once): the figure measures something.
  expect(roundTrips).toBeGreaterThanOrEqual(3);

  // Every host went through the usual steps, each a success, at both RTTs, and is on the new release.
  for (const { report } of [...nearRuns, ...farRuns]) {
    expect(report.waves.map((w) => w.hosts.length)).toEqual([1, 1, 1]);
    for (const host of report.hosts) {
      expect(host.outcome).toBe('updated');
      expect(host.steps.filter((s) => !s.ok)).toEqual([]);
      expect(host.steps.map((s) => s.name)).toEqual([
        'connect',
        'lock',
        'state',
        'upload',
        'unpack',
        'switch',
        'reload',
        'health',
        'record',
      ]);
    }
  }
  for (let i = 0; i < 3; i++) {
    expect(readFileSync(fleet.path(i, '/srv/app/current/version'), 'utf8')).toBe('r5\n');
    expect(readFileSync(fleet.path(i, '/srv/app/reloaded'), 'utf8')).toBe('r5\n');
  }
}, 60_000);

// `fivestep` as a user runs it: `node dist/cli/index.js <command>` as a child process with a clean environment,
// against a real OpenSSH fleet on loopback. Each test reads only what a user sees: the exit status, stdout (the
// outputs), stderr (the log and the rendered summary), and the files on the hosts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { killOnExit } from '../servers/child-processes.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, type PrometheusServer } from '../servers/prometheus.js';
import { killHard, runEnv, runUrl, startChildRollout, type ChildRollout } from '../rollout/child-rollout.js';
import { currentOf, currents, deployLog, lockHeld, makeArtifact, releasesOf, waitFor } from '../rollout/helpers.js';

const node = process.env.FIVESTEP_NODE || process.execPath;
const CLI = join(process.cwd(), 'dist', 'cli', 'index.js');

let tmp: string;
const fleets: Fleet[] = [];
const children: ChildRollout[] = [];
const clis: ChildProcess[] = [];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-cli-'));
});
afterAll(async () => {
  for (const c of children) await killHard(c);
  for (const c of clis) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(fleets.map((f) => f.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function newFleet(n = 3): Promise<Fleet> {
  const f = await Fleet.start(n);
  fleets.push(f);
  return f;
}

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  cwd?: string;
  /** Added to the clean environment (PATH, HOME, RUNNER_TEMP). */
  env?: NodeJS.ProcessEnv;
}

/** `node dist/cli/index.js …` started as a user would, with a clean environment (no GITHUB_* unless given). */
function startCli(
  args: string[],
  o: CliOptions = {},
): { child: ChildProcess; done: Promise<CliRun>; stderr: () => string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, RUNNER_TEMP: tmp, ...o.env };
  const child = spawn(node, [CLI, ...args], { cwd: o.cwd ?? tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  clis.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, stderr: () => stderr };
}

const cli = (args: string[], o: CliOptions = {}): Promise<CliRun> => startCli(args, o).done;

/** `name=value` lines of stdout. */
function outputsOf(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([a-z][a-z-]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** What the run shows, in one object, so a failing assertion prints the log that explains it. */
const shown = (r: CliRun) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });

/** YAML block scalar lines (`|`) of a multi-line value, indented for a `with:` block. */
const block = (text: string, indent = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `${indent}${l}`)
    .join('\n');

/**
 * A directory holding `deploy.yml` (a whole workflow step pasted: uses + with) and the private key it reads
 * with `private-key-file: key`, next to it. `extra` is added to the with: block (`key: value` lines).
 */
function configDir(fleet: Fleet, extra: string[] = [], hostsKey = 'hosts'): string {
  const dir = mkdtempSync(join(tmp, 'config-'));
  writeFileSync(join(dir, 'key'), fleet.clientKey, { mode: 0o600 });
  const yaml = [
    'name: Deploy',
    'uses: acme/fivestep/actions/ssh-rollout@v1',
    'with:',
    `  ${hostsKey}: |`,
    block(fleet.hostsInput),
    '  private-key-file: key',
    '  known-hosts: |',
    block(fleet.knownHosts()),
    '  deploy-path: /srv/app',
    '  waves: 1, 100%',
    '  wave-wait: 0',
    ...extra.map((l) => `  ${l}`),
  ];
  writeFileSync(join(dir, 'deploy.yml'), `${yaml.join('\n')}\n`);
  return dir;
}

/** `fivestep rollout` of `release` with the fleet's config; must succeed. */
async function deploy(dir: string, release: string, sets: string[] = []): Promise<CliRun> {
  const r = await cli(
    [
      'rollout',
      '--config',
      'deploy.yml',
      '--set',
      `artifact=${makeArtifact(tmp, release)}`,
      '--set',
      `release-id=${release}`,
      ...sets.flatMap((s) => ['--set', s]),
    ],
    { cwd: dir },
  );
  expect({ ...shown(r), result: outputsOf(r.stdout).result }).toEqual({ ...shown(r), code: 0, result: 'success' });
  return r;
}

/** Rewrites each host's lock heartbeat (line 3 of the owner file, epoch seconds) to `secondsAgo` ago. */
function ageLocks(fleet: Fleet, secondsAgo: number): void {
  for (let i = 0; i < fleet.hosts.length; i++) {
    const file = fleet.path(i, '/srv/app/.fivestep/lock/owner');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[2] = String(Math.floor(Date.now() / 1000) - secondsAgo);
    writeFileSync(file, lines.join('\n'));
  }
}

const badMarker = (fleet: Fleet, i: number, release: string) => fleet.path(i, `/srv/app/.fivestep/bad/${release}`);

/** Who `fivestep unlock` says removed a lock: the login of the machine it runs on. */
const unlockedBy = `fivestep unlock by ${userInfo().username}@${hostname()}`;

/** The status table row of a host (the line that starts with its id). */
const rowOf = (stdout: string, id: string) => stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';

interface StatusJson {
  deployPath: string;
  hosts: {
    host: string;
    exists: boolean;
    current: string;
    currentStatus: string;
    currentProblem: string;
    previousHealthy: string;
    releases: { id: string; status: string }[];
    lock: { holder: string; ageSec: number; stale: boolean } | null;
    error?: string;
  }[];
}

test('rollout from a pasted workflow step: every host on v1, outputs on stdout, the summary on stderr, the key never shown', async () => {
  const fleet = await newFleet();
  const dir = configDir(fleet);
  const r = await deploy(dir, 'v1');
  const out = outputsOf(r.stdout);
  const keyLines = fleet.clientKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
  expect({
    result: out.result,
    releaseId: out['release-id'],
    updated: JSON.parse(out['updated-hosts'] ?? 'null'),
    currents: currents(fleet),
    summaryHeading: r.stderr.split('\n').some((l) => /^\s*ssh-rollout v1\b/.test(l)),
    keyShown: keyLines.some((l) => r.stdout.includes(l) || r.stderr.includes(l)),
  }).toEqual({
    result: 'success',
    releaseId: 'v1',
    updated: fleet.hosts.map((h) => h.id),
    currents: ['v1', 'v1', 'v1'],
    summaryHeading: true,
    keyShown: false,
  });

  // From another directory: private-key-file is read relative to the config, not to the working directory.
  const j = await cli(
    [
      'rollout',
      '--json',
      '--config',
      join(dir, 'deploy.yml'),
      '--set',
      `artifact=${makeArtifact(tmp, 'v2')}`,
      '--set',
      'release-id=v2',
    ],
    { cwd: tmp },
  );
  expect(shown(j)).toEqual({ ...shown(j), code: 0 });
  const lines = j.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const json = JSON.parse(lines[0]) as Record<string, unknown>;
  expect({ result: json.result, updated: json['updated-hosts'], currents: currents(fleet) }).toEqual({
    result: 'success',
    updated: expect.arrayContaining(fleet.hosts.map((h) => h.id)),
    currents: ['v2', 'v2', 'v2'],
  });
  expect(keyLines.some((l) => j.stdout.includes(l) || j.stderr.includes(l))).toBe(false);
}, 60_000);

test("a config key that is no input ('host:') is an input error naming the near miss, and touches no host; an unknown command is a usage error", async () => {
  const fleet = await newFleet(2);
  const dir = configDir(fleet, [], 'host');
  const r = await cli(
    ['rollout', '--config', 'deploy.yml', '--set', `artifact=${makeArtifact(tmp, 'v1')}`, '--set', 'release-id=v1'],
    { cwd: dir },
  );
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  expect(r.stderr).toContain("input 'host': is not an input of any fivestep action (did you mean 'hosts'?)");
  expect(fleet.hosts.map((_, i) => [releasesOf(fleet, i), existsSync(fleet.path(i, '/srv/app'))])).toEqual([
    [[], false],
    [[], false],
  ]);

  const u = await cli(['deploy']);
  expect({ code: u.code, stdout: u.stdout }).toEqual({ code: 2, stdout: '' });
  expect(u.stderr).toContain("unknown command 'deploy'");
}, 60_000);

describe('a lost runner (SIGKILLed mid-bake)', () => {
  let fleet: Fleet;
  let dir: string;
  const holder = runUrl(111);

  beforeAll(async () => {
    fleet = await newFleet();
    dir = configDir(fleet);
    await deploy(dir, 'v1');
    const child = startChildRollout(
      fleet,
      tmp,
      { artifact: makeArtifact(tmp, 'v2'), 'release-id': 'v2', waves: '1, 100%', 'wave-wait': '60s' },
      runEnv(111),
    );
    children.push(child);
    await waitFor(
      'host 0 to switch to v2 (child rollout)',
      () => currentOf(fleet, 0) === 'v2' || !child.running(),
      30_000,
    );
    await waitFor(
      "host 0's deploy log to record v2 switched",
      () => deployLog(fleet, 0).some((e) => e.release === 'v2' && e.result === 'switched') || !child.running(),
      5_000,
    );
    expect({ running: child.running(), stderr: child.stderr() }).toEqual({ running: true, stderr: expect.any(String) });
    await killHard(child);
    expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([true, true, true]);
  }, 60_000);

  test('status shows the live lock, then (heartbeat 120 s old) the STALE lock of the dead run and host 0 on v2 switched', async () => {
    const h0 = fleet.hosts[0].id;
    const live = await cli(['status', '--config', 'deploy.yml'], { cwd: dir });
    expect({ code: live.code, row0: rowOf(live.stdout, h0) }).toEqual({
      code: 0,
      row0: expect.stringMatching(
        /v2 \(switched\)\s+v1\s.*live: https:\/\/github\.com\/acme\/shop\/actions\/runs\/111/,
      ),
    });
    for (const h of fleet.hosts) expect(rowOf(live.stdout, h.id)).toContain(`live: ${holder}, heartbeat`);
    expect(live.stdout).not.toContain('STALE');

    ageLocks(fleet, 120);
    const stale = await cli(['status', '--config', 'deploy.yml'], { cwd: dir });
    expect({ code: stale.code, row0: rowOf(stale.stdout, h0) }).toEqual({
      code: 0,
      row0: expect.stringMatching(
        /v2 \(switched\)\s+v1\s.*STALE: https:\/\/github\.com\/acme\/shop\/actions\/runs\/111/,
      ),
    });
    for (const h of fleet.hosts.slice(1)) expect(rowOf(stale.stdout, h.id)).toMatch(/v1 \(healthy\).*STALE: /);

    const j = await cli(['status', '--json', '--config', 'deploy.yml'], { cwd: dir });
    expect(j.code).toBe(0);
    const status = JSON.parse(j.stdout) as StatusJson;
    expect(status.deployPath).toBe('/srv/app');
    expect(status.hosts.map((h) => h.host)).toEqual(fleet.hosts.map((h) => h.id));
    const [s0, s1] = status.hosts;
    expect({
      current: s0.current,
      currentStatus: s0.currentStatus,
      previousHealthy: s0.previousHealthy,
      releases: s0.releases,
      lock: s0.lock,
      error: s0.error,
    }).toEqual({
      current: 'v2',
      currentStatus: 'switched',
      previousHealthy: 'v1',
      releases: [
        { id: 'v2', status: 'switched' },
        { id: 'v1', status: 'healthy' },
      ],
      lock: { holder, ageSec: expect.any(Number), stale: true },
      error: undefined,
    });
    expect(s0.lock!.ageSec).toBeGreaterThanOrEqual(120);
    expect({ current: s1.current, currentStatus: s1.currentStatus, stale: s1.lock?.stale }).toEqual({
      current: 'v1',
      currentStatus: 'healthy',
      stale: true,
    });
  }, 60_000);

  test('unlock leaves a live lock, removes the stale ones (ledger line naming the holder), and a rollout gets in', async () => {
    // Fresh again: the run could still be going as far as unlock knows.
    ageLocks(fleet, 5);
    const ids = fleet.hosts.map((h) => h.id);
    const left = await cli(['unlock', '--config', 'deploy.yml'], { cwd: dir });
    expect({ code: left.code, out: outputsOf(left.stdout) }).toEqual({
      code: 1,
      out: { removed: '[]', live: JSON.stringify(ids) },
    });
    expect(left.stderr).toContain(`left the LIVE lock of ${holder}`);
    expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([true, true, true]);

    ageLocks(fleet, 120);
    const removed = await cli(['unlock', '--config', 'deploy.yml'], { cwd: dir });
    expect({ code: removed.code, out: outputsOf(removed.stdout) }).toEqual({
      code: 0,
      out: { removed: JSON.stringify(ids), live: '[]' },
    });
    expect(removed.stderr).toContain(`removed the stale lock of ${holder}`);
    expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([false, false, false]);
    for (let i = 0; i < fleet.hosts.length; i++) {
      const last = deployLog(fleet, i).at(-1)!;
      expect({ action: last.action, result: last.result, run: last.run, reason: last.reason }).toEqual({
        action: 'unlock',
        result: 'unlocked',
        run: unlockedBy,
        reason: expect.stringMatching(
          new RegExp(
            `^removed the stale lock of ${holder.replace(/[./]/g, '\\$&')} \\(last heartbeat 1[23]\\ds ago\\)$`,
          ),
        ),
      });
    }

    await deploy(dir, 'v3', ['lock-timeout=0']);
    expect(currents(fleet)).toEqual(['v3', 'v3', 'v3']);
    expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([false, false, false]);
  }, 60_000);
});

test('unlock --force removes the LIVE lock of a running rollout, and says so in the ledger', async () => {
  const fleet = await newFleet(2);
  const dir = configDir(fleet);
  const child = startChildRollout(
    fleet,
    tmp,
    { artifact: makeArtifact(tmp, 'f1'), 'release-id': 'f1', waves: '1, 100%', 'wave-wait': '60s' },
    runEnv(333),
  );
  children.push(child);
  await waitFor(
    'the child rollout to hold both locks and switch host 0',
    () => {
      if (!child.running()) throw new Error(`the child rollout ended: ${child.stderr()}${child.stdout()}`);
      return currentOf(fleet, 0) === 'f1' && lockHeld(fleet, 0) && lockHeld(fleet, 1);
    },
    30_000,
  );
  const r = await cli(['unlock', '--force', '--config', 'deploy.yml'], { cwd: dir });
  await killHard(child);
  expect({ code: r.code, out: outputsOf(r.stdout) }).toEqual({
    code: 0,
    out: { removed: JSON.stringify(fleet.hosts.map((h) => h.id)), live: '[]' },
  });
  expect(r.stderr).toContain(`removed the lock of ${runUrl(333)}`);
  expect(fleet.hosts.map((_, i) => lockHeld(fleet, i))).toEqual([false, false]);
  for (let i = 0; i < 2; i++) {
    const line = deployLog(fleet, i).find((e) => e.action === 'unlock');
    expect(line && { result: line.result, run: line.run, reason: line.reason }).toEqual({
      result: 'unlocked',
      run: unlockedBy,
      reason: expect.stringMatching(
        /^removed the lock of https:\/\/github\.com\/acme\/shop\/actions\/runs\/333 \(last heartbeat \d+s ago\)$/,
      ),
    });
  }
}, 60_000);

test('revert --to v1 --bad v2 --mark-bad with the GitHub API unreachable: hosts back on v1, v2 marked bad, the RCA issue a warning; a plain revert --to marks nothing bad', async () => {
  const fleet = await newFleet();
  const dir = configDir(fleet);
  await deploy(dir, 'v1');
  await deploy(dir, 'v2');
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2']);

  const closed = await freePort();
  const r = await cli(
    [
      'revert',
      '--config',
      'deploy.yml',
      '--to',
      'v1',
      '--set',
      'github-token=x',
      '--set',
      'rca-issue=true',
      '--mark-bad',
      '--bad',
      'v2',
    ],
    { cwd: dir, env: { GITHUB_API_URL: `http://127.0.0.1:${closed}`, GITHUB_REPOSITORY: 'acme/shop' } },
  );
  expect({ code: r.code, result: outputsOf(r.stdout).result, currents: currents(fleet) }).toEqual({
    code: 0,
    result: 'reverted',
    currents: ['v1', 'v1', 'v1'],
  });
  expect(r.stderr).toMatch(/warning: could not open the RCA issue/);
  expect(fleet.hosts.map((_, i) => existsSync(badMarker(fleet, i, 'v2')))).toEqual([true, true, true]);

  await deploy(dir, 'v2b');
  const plain = await cli(['revert', '--config', 'deploy.yml', '--to', 'v1'], { cwd: dir });
  expect({
    code: plain.code,
    result: outputsOf(plain.stdout).result,
    reverted: JSON.parse(outputsOf(plain.stdout)['reverted-hosts'] ?? 'null'),
    currents: currents(fleet),
    marked: fleet.hosts.map((_, i) => existsSync(badMarker(fleet, i, 'v2b'))),
  }).toEqual({
    code: 0,
    result: 'reverted',
    reverted: fleet.hosts.map((h) => h.id),
    currents: ['v1', 'v1', 'v1'],
    marked: [false, false, false],
  });
  expect(plain.stderr).not.toContain('RCA');

  const neither = await cli(['revert', '--config', 'deploy.yml'], { cwd: dir });
  expect({ code: neither.code, stdout: neither.stdout }).toEqual({ code: 1, stdout: '' });
  expect(neither.stderr).toContain("input 'bad-release'");
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
}, 60_000);

test('Ctrl-C during the bake after wave 1 puts host 0 back on v1, leaves no lock, and exits 130', async () => {
  const fleet = await newFleet();
  const dir = configDir(fleet);
  await deploy(dir, 'v1');
  const run = startCli(
    [
      'rollout',
      '--config',
      'deploy.yml',
      '--set',
      `artifact=${makeArtifact(tmp, 'v2')}`,
      '--set',
      'release-id=v2',
      '--set',
      'wave-wait=30s',
    ],
    { cwd: dir },
  );
  let exited = false;
  void run.done.then(() => (exited = true));
  await waitFor('host 0 to switch to v2', () => currentOf(fleet, 0) === 'v2' || exited, 30_000);
  expect({ exited, currents: currents(fleet) }).toEqual({ exited: false, currents: ['v2', 'v1', 'v1'] });
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  expect({
    code: r.code,
    signal: r.signal,
    currents: currents(fleet),
    locks: fleet.hosts.map((_, i) => lockHeld(fleet, i)),
    result: outputsOf(r.stdout).result,
  }).toEqual({
    code: 130,
    signal: null,
    currents: ['v1', 'v1', 'v1'],
    locks: [false, false, false],
    result: expect.stringMatching(/reverted|cancelled/),
  });
  expect(r.stderr).toContain('received SIGINT: stopping the rollout and putting switched hosts back');
  expect(Date.now() - t0).toBeLessThan(20_000);
}, 60_000);

test('on a terminal (a pty) each wave is one line rewritten in place; piped, plain lines without escapes', async () => {
  const fleet = await newFleet(2);
  const dir = configDir(fleet);
  await deploy(dir, 'v1');
  const args = [
    'rollout',
    '--config',
    'deploy.yml',
    '--set',
    `artifact=${makeArtifact(tmp, 'v2')}`,
    '--set',
    'release-id=v2',
    '--set',
    'wave-wait=2s',
  ];
  // util-linux `script` gives the command a pseudo-terminal, as an interactive shell does.
  const command = [node, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, RUNNER_TEMP: tmp, TERM: 'xterm' };
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    killOnExit(child);
    clis.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('close', (code) => resolve({ code, out }));
  });
  expect({ code: r.code, tail: r.code === 0 ? '' : r.out.slice(-3000) }).toEqual({ code: 0, tail: '' });
  // The wave's line: drawn after erasing the line it is on, updated as hosts switch, then the bake.
  expect(r.out).toContain('\r\x1b[2KWave 1/2: 0 of 1 host(s) switched');
  expect(r.out).toContain('\r\x1b[2KWave 1/2: 1 of 1 host(s) switched');
  expect(r.out).toContain('\r\x1b[2KWave 1/2: baking for 2s (1 of 1 updated)');
  expect(r.out).toContain('\r\x1b[2KWave 2/2: 1 of 1 host(s) switched');
  expect(currents(fleet)).toEqual(['v2', 'v2']);

  const piped = await cli(
    ['rollout', '--config', 'deploy.yml', '--set', `artifact=${makeArtifact(tmp, 'v3')}`, '--set', 'release-id=v3'],
    {
      cwd: dir,
    },
  );
  expect(piped.code).toBe(0);
  expect(piped.stderr).not.toContain('\x1b');
  expect(piped.stderr).toMatch(/^Wave 1\/2: 1 host\(s\): 1 updated in /m);
}, 60_000);

describe('watch --once against Prometheus', () => {
  let app: MetricsApp;
  let prom: PrometheusServer;

  beforeAll(async () => {
    app = await startMetricsApp();
    app.setGauge('shop_error_rate', 0.01);
    prom = await startPrometheus([app.host], 'shop_error_rate');
  }, 60_000);
  afterAll(async () => {
    await prom?.close();
    await app?.close();
  });

  const watch = (max: number) =>
    cli([
      'watch',
      '--once',
      '--set',
      'source=prometheus',
      '--set',
      `url=${prom.url}`,
      '--set',
      `rules=- name: errors\n  query: shop_error_rate\n  max: ${max}`,
    ]);

  test('a rule within bounds: verdict pass, exit 0, within seconds', async () => {
    const t0 = Date.now();
    const r = await watch(0.05);
    const out = outputsOf(r.stdout);
    expect({ ...shown(r), verdict: out.verdict, breaches: out.breaches }).toEqual({
      ...shown(r),
      code: 0,
      verdict: 'pass',
      breaches: '[]',
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);

  test('a breached rule: verdict fail, exit 1, the breach named', async () => {
    const r = await watch(0.001);
    const out = outputsOf(r.stdout);
    expect({ code: r.code, verdict: out.verdict }).toEqual({ code: 1, verdict: 'fail' });
    const breaches = JSON.parse(out.breaches) as { rule: string; value: number }[];
    expect(breaches.map((b) => [b.rule, b.value])).toEqual([['errors', 0.01]]);
  }, 30_000);
});

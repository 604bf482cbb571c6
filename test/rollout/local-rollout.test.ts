// The rollout engine end to end without SSH: every command runs in a local sh against each host's own
// directory (test/engine/local-hosts.ts), so a failure can be injected in every phase, quickly.
// The real-sshd tests (rollout.test.ts, faults.test.ts, lost-runner.test.ts) cover the same paths over SSH.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import type { HealthCheck } from '../../src/release/health.js';
import { prepareArtifact, type PreparedArtifact } from '../../src/artifact/prepare.js';
import { rollout } from '../../src/rollout/rollout.js';
import type { RolloutReport } from '../../src/rollout/record.js';
import type { RolloutSettings } from '../../src/rollout/settings.js';
import { DEPLOY, LocalHosts, type Fault } from '../engine/local-hosts.js';

let tmp: string;
const artifacts = new Map<string, PreparedArtifact>();
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-local-rollout-'));
  for (const v of ['v1', 'v2', 'v3']) {
    const dir = join(tmp, `artifact-${v}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'version'), `${v}\n`);
    mkdirSync(join(tmp, `work-${v}`));
    artifacts.set(
      v,
      await prepareArtifact({
        input: 'artifact',
        path: dir,
        exclude: ['.git'],
        delta: false,
        workDir: join(tmp, `work-${v}`),
      }),
    );
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function settings(
  hosts: LocalHosts,
  release: string,
  extra: Partial<RolloutSettings> = {},
  ssh: Partial<RolloutSettings['ssh']> = {},
): RolloutSettings {
  return {
    ssh: {
      hosts: hosts.specs,
      credentials: { privateKey: 'unused', hostKeys: { kind: 'insecure' } },
      deployPath: DEPLOY,
      maxParallel: 20,
      reloadCommand: 'echo "$RELEASE_ID" >> ../../shared/reloads',
      // The injected check answers; the command only puts health in the plan.
      healthCommand: 'true',
      healthUrl: '',
      healthExpect: '',
      healthSamples: 1,
      healthTimeoutMs: 1000,
      warnings: [],
      ...ssh,
    },
    artifact: 'unused',
    artifactUrl: null,
    // The artifacts here are prepared without a delta source: the whole artifact goes to each host.
    delta: true,
    releaseId: release,
    waves: [{ kind: 'count', value: 1 }],
    maxFailures: { kind: 'count', value: 0 },
    setupCommand: 'echo set up > setup-ran',
    waveWaitMs: 0,
    watch: null,
    keepReleases: 5,
    sharedPaths: [{ path: 'logs', dir: true }],
    exclude: ['.git'],
    adoptCurrent: false,
    lockTimeoutMs: 0,
    dryRun: false,
    environment: '',
    githubToken: '',
    loadBalancer: null,
    ...extra,
  };
}

/** Health: healthy unless the host id is in `sick`. */
const healthOf =
  (sick: Set<string> = new Set()): HealthCheck =>
  async (_session, host) => {
    const id = `${host.host}:${host.port}`;
    return sick.has(id)
      ? { ok: false, detail: 'HTTP 503', attempts: 1, ms: 1 }
      : { ok: true, detail: 'healthy after 1 attempt(s), 1 ms', attempts: 1, ms: 1 };
  };

async function deploy(
  hosts: LocalHosts,
  release: string,
  extra: Partial<RolloutSettings> = {},
  health = healthOf(),
): Promise<{ report: RolloutReport; log: string }> {
  const logger = new MemoryLogger();
  const report = await rollout(settings(hosts, release, extra), artifacts.get(release)!, {
    connector: hosts.connector(),
    logger,
    health,
    runUrl: `https://ci/runs/${release}`,
  });
  return { report, log: logger.text() };
}

async function fleetOnV1(name: string, n = 3): Promise<LocalHosts> {
  const hosts = LocalHosts.create(join(tmp, name), n);
  const { report } = await deploy(hosts, 'v1');
  expect(report.result).toBe('success');
  return hosts;
}

const fail = (stderr: string, code = 1): Fault => ({ code, stdout: '', stderr });

test('success: every host staged, switched and healthy in the ledger, in wave order, the plan recorded', async () => {
  const hosts = await fleetOnV1('ok');
  const { report } = await deploy(hosts, 'v2');
  expect(report.result).toBe('success');
  expect(hosts.currents()).toEqual(['v2', 'v2', 'v2']);
  for (let i = 0; i < 3; i++) {
    expect(hosts.ledger(i).slice(-3)).toEqual([
      ['v2', 'staged'],
      ['v2', 'switched'],
      ['v2', 'healthy'],
    ]);
    expect(hosts.locked(i)).toBe(false);
  }
  expect(report.plan.steps.switch).toEqual(['switch', 'reload', 'health']);
  expect(report.hosts[0].steps.map((s) => s.name)).toEqual([
    'connect',
    'lock',
    'state',
    'upload',
    'unpack',
    'link',
    'setup',
    'switch',
    'reload',
    'health',
    'record',
  ]);
  const switchAt = report.hosts.map((h) => h.steps.find((s) => s.name === 'switch')!.start);
  expect(switchAt[1]).toBeGreaterThanOrEqual(report.hosts[0].steps.find((s) => s.name === 'health')!.end);
});

// A failure on host 1 (of 3, one host a wave) in each phase. Before its switch nothing is switched
// anywhere; from the switch on, every switched host goes back and host 1's ledger says `failed`.
const PHASES: { phase: string; match?: RegExp; down?: boolean; sick?: boolean; reason: RegExp; switched: boolean }[] = [
  { phase: 'connect', down: true, reason: /^preflight: connect failed: .*ECONNREFUSED/, switched: false },
  {
    phase: 'lock',
    match: /if mkdir .*\.fivestep\/lock 2>/,
    reason: /^preflight: lock failed \(exit 1\): lock dir unwritable/,
    switched: false,
  },
  { phase: 'state', match: /echo absent=1/, reason: /^preflight: state failed \(exit 1\)/, switched: false },
  {
    phase: 'upload',
    match: /^set -e\nmkdir -p .*incoming/,
    reason: /^stage: upload failed \(exit 1\): No space left on device/,
    switched: false,
  },
  { phase: 'unpack', match: /tar -xzp --no-same-owner/, reason: /^stage: unpack failed \(exit 2\)/, switched: false },
  { phase: 'link', match: /ln -s .*shared\/logs/, reason: /^stage: link failed/, switched: false },
  { phase: 'setup', match: /setup-ran/, reason: /^stage: setup failed/, switched: false },
  { phase: 'switch', match: /mv -T .*current/, reason: /^switch failed \(exit 1\)/, switched: false },
  { phase: 'reload', match: /reloads/, reason: /^reload failed \(exit 1\)/, switched: true },
  { phase: 'health', sick: true, reason: /^health failed: HTTP 503/, switched: true },
];

describe.each(PHASES)('a failure in $phase on host 1', ({ phase, match, down, sick, reason, switched }) => {
  test('max-failures 0: reverted; nothing left on v2, host 1 named', async () => {
    const hosts = await fleetOnV1(`f0-${phase}`);
    const id = hosts.ids()[1];
    if (down) hosts.down.add(id);
    if (match)
      hosts.fail(
        1,
        match,
        fail(
          /upload/.test(reason.source) ? 'No space left on device' : 'lock dir unwritable',
          /unpack/.test(reason.source) ? 2 : 1,
        ),
      );
    const { report } = await deploy(hosts, 'v2', {}, healthOf(sick ? new Set([id]) : new Set()));
    expect(report.result).toBe('reverted');
    expect(report.hosts[1]).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(reason) });
    expect(hosts.currents()).toEqual(['v1', 'v1', 'v1']);
    // Host 0 (wave 1) is switched only when the failure comes after staging.
    const wave1Switched = hosts.ledger(0).some(([r, e]) => r === 'v2' && e === 'switched');
    expect(wave1Switched).toBe(!/^\^(preflight|stage)/.test(reason.source));
    if (wave1Switched) expect(report.hosts[0].outcome).toBe('reverted');
    expect(report.hosts[2].outcome).toBe('skipped');
    // Host 1's ledger: nothing about v2 unless it got as far as unpacking it; then v2 failed there.
    const unpacked = ['link', 'setup', 'switch', 'reload', 'health'].includes(phase);
    expect(
      hosts
        .ledger(1)
        .filter(([r]) => r === 'v2')
        .at(-1),
    ).toEqual(unpacked ? ['v2', 'failed'] : undefined);
    expect(hosts.releases(1)).toEqual(['upload', 'unpack'].includes(phase) ? ['v1'] : expect.arrayContaining(['v1']));
    for (let i = 0; i < 3; i++) expect(hosts.locked(i)).toBe(false);
  });

  test('max-failures 1: success for the others, host 1 on v1', async () => {
    const hosts = await fleetOnV1(`f1-${phase}`);
    const id = hosts.ids()[1];
    if (down) hosts.down.add(id);
    if (match) hosts.fail(1, match, fail('No space left on device', /unpack/.test(reason.source) ? 2 : 1));
    const { report } = await deploy(
      hosts,
      'v2',
      { maxFailures: { kind: 'count', value: 1 } },
      healthOf(sick ? new Set([id]) : new Set()),
    );
    expect(report.result).toBe('success');
    expect(hosts.currents()).toEqual(['v2', 'v1', 'v2']);
    expect(report.hosts.map((h) => h.outcome)).toEqual(['updated', 'failed', 'updated']);
    if (switched)
      expect(report.hosts[1].steps.find((s) => s.name === 'revert')).toMatchObject({ ok: true, detail: 'back on v1' });
  });
});

test('max-failures as a percent of all hosts, rounded up: 20% of 3 allows one failure, 0% none', async () => {
  for (const [pct, budget, result] of [
    [20, 1, 'success'],
    [0, 0, 'reverted'],
  ] as const) {
    const hosts = await fleetOnV1(`pct-${pct}`);
    hosts.fail(2, /tar -xzp --no-same-owner/, fail('broken'));
    const { report } = await deploy(hosts, 'v2', { maxFailures: { kind: 'percent', value: pct } });
    expect([report.plan.maxFailures, report.result]).toEqual([budget, result]);
  }
});

test('a connection lost after the switch: the host is put back on a new connection, counted as failed', async () => {
  const hosts = await fleetOnV1('lost');
  hosts.fail(1, /reloads/, 'lost');
  const { report, log } = await deploy(hosts, 'v2');
  expect(report.result).toBe('reverted');
  expect(hosts.currents()).toEqual(['v1', 'v1', 'v1']);
  expect(report.hosts[1].outcome).toBe('failed');
  expect(report.hosts[1].reason).toMatch(/connection lost/);
  expect(report.hosts[1].steps.filter((s) => s.name === 'connect')).toHaveLength(2);
  expect(hosts.ledger(1).at(-1)).toEqual(['v2', 'failed']);
  expect(log).toContain(`${hosts.ids()[1]}: reverted to v1`);
});

test('a record that fails after success: result success, the failure is a warning in the report', async () => {
  const hosts = await fleetOnV1('record');
  hosts.fail(2, /"result":"healthy"/, fail('read-only file system'));
  const { report } = await deploy(hosts, 'v2');
  expect(report.result).toBe('success');
  expect(report.errors).toEqual([
    expect.stringMatching(
      new RegExp(`^${hosts.ids()[2]}: record/prune: record failed \\(exit 1\\): read-only file system`),
    ),
  ]);
});

test('a host found on a release that never became healthy is named; a failure puts it back on its newest healthy release', async () => {
  const hosts = await fleetOnV1('unhealthy');
  await deploy(hosts, 'v2');
  // What a run of v2 killed after switching host 0 leaves: host 0 on v2 with no healthy line, the others on v1.
  const ledger = hosts.path(0, `${DEPLOY}/.fivestep/deploy.log`);
  writeFileSync(
    ledger,
    readFileSync(ledger, 'utf8')
      .split('\n')
      .filter((l) => !l.includes('"release":"v2","previous":"v1","run":"https://ci/runs/v2","result":"healthy"'))
      .join('\n'),
  );
  for (const i of [1, 2]) symlinkOver(hosts.path(i, `${DEPLOY}/current`), 'releases/v1');

  hosts.fail(2, /reloads/, fail('reload broke'));
  const { report, log } = await deploy(hosts, 'v3');
  expect(report.unhealthyAtStart).toEqual([
    { host: hosts.ids()[0], release: 'v2', status: 'switched', revertTo: 'v1' },
  ]);
  expect(log).toContain(`warning: ${hosts.ids()[0]}: on v2, which never became healthy (last recorded: switched;`);
  expect(report.result).toBe('reverted');
  // Host 0 goes back to v1, its newest healthy release, not to v2 where it was.
  expect(hosts.currents()).toEqual(['v1', 'v1', 'v1']);
  expect(report.hosts[0].previous).toBe('v2');
});

function symlinkOver(link: string, target: string): void {
  rmSync(link, { force: true });
  symlinkSync(target, link);
}

test('the dry run prints the plan the run executes, reads state, takes no lock and changes nothing', async () => {
  const hosts = await fleetOnV1('dry');
  const before = hosts.commands.length;
  const logger = new MemoryLogger();
  const report = await rollout(settings(hosts, 'v2', { dryRun: true }), artifacts.get('v2')!, {
    connector: hosts.connector(),
    logger,
    health: healthOf(),
    runUrl: 'r',
  });
  const sent = hosts.commands.slice(before).map((c) => c.command);
  expect(sent.every((c) => c.includes('echo absent=1'))).toBe(true);
  expect(hosts.currents()).toEqual(['v1', 'v1', 'v1']);
  expect(report.plan.steps).toEqual({
    stage: Object.fromEntries(hosts.ids().map((id) => [id, ['upload', 'unpack', 'link', 'setup']])),
    switch: ['switch', 'reload', 'health'],
    finish: ['record'],
    revert: ['revert'],
  });
  const text = logger.text();
  expect(text).toContain('  stage (every host): upload → unpack → link → setup');
  expect(text).toContain('  switch, wave by wave: switch → reload → health');
  expect(text).toContain(`  wave 1: ${hosts.ids()[0]} (now v1, back to v1 on failure)`);
  for (const step of [
    '# lock',
    '# state',
    '# upload',
    '# unpack',
    '# link',
    '# setup',
    '# switch',
    '# reload',
    '# health',
    '# record',
    'keep-releases 5',
    '# unlock',
  ])
    expect(text).toContain(step);
});

test('the dry run prints each command exactly as the run then sends it (one step table for both)', async () => {
  const hosts = await fleetOnV1('dry-vs-run');
  const runUrl = 'https://ci/runs/v2';
  const dry = new MemoryLogger();
  await rollout(settings(hosts, 'v2', { dryRun: true }), artifacts.get('v2')!, {
    connector: hosts.connector(),
    logger: dry,
    health: healthOf(),
    runUrl,
  });
  // A placeholder is quoted where the real value needs no quotes: compare them unquoted.
  const unquoted = (text: string) => text.replace(/'(<[a-z ]+>)'/g, '$1');
  const printed = unquoted(dry.text());
  const before = hosts.commands.length;
  const { report } = await deploy(hosts, 'v2');
  expect(report.result).toBe('success');
  const id = hosts.ids()[0];
  const sent = hosts.commands
    .slice(before)
    .filter((c) => c.host === id)
    .map((c) => c.command);
  // What the dry run cannot know is shown as a placeholder: the time, this run's lock token, the release now current.
  const token = /\b[0-9a-f]{24}\b/.exec(sent.join('\n'))?.[0] ?? 'no token';
  const asPrinted = (command: string) =>
    command
      .replace(/"time":"[^"]+"/g, '"time":"<now>"')
      .replaceAll(runUrl, '<run url>')
      .replaceAll(token, '<token>')
      .replace(/\bv1\b/g, '<current>')
      .replace(/^/gm, '    ');
  // Every step of the plan, from the lock to the record, in the order the run sent them (the heartbeat aside).
  const steps = sent.filter((c) => !c.includes('heartbeat'));
  expect(steps.length).toBeGreaterThanOrEqual(9);
  for (const command of steps) expect(printed).toContain(unquoted(asPrinted(command)));
});

test('the heartbeat is renewed while a wave bakes', async () => {
  const hosts = await fleetOnV1('heartbeat');
  const logger = new MemoryLogger();
  // Each renewal writes the owner file anew (by rename), so its modification time (in ns) changes each
  // time; inode numbers would not tell, as the file system reuses the one just freed.
  const owners = new Map<string, Set<bigint>>(hosts.ids().map((id) => [id, new Set()]));
  const report = await rollout(
    settings(hosts, 'v2', {
      waveWaitMs: 1200,
      waves: [
        { kind: 'count', value: 1 },
        { kind: 'percent', value: 100 },
      ],
    }),
    artifacts.get('v2')!,
    {
      connector: hosts.connector(),
      logger,
      health: healthOf(),
      runUrl: 'r',
      heartbeatMs: 200,
      sleep: async (ms) => {
        hosts
          .ids()
          .forEach((id, i) =>
            owners.get(id)!.add(statSync(hosts.path(i, `${DEPLOY}/.fivestep/lock/owner`), { bigint: true }).mtimeNs),
          );
        await new Promise((r) => setTimeout(r, ms));
      },
    },
  );
  expect(report.result).toBe('success');
  const bake = report.waves[0].bake!;
  expect(bake.end - bake.start).toBeGreaterThanOrEqual(1200);
  // Renewals reach every locked host during the bake, several times, over one heartbeat command each.
  for (const id of hosts.ids()) expect(owners.get(id)!.size).toBeGreaterThanOrEqual(3);
  for (const id of hosts.ids())
    expect(hosts.commands.filter((c) => c.host === id && c.command.startsWith('while IFS= read -r beat')).length).toBe(
      1,
    );
});

test('at 60 hosts the log says each wave in one line of counts and names only the host that failed', async () => {
  const hosts = await fleetOnV1('sixty', 60);
  const sick = hosts.ids()[7];
  const waves = [
    { kind: 'count' as const, value: 1 },
    { kind: 'percent' as const, value: 25 },
    { kind: 'percent' as const, value: 100 },
  ];
  const { report, log } = await deploy(
    hosts,
    'v2',
    { waves, maxFailures: { kind: 'count', value: 1 } },
    healthOf(new Set([sick])),
  );
  expect(report.result).toBe('success');
  expect(log).toContain('Waves: 1: 1 host(s) · 2: 15 host(s) · 3: 44 host(s)');
  expect(log).toContain('::group::Wave 2/3: 15 host(s)\n');
  expect(log).toMatch(/\nWave 1\/3: 1 host\(s\): 1 updated in \d+ ms\n/);
  expect(log).toMatch(/\nWave 2\/3: 15 host\(s\): 14 updated, 1 failed in [\d.]+ m?s\n/);
  expect(log).toMatch(/\nWave 3\/3: 44 host\(s\): 44 updated in [\d.]+ m?s\n/);
  expect(log).toMatch(
    /\nStaged on 60 of 60 host\(s\): 60 whole artifact; the runner sent [\d.]+ KiB of artifact, in [\d.]+ m?s\n/,
  );
  // Every other host's name is in no line of the log (debug lines, hidden unless step debugging is on, aside); the sick one is in its error and its step group.
  const named = log
    .split('\n')
    .filter((l) => !l.startsWith('debug: ') && hosts.ids().some((id) => id !== sick && l.includes(id)));
  expect(named).toEqual([]);
  expect(log).toContain(`error: ${sick}: health failed: HTTP 503`);
  expect(log).toMatch(new RegExp(`::group::${sick.replace(/\./g, '\\.')} · wave 2 · failed · \\d+ ms`));
}, 60_000);

test('steps that follow each other on a host go in one remote command each time they can, each still recorded', async () => {
  const hosts = await fleetOnV1('joined');
  const before = hosts.execs.length;
  const { report } = await deploy(hosts, 'v2');
  expect(report.result).toBe('success');
  const id = hosts.ids()[0];
  const execs = hosts.execs.slice(before).filter((c) => c.host === id && !c.command.includes('heartbeat'));
  // lock · state · upload+unpack+link+setup · switch+reload · record+unlock: 5 round trips for 9 command steps.
  const shape = execs.map((c) =>
    [
      [/if mkdir .*\.fivestep\/lock 2>/, 'lock'],
      [/echo absent=1/, 'state'],
      [/mkdir -p .*incoming/, 'upload'],
      [/tar -xzp/, 'unpack'],
      [/ln -s .*shared\/logs/, 'link'],
      [/setup-ran/, 'setup'],
      [/mv -T .*current/, 'switch'],
      [/reloads/, 'reload'],
      [/"result":"healthy"/, 'record'],
      [/&& \{ \[ "\$\(sed -n 1p .*\/lock\/owner/, 'unlock'],
    ]
      .filter(([re]) => (re as RegExp).test(c.command))
      .map(([, name]) => name)
      .join('+'),
  );
  expect(shape).toEqual(['lock', 'state', 'upload+unpack+link+setup', 'switch+reload', 'record+unlock']);
  expect(report.hosts[0].steps.map((s) => s.name)).toEqual([
    'connect',
    'lock',
    'state',
    'upload',
    'unpack',
    'link',
    'setup',
    'switch',
    'reload',
    'health',
    'record',
  ]);
  // Each step of a joined command ends when its own end line arrives: in order, none before its start.
  for (const s of report.hosts[0].steps) expect(s.end).toBeGreaterThanOrEqual(s.start);
  expect(hosts.locked(0)).toBe(false);
});

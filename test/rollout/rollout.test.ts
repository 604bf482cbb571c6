// ssh-rollout against a real OpenSSH fleet on loopback: what a user sees on the hosts (the
// `current` links, the deploy log, locks) and in the outputs and the JSON report.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/common/inputs.js';
import { Fleet } from '../servers/fleet.js';
import { currentOf, currents, deployLog, lockHeld, makeArtifact, releasesOf, runRollout, waitFor } from './helpers.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-rollout-test-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a file into host i's tree as the login user owns it (so the remote side can remove it). */
function writeOnHost(fleet: Fleet, i: number, remotePath: string, text: string): void {
  const file = fleet.path(i, remotePath);
  const { uid, gid } = statSync(fleet.hosts[i].root);
  let dir = file.slice(0, file.lastIndexOf('/'));
  const made: string[] = [];
  while (!existsSync(dir)) {
    made.unshift(dir);
    dir = dir.slice(0, dir.lastIndexOf('/'));
  }
  for (const d of made) {
    mkdirSync(d);
    chownSync(d, uid, gid);
  }
  writeFileSync(file, text);
  chownSync(file, uid, gid);
}

const runEnv = (runId: string) => ({ RUNNER_TEMP: tmp, GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: runId });
const runUrl = (runId: string) => `https://github.com/acme/shop/actions/runs/${runId}`;

describe('a clean rollout on 5 hosts', () => {
  let fleet: Fleet;
  let v2Artifact: string;
  beforeAll(async () => {
    fleet = await Fleet.start(5);
  }, 30_000);
  afterAll(() => fleet?.stop());

  const reload = 'echo "$RELEASE_ID $PREVIOUS_RELEASE_ID $RELEASE_PATH" > "$DEPLOY_PATH/shared/reloaded"';

  test('v1 then v2: every host on v2, previous releases, waves 1/25%/100%, deploy log, release env', async () => {
    const first = await runRollout(
      fleet,
      { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1', 'reload-command': reload, 'shared-paths': 'logs/' },
      { env: runEnv('1') },
    );
    expect(first.failure).toBeUndefined();
    expect(first.outputs.result).toBe('success');
    expect(first.outputs['previous-releases']).toEqual({});
    expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
    expect(readFileSync(fleet.path(0, '/srv/app/shared/reloaded'), 'utf8')).toBe('v1  /srv/app/releases/v1\n');

    v2Artifact = makeArtifact(tmp, 'v2', { 'index.html': '<h1>v2</h1>\n' });
    const second = await runRollout(
      fleet,
      {
        artifact: v2Artifact,
        'release-id': 'v2',
        waves: '1, 25%, 100%',
        'wave-wait': '250ms',
        'reload-command': reload,
        'setup-command': 'echo "setup of $RELEASE_ID in $(pwd)" > setup-ran',
        'health-command': 'test -f index.html',
        'shared-paths': 'logs/',
      },
      { env: runEnv('2') },
    );
    const ids = fleet.hosts.map((h) => h.id);
    expect(second.failure).toBeUndefined();
    expect(second.outputs).toMatchObject({
      result: 'success',
      'release-id': 'v2',
      'updated-hosts': ids,
      'failed-hosts': [],
    });
    expect(second.outputs['previous-releases']).toEqual(Object.fromEntries(ids.map((id) => [id, 'v1'])));

    for (let i = 0; i < 5; i++) {
      expect(readlinkSync(fleet.path(i, '/srv/app/current'))).toBe('releases/v2');
      // The reload command saw the release environment; the setup command ran in the release directory.
      expect(readFileSync(fleet.path(i, '/srv/app/shared/reloaded'), 'utf8')).toBe('v2 v1 /srv/app/releases/v2\n');
      expect(readFileSync(fleet.path(i, '/srv/app/releases/v2/setup-ran'), 'utf8')).toBe(
        'setup of v2 in /srv/app/releases/v2\n',
      );
      expect(readlinkSync(fleet.path(i, '/srv/app/releases/v2/logs'))).toBe('/srv/app/shared/logs');
      expect(lockHeld(fleet, i)).toBe(false);
      expect(deployLog(fleet, i).map((e) => [e.action, e.release, e.previous, e.result, e.run])).toEqual([
        ['rollout', 'v1', '', 'staged', runUrl('1')],
        ['rollout', 'v1', '', 'switched', runUrl('1')],
        ['rollout', 'v1', '', 'healthy', runUrl('1')],
        ['rollout', 'v2', 'v1', 'staged', runUrl('2')],
        ['rollout', 'v2', 'v1', 'switched', runUrl('2')],
        ['rollout', 'v2', 'v1', 'healthy', runUrl('2')],
      ]);
    }
    expect(fleet.hosts.map((_, i) => existsSync(fleet.path(i, '/srv/app/.fivestep/incoming/v2.artifact')))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);

    const report = second.report;
    expect(report.plan.waves).toEqual([[ids[0]], [ids[1], ids[2]], [ids[3], ids[4]]]);
    expect(report.hosts.map((h) => [h.host, h.wave, h.outcome, h.uploaded, h.previous])).toEqual(
      ids.map((id, i) => [id, [1, 2, 2, 3, 3][i], 'updated', true, 'v1']),
    );
    // Waves in order, each after the previous one's bake.
    expect(report.waves[0].bake!.end - report.waves[0].bake!.start).toBeGreaterThanOrEqual(240);
    expect(report.waves[1].start!).toBeGreaterThanOrEqual(report.waves[0].bake!.end);
    expect(report.waves[2].start!).toBeGreaterThanOrEqual(report.waves[1].bake!.end);
    const switchOf = (i: number) => report.hosts[i].steps.find((s) => s.name === 'switch')!;
    expect(switchOf(1).start).toBeGreaterThan(switchOf(0).end);
    expect(switchOf(3).start).toBeGreaterThan(switchOf(2).end);
    // Delta staging offers the manifest first; for a two-file artifact the delta is no smaller than the whole, which goes instead.
    expect(report.hosts[0].steps.map((s) => s.name)).toEqual([
      'connect',
      'lock',
      'state',
      'compare',
      'upload',
      'unpack',
      'link',
      'setup',
      'switch',
      'reload',
      'health',
      'record',
    ]);
    expect(report.hosts[0].staging).toBe('full');
    expect(second.log).toContain(`::group::Wave 2/3: ${ids[1]}, ${ids[2]}`);
    // A group per host after its wave's group, listing each step with its time.
    expect(second.log).toMatch(
      new RegExp(`::group::${ids[1].replace(/\./g, '\\.')} · wave 2 · updated · \\d+ ms\\nok  connect +\\d+ ms`),
    );
    expect(second.log.indexOf(`::group::${ids[1]} · wave 2`)).toBeGreaterThan(second.log.indexOf('::group::Wave 2/3'));
    expect(second.log).toContain(`Result: success. Report: ${second.outputs.report}`);
  });

  test('the same release-id with the same artifact is not uploaded again; with other content it is refused', async () => {
    const again = await runRollout(fleet, { artifact: v2Artifact, 'release-id': 'v2' });
    expect(again.outputs.result).toBe('success');
    expect(again.report.hosts.map((h) => h.uploaded)).toEqual([false, false, false, false, false]);
    expect(again.report.hosts.flatMap((h) => h.steps).some((s) => s.name === 'upload')).toBe(false);
    expect(again.log).toContain('staged (already there)');
    expect(again.report.hosts.map((h) => h.staging)).toEqual(Array(5).fill('cached'));
    expect(Object.values(again.outputs['previous-releases'])).toEqual(['v2', 'v2', 'v2', 'v2', 'v2']);

    // Same id, other content: refused on the host before any switch, nothing changes.
    const other = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v2', { extra: 'x' }), 'release-id': 'v2' });
    expect(other.outputs.result).toBe('reverted');
    expect(other.failure).toMatch(/^rollout of v2 stopped and reverted: /);
    expect(other.outputs['failed-hosts'][0].reason).toContain(
      'release directory already exists with other content: use a new release-id',
    );
    expect(other.report.hosts.flatMap((h) => h.steps).some((s) => s.name === 'switch')).toBe(false);
    expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v2', 'v2']);
    expect(readFileSync(fleet.path(0, '/srv/app/releases/v2/index.html'), 'utf8')).toBe('<h1>v2</h1>\n');
    expect(existsSync(fleet.path(0, '/srv/app/releases/v2/extra'))).toBe(false);
  });

  test('keep-releases counts healthy releases: never current or previous; a release marked bad is pruned', async () => {
    writeOnHost(fleet, 0, '/srv/app/.fivestep/bad/v1', 'broke checkout\n');
    const v3 = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v3'), 'release-id': 'v3', 'keep-releases': '1' });
    expect(v3.outputs.result).toBe('success');
    for (let i = 0; i < 5; i++) expect(releasesOf(fleet, i)).toEqual(['v2', 'v3']); // v2 is previous
    expect(v3.log).toMatch(/127\.0\.0\.1:\d+: pruned v1/);

    const v4 = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v4'), 'release-id': 'v4', 'keep-releases': '1' });
    expect(v4.outputs.result).toBe('success');
    for (let i = 1; i < 5; i++) expect(releasesOf(fleet, i)).toEqual(['v3', 'v4']);
    expect(existsSync(fleet.path(1, '/srv/app/.fivestep/checksums/v2'))).toBe(false);
    expect(currents(fleet)).toEqual(['v4', 'v4', 'v4', 'v4', 'v4']);
  });

  test('a release directory carries its unpack time, not the archive mtime (prune goes by age)', () => {
    // Regression: tar restored the packed directory's mtime (epoch 0) onto releases/<id>, so every
    // release looked equally old and prune order fell back to sorting ids by name.
    const mtime = statSync(fleet.path(0, '/srv/app/releases/v4')).mtimeMs;
    expect(mtime).toBeGreaterThan(Date.now() - 5 * 60_000);
  });
});

describe('failures on 5 hosts', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await Fleet.start(5);
    const v1 = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1', waves: '100%' });
    expect(v1.outputs.result).toBe('success');
  }, 30_000);
  afterAll(() => fleet?.stop());

  test('a failing health check on one host of wave 2 puts every switched host back; wave 3 is never switched', async () => {
    const unhealthy = join(fleet.hosts[2].root, 'unhealthy');
    writeFileSync(unhealthy, '');
    try {
      const run = await runRollout(fleet, {
        artifact: makeArtifact(tmp, 'v2'),
        'release-id': 'v2',
        waves: '1, 25%, 100%',
        'health-command': 'if [ -e /srv/unhealthy ]; then echo "app not answering on $RELEASE_ID" >&2; exit 1; fi',
        'health-timeout': '1s',
        'reload-command': 'echo "$RELEASE_ID" >> "$DEPLOY_PATH/shared/reloads"',
      });
      const ids = fleet.hosts.map((h) => h.id);
      expect(run.outputs.result).toBe('reverted');
      expect(run.outputs['updated-hosts']).toEqual([]);
      expect(run.outputs['failed-hosts']).toEqual([
        { host: ids[2], reason: expect.stringContaining('app not answering on v2') },
      ]);
      expect(run.failure).toBe(`rollout of v2 stopped and reverted: 1 host(s) failed, more than max-failures (0)`);
      expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
      // Switched hosts were reloaded on the way back; wave 3 was staged but never switched nor reloaded.
      for (const i of [0, 1, 2]) {
        expect(readFileSync(fleet.path(i, '/srv/app/shared/reloads'), 'utf8')).toBe('v2\nv1\n');
        expect(
          deployLog(fleet, i)
            .slice(-3)
            .map((e) => e.result),
        ).toEqual(['staged', 'switched', 'failed']);
      }
      for (const i of [3, 4]) {
        expect(existsSync(fleet.path(i, '/srv/app/shared/reloads'))).toBe(false);
        expect(existsSync(fleet.path(i, '/srv/app/releases/v2/version'))).toBe(true);
        // Staged, never switched: the ledger says v2 failed there.
        expect(deployLog(fleet, i).map((e) => [e.release, e.result])).toEqual([
          ['v1', 'staged'],
          ['v1', 'switched'],
          ['v1', 'healthy'],
          ['v2', 'staged'],
          ['v2', 'failed'],
        ]);
        expect(run.report.hosts[i].outcome).toBe('skipped');
      }
      expect(run.report.hosts.map((h) => h.outcome)).toEqual(['reverted', 'reverted', 'failed', 'skipped', 'skipped']);
      expect(run.log).toMatch(/error: Rollout stopped: 1 host\(s\) failed/);
      for (let i = 0; i < 5; i++) expect(lockHeld(fleet, i)).toBe(false);
    } finally {
      rmSync(unhealthy, { force: true });
    }
  });

  test('a wrong host key for one host: nothing switched anywhere, the error names the fingerprint', async () => {
    const bad = fleet.hosts[2];
    const otherKey = fleet.hosts[0].hostKey.split(/\s+/).slice(0, 2).join(' ');
    const knownHosts = fleet.knownHosts().replace(bad.knownHostsLine, `[${bad.host}]:${bad.port} ${otherKey}`);
    const logLengths = fleet.hosts.map((_, i) => deployLog(fleet, i).length);
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'v2'),
      'release-id': 'v2',
      'known-hosts': knownHosts,
    });
    const presented = `SHA256:${createHash('sha256')
      .update(Buffer.from(bad.hostKey.split(/\s+/)[1], 'base64'))
      .digest('base64')
      .replace(/=+$/, '')}`;
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts']).toHaveLength(1);
    expect(run.outputs['failed-hosts'][0].host).toBe(bad.id);
    expect(run.outputs['failed-hosts'][0].reason).toContain('host key verification failed');
    expect(run.outputs['failed-hosts'][0].reason).toContain(`ssh-ed25519 ${presented}`);
    expect(run.outputs['failed-hosts'][0].reason).toContain(`ssh-keyscan -p ${bad.port} ${bad.host}`);
    expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
    expect(run.report.hosts.flatMap((h) => h.steps).some((s) => s.name === 'switch' || s.name === 'upload')).toBe(
      false,
    );
    for (let i = 0; i < 5; i++) {
      expect(lockHeld(fleet, i)).toBe(false);
    }
    expect(fleet.hosts.map((_, i) => deployLog(fleet, i).length)).toEqual(logLengths);
  });

  /** Kills host 3's sshd as soon as host 0 (wave 1) is on `release`, while wave 1 bakes. */
  async function killHost3WhenWave1Switched(release: string): Promise<void> {
    await waitFor(`host 0 on ${release}`, () => currentOf(fleet, 0) === release);
    await fleet.killHost(3);
  }

  test('host 3 dies mid-rollout with max-failures 0: reverted, every other host back on v1', async () => {
    const killer = killHost3WhenWave1Switched('v2');
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'v2'),
      'release-id': 'v2',
      waves: '1, 25%, 100%',
      'wave-wait': '1s',
      'max-failures': '0',
    });
    await killer;
    const dead = fleet.hosts[3].id;
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts']).toEqual([{ host: dead, reason: expect.stringMatching(/connection lost/) }]);
    expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
    expect(run.report.hosts.filter((h) => h.outcome === 'reverted').map((h) => h.host)).toEqual(
      expect.arrayContaining(fleet.hosts.slice(0, 3).map((h) => h.id)),
    );
    // The dead host keeps its lock: the log says so, and the operator removes it after bringing the host back.
    expect(run.log).toContain(`warning: ${dead}: could not release the lock`);
    for (const i of [0, 1, 2, 4]) expect(lockHeld(fleet, i)).toBe(false);
    await fleet.restartHost(3);
    rmSync(fleet.path(3, '/srv/app/.fivestep/lock'), { recursive: true, force: true });
  });

  test('host 3 dies mid-rollout with max-failures 1: success for the rest, failed-hosts names it', async () => {
    const killer = killHost3WhenWave1Switched('v2');
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'v2'),
      'release-id': 'v2',
      waves: '1, 25%, 100%',
      'wave-wait': '1s',
      'max-failures': '1',
    });
    await killer;
    const ids = fleet.hosts.map((h) => h.id);
    try {
      expect(run.outputs.result).toBe('success');
      expect(run.failure).toBeUndefined();
      expect(run.outputs['failed-hosts']).toEqual([{ host: ids[3], reason: expect.stringMatching(/connection lost/) }]);
      expect(run.outputs['updated-hosts']).toEqual([ids[0], ids[1], ids[2], ids[4]]);
      expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v1', 'v2']);
      expect(run.log).toContain(`warning: 1 host(s) failed within max-failures: ${ids[3]}`);
    } finally {
      await fleet.restartHost(3);
      rmSync(fleet.path(3, '/srv/app/.fivestep/lock'), { recursive: true, force: true });
    }
  });
});

describe('locks on 3 hosts', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await Fleet.start(3);
  }, 30_000);
  afterAll(() => fleet?.stop());

  const allLocked = () => fleet.hosts.every((_, i) => lockHeld(fleet, i));

  test('a second rollout with lock-timeout 0 fails naming the holder and changes nothing', async () => {
    const first = runRollout(
      fleet,
      { artifact: makeArtifact(tmp, 'a1'), 'release-id': 'a1', 'setup-command': 'sleep 1.5' },
      { env: runEnv('111') },
    );
    await waitFor('the first rollout to hold every lock', allLocked);
    const second = await runRollout(
      fleet,
      { artifact: makeArtifact(tmp, 'b1'), 'release-id': 'b1', 'lock-timeout': '0' },
      { env: runEnv('222') },
    );
    expect(second.outputs.result).toBe('reverted');
    expect(second.failure).toBeDefined();
    expect(second.outputs['failed-hosts']).toHaveLength(3);
    for (const f of second.outputs['failed-hosts'])
      expect(f.reason).toMatch(
        new RegExp(
          `locked by another rollout: ${runUrl('111')}, last heartbeat \\ds ago\\. .*set lock-timeout \\(now 0s\\).*goes stale 60s after its last heartbeat`,
        ),
      );
    for (let i = 0; i < 3; i++) expect(releasesOf(fleet, i)).not.toContain('b1');

    const done = await first;
    expect(done.outputs.result).toBe('success');
    expect(currents(fleet)).toEqual(['a1', 'a1', 'a1']);
    for (let i = 0; i < 3; i++) expect(lockHeld(fleet, i)).toBe(false);
  });

  test('a second rollout with a long enough lock-timeout waits, then succeeds', async () => {
    const first = runRollout(
      fleet,
      { artifact: makeArtifact(tmp, 'a2'), 'release-id': 'a2', 'setup-command': 'sleep 1' },
      { env: runEnv('333') },
    );
    await waitFor('the first rollout to hold every lock', allLocked);
    const second = await runRollout(
      fleet,
      { artifact: makeArtifact(tmp, 'b2'), 'release-id': 'b2', 'lock-timeout': '30s' },
      { env: runEnv('444') },
    );
    const done = await first;
    expect(done.outputs.result).toBe('success');
    expect(second.outputs.result).toBe('success');
    expect(second.log).toContain(`waiting up to 30s for the lock held by ${runUrl('333')}`);
    expect(Object.values(second.outputs['previous-releases'])).toEqual(['a2', 'a2', 'a2']);
    expect(currents(fleet)).toEqual(['b2', 'b2', 'b2']);
    for (let i = 0; i < 3; i++) expect(lockHeld(fleet, i)).toBe(false);
  });

  test('a stale lock (heartbeat over 60 s old) is taken over at once with a warning naming its old holder', async () => {
    writeOnHost(
      fleet,
      1,
      '/srv/app/.fivestep/lock/owner',
      `old-token\nhttps://ci.example/runs/7\n${Math.floor(Date.now() / 1000) - 300}\n`,
    );
    const run = await runRollout(fleet, { artifact: makeArtifact(tmp, 'c1'), 'release-id': 'c1' });
    expect(run.outputs.result).toBe('success');
    expect(run.log).toMatch(
      new RegExp(
        `warning: ${fleet.hosts[1].id}: took over the stale lock of https://ci.example/runs/7 \\(last heartbeat 30\\ds ago\\)`,
      ),
    );
    for (let i = 0; i < 3; i++) expect(lockHeld(fleet, i)).toBe(false);
  });
});

describe('dry run, bad input and injection on 2 hosts', () => {
  let fleet: Fleet;
  let markers: string;
  let artifact: string;
  beforeAll(async () => {
    fleet = await Fleet.start(2);
    // Every injected command would touch a file here; the hosts' login user may write to it.
    markers = mkdtempSync(join(tmpdir(), 'fivestep-markers-'));
    chmodSync(markers, 0o777);
    artifact = makeArtifact(tmp, 'i1');
  }, 30_000);
  afterAll(async () => {
    await fleet?.stop();
    rmSync(markers, { recursive: true, force: true });
  });

  const noDeployPath = () => fleet.hosts.map((_, i) => existsSync(fleet.path(i, '/srv/app')));

  test('dry-run prints the plan and creates nothing on the hosts', async () => {
    const run = await runRollout(fleet, {
      artifact,
      'release-id': 'd1',
      'dry-run': 'true',
      waves: '1, 100%',
      'reload-command': 'systemctl reload app',
      'health-command': 'curl -fsS localhost:8080/health',
    });
    const ids = fleet.hosts.map((h) => h.id);
    expect(run.outputs.result).toBe('success');
    expect(run.report.dryRun).toBe(true);
    expect(run.report.hosts.map((h) => h.outcome)).toEqual(['skipped', 'skipped']);
    expect(noDeployPath()).toEqual([false, false]);
    expect(run.log).toContain(`${ids[0]}: host key verified`);
    expect(run.log).toContain(`  wave 1: ${ids[0]}`);
    expect(run.log).toContain(`  wave 2: ${ids[1]}`);
    expect(run.log).toContain('  stage (every host): upload → unpack');
    expect(run.log).toContain('  switch, wave by wave: switch → reload → health');
    for (const part of [
      '# lock',
      '# upload',
      '(the artifact on stdin)',
      '# unpack',
      '# switch',
      'mv -T .current.d1.tmp current',
      '"result":"switched"',
      '# reload',
      "sh -ec 'systemctl reload app'",
      '# health',
      'curl -fsS localhost:8080/health',
      '# record',
      '# unlock',
    ]) {
      expect(run.log).toContain(part);
    }
  });

  test.each([
    ['hosts', { hosts: 'fivestep@@127.0.0.1:22' }],
    ['hosts', { hosts: '127.0.0.1:99999' }],
    ['waves', { waves: '0' }],
    ['waves', { waves: '1, x%' }],
    ['wave-wait', { 'wave-wait': '5x' }],
    ['health-timeout', { 'health-timeout': '1 minute' }],
    ['deploy-path', { 'deploy-path': 'srv/app' }],
    ['deploy-path', { 'deploy-path': '/srv/../etc' }],
    ['artifact', { artifact: '/nonexistent/build' }],
    [
      'private-key',
      { 'private-key': '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----' },
    ],
    ['known-hosts', { 'known-hosts': '' }],
    ['max-failures', { 'max-failures': 'some' }],
    ['keep-releases', { 'keep-releases': '0' }],
    ['release-id', { 'release-id': '../v1' }],
  ])('bad %s input %j: InputError naming it, nothing changed', async (input, values) => {
    const err = await runRollout(fleet, { artifact, 'release-id': 'x1', ...values }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).input).toBe(input);
    expect((err as InputError).message).toMatch(new RegExp(`^input '${input}': `));
    expect(noDeployPath()).toEqual([false, false]);
  });

  test('injection in release-id, hosts, user and jump-host is rejected before anything runs', async () => {
    const port = fleet.hosts[0].port;
    const cases: [string, Record<string, string>][] = [
      ['release-id', { 'release-id': `v1;touch ${markers}/release-id` }],
      ['release-id', { 'release-id': `v1$(touch ${markers}/release-id2)` }],
      ['hosts', { hosts: `fivestep@127.0.0.1:${port};touch\${IFS}${markers}/hosts` }],
      ['hosts', { hosts: `fivestep@127.0.0.1:${port} touch ${markers}/hosts2` }],
      ['hosts', { hosts: `x$(touch${markers}/hosts3)@127.0.0.1:${port}` }],
      ['jump-host', { 'jump-host': `127.0.0.1;touch ${markers}/jump` }],
      ['port', { port: `22;touch ${markers}/port` }],
    ];
    for (const [input, values] of cases) {
      const err = await runRollout(fleet, { artifact, 'release-id': 'x1', ...values }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect({ values, err: (err as Error)?.message }).toEqual({
        values,
        err: expect.stringMatching(new RegExp(`^input '${input}': `)),
      });
    }
    // A `user` with shell syntax is refused too, naming `user` (it used to blame `hosts`).
    const userErr = await runRollout(fleet, {
      artifact,
      hosts: `127.0.0.1:${port}`,
      user: `x;touch ${markers}/user`,
    }).catch((e: Error) => e);
    expect(userErr).toBeInstanceOf(InputError);
    expect((userErr as Error).message).toBe(`input 'user': 'x;touch ${markers}/user' is not a valid user name`);
    expect(readdirSync(markers)).toEqual([]);
    expect(noDeployPath()).toEqual([false, false]);
  });

  test('shell syntax in deploy-path, shared-paths and the run URL reaches the hosts only quoted', async () => {
    const deployPath = `/srv/app;touch ${markers}/deploy-path;$(touch ${markers}/deploy-path2)'"`;
    const shared = [
      `$(touch ${markers}/shared1)`,
      `\`touch ${markers}/shared2\``,
      `x';touch ${markers}/shared3;'`,
      `"; touch ${markers}/shared4; "`,
      'a b/c*',
    ];
    const run = await runRollout(
      fleet,
      {
        artifact,
        'release-id': 'i1',
        'deploy-path': deployPath,
        // Declared directories (a trailing /), created empty on the hosts.
        'shared-paths': shared.map((p) => `${p}/`).join('\n'),
        'reload-command': 'printf "%s|%s" "$DEPLOY_PATH" "$RELEASE_PATH" > "$DEPLOY_PATH/shared/env-seen"',
      },
      {
        env: {
          RUNNER_TEMP: tmp,
          GITHUB_REPOSITORY: `acme/shop';touch ${markers}/repo;'`,
          GITHUB_RUN_ID: `1$(touch ${markers}/run-id)`,
        },
      },
    );
    expect(readdirSync(markers)).toEqual([]);
    expect(run.outputs['failed-hosts']).toEqual([]);
    expect(run.outputs.result).toBe('success');
    for (let i = 0; i < 2; i++) {
      expect(readlinkSync(fleet.path(i, `${deployPath}/current`))).toBe('releases/i1');
      // The shared paths exist under their literal names, linked into the release.
      for (const p of shared) {
        expect(lstatSync(fleet.path(i, `${deployPath}/releases/i1/${p}`)).isSymbolicLink()).toBe(true);
        expect(readlinkSync(fleet.path(i, `${deployPath}/releases/i1/${p}`))).toBe(`${deployPath}/shared/${p}`);
      }
      expect(readFileSync(fleet.path(i, `${deployPath}/shared/env-seen`), 'utf8')).toBe(
        `${deployPath}|${deployPath}/releases/i1`,
      );
      const log = readFileSync(fleet.path(i, `${deployPath}/.fivestep/deploy.log`), 'utf8');
      expect(JSON.parse(log.split('\n')[0]).run).toBe(
        `https://github.com/acme/shop';touch ${markers}/repo;'/actions/runs/1$(touch ${markers}/run-id)`,
      );
      expect(existsSync(fleet.path(i, `${deployPath}/.fivestep/lock`))).toBe(false);
    }
  });
});

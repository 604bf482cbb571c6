// The first hour on someone else's hosts, against a REAL OpenSSH fleet: the checks before anything
// changes (like Capistrano's deploy:check), the mistakes people make in their inputs, and messages that
// say what is wrong instead of crying wolf. Nothing unsafe reaches a host, and no gate is silently absent.
import {
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
import { Fleet } from '../servers/fleet.js';
import { currents, makeArtifact, rolloutInputError, runRollout } from './helpers.js';

let tmp: string;
let fleet: Fleet;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-preflight-'));
  fleet = await Fleet.start(2);
}, 30_000);
afterAll(async () => {
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const user = () => fleet.user;
/** Makes a directory on host i as the login user owns it (as a host prepared for fivestep has it). */
function ownedDir(i: number, remote: string): string {
  const path = fleet.path(i, remote);
  mkdirSync(path, { recursive: true });
  const { uid, gid } = statSync(fleet.hosts[i].root);
  for (let p = path; p.startsWith(fleet.hosts[i].root) && p !== fleet.hosts[i].root; p = p.slice(0, p.lastIndexOf('/')))
    chownSync(p, uid, gid);
  return path;
}
function ownedFile(i: number, remote: string, text: string): void {
  ownedDir(i, remote.slice(0, remote.lastIndexOf('/')));
  writeFileSync(fleet.path(i, remote), text);
  const { uid, gid } = statSync(fleet.hosts[i].root);
  chownSync(fleet.path(i, remote), uid, gid);
}

const inputError = (inputs: Record<string, string>) => rolloutInputError(fleet, inputs);

describe('a deploy path the login user cannot write', () => {
  test('is said as such, with the command that fixes it, never as "locked by another rollout"; dry-run fails the same way', async () => {
    // Host 0's /srv/root-owned belongs to root (the test runs as root), as an unprepared host's /srv/app would.
    mkdirSync(fleet.path(0, '/srv/root-owned'), { recursive: true });
    const inputs = { artifact: makeArtifact(tmp, 'u1'), 'release-id': 'u1', 'deploy-path': '/srv/root-owned' };
    const expected = `cannot write /srv/root-owned on ${fleet.hosts[0].id}: permission denied for '${user()}'. Fix it on the host: sudo install -d -o ${user()} /srv/root-owned`;
    const run = await runRollout(fleet, inputs);
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts']).toEqual([
      { host: fleet.hosts[0].id, reason: `preflight: lock failed (exit 68): ${expected}` },
    ]);
    expect(run.log).not.toMatch(/locked by another rollout/);

    const dry = await runRollout(fleet, { ...inputs, 'dry-run': 'true' });
    expect(dry.failure).toBe('dry run of u1: 1 host(s) failed, more than max-failures (0); nothing was changed');
    expect(dry.outputs['failed-hosts']).toEqual([{ host: fleet.hosts[0].id, reason: `dry run: ${expected}` }]);
    // A dry run takes no lock and stages nothing, on any host.
    expect(existsSync(fleet.path(1, '/srv/root-owned/.fivestep/lock'))).toBe(false);
    expect(existsSync(fleet.path(1, '/srv/root-owned/releases/u1'))).toBe(false);
  });

  test('a root-owned .fivestep inside an owned deploy path names that directory and the chown that fixes it', async () => {
    ownedDir(0, '/srv/half');
    mkdirSync(fleet.path(0, '/srv/half/.fivestep'));
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'u2'),
      'release-id': 'u2',
      'deploy-path': '/srv/half',
    });
    expect(run.outputs['failed-hosts'][0].reason).toBe(
      `preflight: lock failed (exit 68): cannot write /srv/half/.fivestep on ${fleet.hosts[0].id}: permission denied for '${user()}'. Fix it on the host: sudo chown -R ${user()} /srv/half`,
    );
  });
});

describe('shared-paths', () => {
  test("'.env' missing from shared/ and the artifact fails in preflight naming it; it is never made a directory", async () => {
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 's1'),
      'release-id': 's1',
      'deploy-path': '/srv/s',
      'shared-paths': '.env',
    });
    expect(run.outputs.result).toBe('reverted');
    for (const [i, h] of fleet.hosts.entries()) {
      expect(run.outputs['failed-hosts'][i]).toEqual({
        host: h.id,
        reason: `preflight: shared path '.env' is in neither /srv/s/shared/ on ${h.id} nor the artifact: create /srv/s/shared/.env on each host first, or write '.env/' in shared-paths to declare a directory that starts empty`,
      });
      expect(existsSync(fleet.path(i, '/srv/s/shared/.env'))).toBe(false);
      expect(existsSync(fleet.path(i, '/srv/s/releases/s1'))).toBe(false);
    }
  });

  test("with shared/.env created first (README: Preparing hosts) it is linked as the file it is; 'log/' declares a directory, created empty", async () => {
    for (let i = 0; i < 2; i++) ownedFile(i, '/srv/s/shared/.env', 'SECRET=1\n');
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 's2'),
      'release-id': 's2',
      'deploy-path': '/srv/s',
      'shared-paths': '.env\nlog/',
    });
    expect(run.outputs.result).toBe('success');
    for (let i = 0; i < 2; i++) {
      expect(readlinkSync(fleet.path(i, '/srv/s/releases/s2/.env'))).toBe('/srv/s/shared/.env');
      expect(readlinkSync(fleet.path(i, '/srv/s/current'))).toBe('releases/s2');
      expect(statSync(fleet.path(i, '/srv/s/shared/.env')).isFile()).toBe(true);
      expect(lstatSync(fleet.path(i, '/srv/s/shared/log')).isDirectory()).toBe(true);
      expect(readdirSync(fleet.path(i, '/srv/s/shared/log'))).toEqual([]);
    }
  });

  test("an old 'log' line (no trailing /) for a path in neither place says to write 'log/'; a directory declared where shared/ holds a file is refused", async () => {
    const old = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 's3'),
      'release-id': 's3',
      'deploy-path': '/srv/s',
      'shared-paths': 'logs',
    });
    expect(old.outputs['failed-hosts'][0].reason).toContain(
      "or write 'logs/' in shared-paths to declare a directory that starts empty",
    );
    const clash = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 's4'),
      'release-id': 's4',
      'deploy-path': '/srv/s',
      'shared-paths': '.env/',
    });
    expect(clash.outputs['failed-hosts'][0].reason).toBe(
      `preflight: shared path '.env/' declares a directory, but /srv/s/shared/.env on ${fleet.hosts[0].id} is a file`,
    );
    expect(currents(fleet).map((_, i) => fleet.currentRelease(i, '/srv/s'))).toEqual(['s2', 's2']);
  });

  test('a file from the artifact seeds shared/ the first time; a shared path inside another, or listed twice, is an input error', async () => {
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 's5', { 'config.yml': 'from the artifact\n' }),
      'release-id': 's5',
      'deploy-path': '/srv/s',
      'shared-paths': '.env\nconfig.yml',
    });
    expect(run.outputs.result).toBe('success');
    expect(readFileSync(fleet.path(0, '/srv/s/shared/config.yml'), 'utf8')).toBe('from the artifact\n');
    expect(await inputError({ artifact: makeArtifact(tmp, 's6'), 'shared-paths': 'public/\npublic/uploads/' })).toBe(
      "input 'shared-paths': 'public/uploads' lies inside 'public', which is itself shared: list only 'public'",
    );
    expect(await inputError({ artifact: makeArtifact(tmp, 's6'), 'shared-paths': 'log/\nlog' })).toBe(
      "input 'shared-paths': 'log' is listed twice",
    );
  });
});

describe('a current that is a real directory (an app deployed by hand)', () => {
  const handDeployed = (i: number) => {
    ownedFile(i, '/srv/hand/current/index.html', 'by hand\n');
    ownedDir(i, '/srv/hand/current/uploads');
  };

  test('fails in preflight naming current and what to do; nothing is half-changed (no .current.*.tmp)', async () => {
    for (let i = 0; i < 2; i++) handDeployed(i);
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'h1'),
      'release-id': 'h1',
      'deploy-path': '/srv/hand',
    });
    expect(run.outputs.result).toBe('reverted');
    expect(run.outputs['failed-hosts'][0].reason).toBe(
      `preflight: /srv/hand/current on ${fleet.hosts[0].id} is a directory, not a symlink (an app deployed by hand?): set adopt-current: true to move it to /srv/hand/releases/pre-fivestep-<time> as the first healthy release (the one a revert goes back to), or move it away yourself`,
    );
    for (let i = 0; i < 2; i++) {
      expect(lstatSync(fleet.path(i, '/srv/hand/current')).isDirectory()).toBe(true);
      expect(readdirSync(fleet.path(i, '/srv/hand')).sort()).toEqual(['.fivestep', 'current']);
    }
  });

  test('adopt-current: true moves it into releases/ as the first healthy release; a failed rollout goes back to it', async () => {
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'h2'),
      'release-id': 'h2',
      'deploy-path': '/srv/hand',
      'adopt-current': 'true',
      'health-command': 'test "$RELEASE_ID" != h2',
      'health-timeout': '1s',
    });
    expect(run.outputs.result).toBe('reverted');
    for (let i = 0; i < 2; i++) {
      const adopted = fleet.currentRelease(i, '/srv/hand');
      expect(adopted).toMatch(/^pre-fivestep-\d{14}$/);
      expect(readFileSync(fleet.path(i, '/srv/hand/current/index.html'), 'utf8')).toBe('by hand\n');
      const log = JSON.parse(readFileSync(fleet.path(i, '/srv/hand/.fivestep/deploy.log'), 'utf8').split('\n')[0]);
      expect(log).toMatchObject({ action: 'adopt', release: adopted, result: 'healthy' });
    }
    expect(run.log).toMatch(
      /warning: 127\.0\.0\.1:\d+: current was a directory: moved to releases\/pre-fivestep-\d{14} and recorded healthy \(adopt-current\)/,
    );
    const next = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'h3'),
      'release-id': 'h3',
      'deploy-path': '/srv/hand',
      'adopt-current': 'true',
    });
    expect(next.outputs.result).toBe('success');
    expect(next.outputs['previous-releases'][fleet.hosts[0].id]).toMatch(/^pre-fivestep-/);
  });
});

describe('a gate is never silently absent: watch is checked with the other inputs', () => {
  const watch = (extra = '') =>
    `source: prometheus\nurl: http://127.0.0.1:9\nbaseline: hosts\nrules:\n  - name: revenue\n    query: sum(rate(revenue{instance="{host}"}[1m]))\n    max-drop: 20%\n${extra}`;

  test("a misspelt key ('basline') is an input error naming it, and what it probably meant", async () => {
    const message = await inputError({
      artifact: makeArtifact(tmp, 'g1'),
      'wave-wait': '1s',
      watch: watch().replace('baseline: hosts', 'basline: hosts'),
    });
    expect(message).toMatch(
      /^input 'watch': unknown key 'basline' \(did you mean 'baseline'\?\); the keys are metric-watch's inputs: source, url, hosts/,
    );
  });

  test('a watch with no bake to run in: wave-wait 0, or a single wave, names wave-wait', async () => {
    expect(await inputError({ artifact: makeArtifact(tmp, 'g2'), watch: watch() })).toBe(
      "input 'wave-wait': is 0, so the watch never runs: it is evaluated during the bake after each wave but the last. Set wave-wait (e.g. 5m)",
    );
    expect(
      await inputError({ artifact: makeArtifact(tmp, 'g3'), watch: watch(), 'wave-wait': '5m', waves: '100%' }),
    ).toBe(
      "input 'wave-wait': has no bake to run in: 2 host(s) make a single wave, and the watch runs during the bake after each wave but the last. Use more waves (e.g. waves: 1, 100%)",
    );
    expect(await inputError({ artifact: makeArtifact(tmp, 'g4'), 'wave-wait': '5min' })).toMatch(
      /^input 'wave-wait': '5min' is not a duration/,
    );
  });
});

describe('untrusted text and odd inputs', () => {
  test("a host's stderr holding \\r::error or an escape sequence reaches the log as one printable line", async () => {
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'e1'),
      'release-id': 'e1',
      'deploy-path': '/srv/e',
      'setup-command': `printf 'failing\\r::error file=.github/workflows/ci.yml::pwned\\n::add-mask::x\\n\\033[2Jcleared\\n' >&2; exit 1`,
    });
    expect(run.outputs.result).toBe('reverted');
    const lines = run.log.split(/\r\n|\r|\n/);
    expect(lines.filter((l) => /^\s*::(error|add-mask)/.test(l))).toEqual([]);
    expect(run.log).not.toContain('\r');
    expect(run.log).not.toContain('\u001b');
    expect(run.log).toContain(
      'setup failed (exit 1): ::error file=.github/workflows/ci.yml::pwned | ::add-mask::x | \\x1b[2Jcleared',
    );
  });

  test('a deploy-path holding a backslash is refused (sha256sum would escape it and every upload fail its check)', async () => {
    expect(await inputError({ artifact: makeArtifact(tmp, 'b1'), 'deploy-path': '/srv/a\\b' })).toMatch(
      /^input 'deploy-path': '\/srv\/a\\b' must not contain a backslash/,
    );
  });

  test('a reload that fails while a host is put back: the log says the switch back happened, not that the host could not be reverted', async () => {
    const first = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'd4'),
      'release-id': 'd4',
      'deploy-path': '/srv/r',
    });
    expect(first.outputs.result).toBe('success');
    const run = await runRollout(fleet, {
      artifact: makeArtifact(tmp, 'd5'),
      'release-id': 'd5',
      'deploy-path': '/srv/r',
      waves: '100%',
      // The new release's reload works; the old one's does not (and d5 is not healthy).
      'reload-command': 'test "$RELEASE_ID" = d5',
      'health-command': 'false',
      'health-timeout': '1s',
    });
    expect(run.outputs.result).toBe('failed');
    for (const [i, h] of fleet.hosts.entries()) {
      expect(fleet.currentRelease(i, '/srv/r')).toBe('d4');
      expect(run.log).toContain(`error: ${h.id}: switched back to d4, but its reload failed: exit 1`);
      expect(run.log).not.toContain(`${h.id}: COULD NOT BE REVERTED`);
    }
    expect(run.outputs['failed-hosts'][0].reason).toMatch(/switched back to d4, but its reload failed: exit 1$/);
    const ledger = readFileSync(fleet.path(0, '/srv/r/.fivestep/deploy.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { release: string; result: string });
    expect(ledger.filter((e) => e.release === 'd5').map((e) => e.result)).toEqual(['staged', 'switched', 'failed']);
  });
});

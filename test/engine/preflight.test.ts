// The preflight's judgement (pure), and the state read it judges, run in a local sh against real trees
// (a restricted PATH for missing commands, symlinks where directories belong, a hand-deployed current).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkSharedPathsInArtifact,
  preflightFindings,
  stateChecks,
  unwritableMessage,
  type PreflightRequest,
} from '../../src/engine/preflight.js';
import { fits } from '../../src/release/commands.js';
import { emptyState, parseState, readStateCommand, type HostState } from '../../src/release/state-command.js';

const host = { user: 'deploy', host: 'web1', port: 22 };
const request = (extra: Partial<PreflightRequest> = {}): PreflightRequest => ({
  host,
  deployPath: '/srv/app',
  shared: [],
  adoptCurrent: false,
  commands: ['tar', 'sha256sum'],
  ...extra,
});
const state = (extra: Partial<HostState> = {}): HostState => ({ ...emptyState(), ...extra });

describe('preflightFindings', () => {
  test('a clean host has nothing to say', () => {
    expect(preflightFindings(state(), request())).toEqual({ problems: [], adopt: false, warnings: [] });
  });

  test('each problem says what fixes it', () => {
    const p = (s: Partial<HostState>, r: Partial<PreflightRequest> = {}) =>
      preflightFindings(state(s), request(r)).problems;
    expect(p({ unwritable: '/srv' })).toEqual([
      "cannot write /srv on web1:22: permission denied for 'deploy'. Fix it on the host: sudo install -d -o deploy /srv/app",
    ]);
    expect(p({ layoutLinks: ['shared'] })[0]).toMatch(
      /^\/srv\/app\/shared on web1:22 is a symlink: fivestep writes nothing outside the deploy path/,
    );
    expect(p({ currentIsDirectory: true, currentProblem: 'is a directory' })[0]).toMatch(
      /^\/srv\/app\/current on web1:22 is a directory, not a symlink .*set adopt-current: true/,
    );
    expect(p({ currentProblem: "is a symlink to '/var/www', outside releases/" })[0]).toMatch(
      /current on web1:22 is a symlink to '\/var\/www', outside releases\/: fivestep switches current only/,
    );
    expect(p({ missingCommands: ['sha256sum', 'find'] })).toEqual([
      'web1:22 lacks sha256sum: the steps run them on the host (install them, e.g. with the coreutils, tar, gzip and gawk or mawk packages)',
    ]);
    expect(p({ missingCommands: ['curl', 'wget'] }, { eitherOf: ['curl', 'wget'] })).toEqual([
      'web1:22 has neither curl nor wget: artifact-url needs one of them to download the artifact',
    ]);
    expect(p({ missingCommands: ['curl'] }, { eitherOf: ['curl', 'wget'] })).toEqual([]);
    expect(p({ freeKb: 1024 }, { needBytes: 2 << 20 })).toEqual([
      'not enough space in /srv/app on web1:22: the release needs 2.0 MiB (the upload and its files unpacked), plus 102.4 KiB to spare (10% of the free space); 1.0 MiB is free',
    ]);
  });

  test('adopt-current turns a hand-deployed current into an adoption instead of a problem', () => {
    expect(
      preflightFindings(
        state({ currentIsDirectory: true, currentProblem: 'is a directory' }),
        request({ adoptCurrent: true }),
      ),
    ).toMatchObject({ problems: [], adopt: true });
  });

  test('shared paths: present in shared/ or the artifact, declared directories, never through a symlink', () => {
    const tree = new Map([
      ['config.yml', 'file' as const],
      ['public', 'dir' as const],
      ['.env', 'file' as const],
    ]);
    const shared = (path: string, dir = false) => [{ path, dir }];
    const p = (s: Partial<HostState>, r: Partial<PreflightRequest>) =>
      preflightFindings(state(s), request({ tree, ...r })).problems;
    expect(p({ shared: new Map([['.env', 'absent']]) }, { shared: shared('.env') })).toEqual([]); // seeded from the artifact
    expect(p({ shared: new Map([['log', 'absent']]) }, { shared: shared('log') })[0]).toMatch(
      /in neither \/srv\/app\/shared\/ on web1:22 nor the artifact: create \/srv\/app\/shared\/log on each host first, or write 'log\/'/,
    );
    expect(p({ shared: new Map([['log', 'absent']]) }, { shared: shared('log', true) })).toEqual([]);
    expect(p({ shared: new Map([['log', 'absent']]) }, { shared: shared('log'), tree: undefined })).toEqual([]); // artifact-url: the host checks while linking
    expect(p({ shared: new Map([['log', 'file']]) }, { shared: shared('log', true) })).toEqual([
      "shared path 'log/' declares a directory, but /srv/app/shared/log on web1:22 is a file",
    ]);
    expect(p({ shared: new Map([['config.yml', 'absent']]) }, { shared: shared('config.yml', true) })).toEqual([
      "shared path 'config.yml/' declares a directory, but the artifact holds 'config.yml' as a file",
    ]);
    expect(p({ sharedThroughLink: new Map([['data/x', 'data']]) }, { shared: shared('data/x', true) })[0]).toMatch(
      /\/srv\/app\/shared\/data on web1:22 is a symlink: a shared path cannot go through one/,
    );
  });

  test('symlinked releases are a warning: never used, never pruned through', () => {
    expect(preflightFindings(state({ releaseLinks: ['v9'] }), request()).warnings).toEqual([
      'web1:22: /srv/app/releases/v9 is a symlink: fivestep never builds from it, switches to it or prunes through it',
    ]);
  });

  test('unwritable: the deploy path or a parent → install -d; a directory inside it → chown -R; names are quoted', () => {
    expect(unwritableMessage('/srv/app/releases', host, '/srv/app')).toMatch(
      /Fix it on the host: sudo chown -R deploy \/srv\/app$/,
    );
    expect(unwritableMessage("/srv/my app's", host, "/srv/my app's")).toMatch(
      /sudo install -d -o deploy '\/srv\/my app'\\''s'$/,
    );
  });

  test('fits: the release plus a tenth of the free space', () => {
    expect([fits(90, 100), fits(91, 100), fits(0, 0)]).toEqual([true, false, true]);
  });

  test('a shared path through a symlink (or a file) in the artifact is an input error', () => {
    expect(() =>
      checkSharedPathsInArtifact([{ path: 'public/uploads', dir: true }], new Map([['public', 'symlink' as const]])),
    ).toThrow(/^input 'shared-paths': 'public\/uploads': 'public' is a symlink in the artifact/);
    expect(() => checkSharedPathsInArtifact([{ path: 'a/b', dir: false }], new Map([['a', 'file' as const]]))).toThrow(
      /'a' is a file in the artifact, not a directory/,
    );
    expect(() =>
      checkSharedPathsInArtifact([{ path: 'a/b', dir: false }], new Map([['a', 'dir' as const]])),
    ).not.toThrow();
  });
});

describe('the state read with checks, in a local sh', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fivestep-preflight-sh-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const read = (app: string, env: NodeJS.ProcessEnv = process.env) => {
    const checks = stateChecks(
      [
        { path: '.env', dir: false },
        { path: 'data/uploads', dir: true },
      ],
      { delta: true, url: false },
    );
    const r = spawnSync('/bin/sh', ['-c', readStateCommand(app, 'v2', checks)], { encoding: 'utf8', env });
    expect(r.status).toBe(0);
    return parseState(r.stdout);
  };

  test('a command missing on the host is named (PATH without sha256sum)', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const which = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim();
    for (const c of [
      'tar',
      'gzip',
      'mv',
      'ln',
      'cp',
      'chmod',
      'touch',
      'df',
      'awk',
      'sed',
      'find',
      'xargs',
      'sort',
      'cut',
      'dirname',
      'stat',
      'readlink',
      'tail',
      'cat',
    ])
      symlinkSync(which(c), join(bin, c));
    const s = read(join(dir, 'app'), { PATH: bin });
    expect(s.missingCommands).toEqual(['sha256sum']);
    expect(s.exists).toBe(false);
    expect(s.freeKb).toBeGreaterThan(0);
  });

  test('symlinked layout directories, a hand-deployed current, shared entries by kind', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'current'), { recursive: true });
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(app, 'shared'));
    writeFileSync(join(dir, 'elsewhere', '.env'), 'x');
    mkdirSync(join(app, 'releases'));
    symlinkSync(join(dir, 'elsewhere'), join(app, 'releases', 'v1'));
    const s = read(app);
    expect(s).toMatchObject({
      unwritable: '',
      layoutLinks: ['shared'],
      currentIsDirectory: true,
      current: '',
      releaseLinks: ['v1'],
      releases: [],
    });
    expect([...s.shared]).toEqual([
      ['.env', 'file'],
      ['data/uploads', 'absent'],
    ]);
    expect([...s.sharedThroughLink]).toEqual([
      ['.env', '.'],
      ['data/uploads', '.'],
    ]);
  });

  test('current as a link: into releases/ it is a release; anywhere else it is a problem, never a release', () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'releases', 'v1'), { recursive: true });
    symlinkSync('releases/v1', join(app, 'current'));
    expect(read(app)).toMatchObject({ current: 'v1', currentProblem: '' });
    rmSync(join(app, 'current'));
    symlinkSync('releases/../../etc', join(app, 'current'));
    expect(read(app)).toMatchObject({
      current: '',
      currentProblem: "is a symlink to 'releases/../../etc', outside releases/",
    });
  });
});

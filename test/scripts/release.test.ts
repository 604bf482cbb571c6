// The release workflow: its tag check, its CHANGELOG notes, and its steps run as the runner runs them,
// the major-tag move against a real git origin and the publish step against the GitHub API stand-in.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createClient } from '../../src/github/client.js';
import { parseReleaseTag, publishRelease, releaseNotes, releaseProblems } from '../../scripts/release.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';

const REPO = process.cwd();
const workflow = parse(readFileSync('.github/workflows/release.yml', 'utf8')) as {
  on: { push: { tags: string[] } };
  jobs: { release: { permissions: Record<string, string>; steps: { name?: string; uses?: string; run?: string }[] } };
};
const step = (name: string) => {
  const s = workflow.jobs.release.steps.find((x) => x.name === name);
  if (!s?.run) throw new Error(`release.yml has no run step '${name}'`);
  return s.run;
};
// Asynchronous: the GitHub stand-in answers from this very process, so it must not be blocked.
const bash = (script: string, cwd: string, env: Record<string, string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-e', '-c', script], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

const CHANGELOG = [
  '# Changelog',
  '',
  '## [Unreleased]',
  '- next thing',
  '',
  '## [1.2.0] - 2026-12-01',
  '### Added',
  '- `delta` staging',
  '',
  '## [1.1.0] - 2026-11-30',
  '- one fix',
  '',
  '[1.2.0]: https://github.com/o/r/compare/v1.1.0...v1.2.0',
  '',
].join('\n');

test('a release tag is vMAJOR.MINOR.PATCH, and its major tag is vMAJOR', () => {
  expect(parseReleaseTag('v1.2.3')).toEqual({ tag: 'v1.2.3', version: '1.2.3', major: 'v1' });
  expect(parseReleaseTag('v10.0.0').major).toBe('v10');
  for (const bad of ['v1', 'v1.2', '1.2.3', 'v1.2.3-rc1', 'v01.2.3', 'v1.2.3 '])
    expect(() => parseReleaseTag(bad)).toThrow(/not a release tag/);
  // The workflow runs on exactly these tags, so `v1` itself (moved by the workflow) never starts it.
  expect(workflow.on.push.tags).toEqual(['v[0-9]+.[0-9]+.[0-9]+']);
});

test('the notes are the CHANGELOG section of the version, without the next one or link definitions', () => {
  expect(releaseNotes(CHANGELOG, '1.2.0')).toBe('### Added\n- `delta` staging');
  expect(releaseNotes(CHANGELOG, '1.1.0')).toBe('- one fix');
  expect(() => releaseNotes(CHANGELOG, '1.3.0')).toThrow(/no section '## \[1\.3\.0\]'/);
  expect(() => releaseNotes('## [2.0.0]\n\n## [1.0.0]\n- x', '2.0.0')).toThrow(/empty/);
  // This repository's own CHANGELOG has the released version package.json names.
  const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
  expect(releaseNotes(readFileSync('CHANGELOG.md', 'utf8'), version)).toMatch(/ssh-rollout/);
});

test('a tag that disagrees with package.json or has no CHANGELOG section is refused, naming both', () => {
  const pkg = JSON.stringify({ version: '1.2.0' });
  expect(releaseProblems('v1.2.0', pkg, CHANGELOG)).toEqual([]);
  expect(releaseProblems('v1.3.0', pkg, CHANGELOG)).toEqual([
    'package.json says version 1.2.0, the tag says 1.3.0: bump package.json before tagging',
    "CHANGELOG.md has no section '## [1.3.0]': add one (move the Unreleased entries under it)",
  ]);
  expect(releaseProblems('v1.2', pkg, CHANGELOG)).toEqual([
    "'v1.2' is not a release tag: expected vMAJOR.MINOR.PATCH, e.g. v1.2.3",
  ]);
});

test('the workflow grants only contents: write and tests before it moves or publishes anything', () => {
  expect(workflow.jobs.release.permissions).toEqual({ contents: 'write' });
  const names = workflow.jobs.release.steps.map((s) => s.name ?? s.uses);
  expect(names.indexOf('Test, and check dist/ matches the sources')).toBeLessThan(names.indexOf('Move the major tag'));
  expect(names.indexOf('Check the tag, package.json and CHANGELOG.md agree')).toBeLessThan(
    names.indexOf('Move the major tag'),
  );
  expect(names.indexOf('Move the major tag')).toBeLessThan(names.indexOf('Publish the release notes'));
  expect(step('Test, and check dist/ matches the sources')).toContain('.ci/run');
});

test("the workflow's major-tag step moves v1 to each release and leaves the release tags where they are", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-release-'));
  const origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  git(dir, 'init', '-q', '--bare', origin);
  git(dir, 'clone', '-q', origin, work);
  const commit = (msg: string) => {
    writeFileSync(join(work, 'f'), msg);
    git(work, 'add', 'f');
    git(work, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', msg);
    return git(work, 'rev-parse', 'HEAD');
  };
  const remoteTag = (t: string) => git(origin, 'rev-parse', `refs/tags/${t}^{commit}`);
  const first = commit('one');
  git(work, 'tag', 'v1.0.0');
  git(work, 'push', '-q', 'origin', 'HEAD:main', 'v1.0.0');
  let r = await bash(step('Move the major tag'), work, { TAG: 'v1.0.0', SHA: first });
  expect(r.status).toBe(0);
  expect(remoteTag('v1')).toBe(first);
  const second = commit('two');
  git(work, 'tag', 'v1.1.0');
  git(work, 'push', '-q', 'origin', 'HEAD:main', 'v1.1.0');
  r = await bash(step('Move the major tag'), work, { TAG: 'v1.1.0', SHA: second });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`v1 now points at v1.1.0 (${second})`);
  expect(remoteTag('v1')).toBe(second);
  expect(remoteTag('v1.0.0')).toBe(first);
  expect(remoteTag('v1.1.0')).toBe(second);
});

describe('publishing against the GitHub API stand-in', () => {
  let gh: GitHubApiStandIn;
  beforeAll(async () => {
    gh = await startGitHubApi();
  });
  afterAll(async () => {
    await gh?.close();
  });

  test('publishRelease creates the release of the tag, and a re-run updates its notes instead of failing', async () => {
    const client = createClient('t', gh.url);
    const sha = 'a'.repeat(40);
    const first = await publishRelease(
      client,
      { owner: 'o', repo: 'lib' },
      { tag: 'v1.2.0', sha, notes: 'first notes' },
    );
    expect(first).toEqual({ url: 'https://github.com/o/lib/releases/tag/v1.2.0', created: true });
    const again = await publishRelease(
      client,
      { owner: 'o', repo: 'lib' },
      { tag: 'v1.2.0', sha, notes: 'fixed notes' },
    );
    expect(again.created).toBe(false);
    const releases = gh.repo('o/lib').releases;
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({
      tag_name: 'v1.2.0',
      target_commitish: sha,
      name: 'v1.2.0',
      body: 'fixed notes',
    });
  });

  test("the workflow's publish step publishes this repository's CHANGELOG section for the tag", async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const sha = 'b'.repeat(40);
    const r = await bash(step('Publish the release notes'), REPO, {
      TAG: `v${version}`,
      GITHUB_TOKEN: 't',
      GITHUB_REPOSITORY: 'acme/fivestep',
      GITHUB_SHA: sha,
      GITHUB_API_URL: gh.url,
    });
    expect(r.stderr).not.toContain('::error::');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      `published release v${version}: https://github.com/acme/fivestep/releases/tag/v${version}`,
    );
    const [rel] = gh.repo('acme/fivestep').releases;
    expect(rel).toMatchObject({ tag_name: `v${version}`, target_commitish: sha });
    expect(rel.body).toBe(releaseNotes(readFileSync('CHANGELOG.md', 'utf8'), version));
  }, 30_000);

  test('the publish step refuses a tag package.json does not name, and publishes nothing', async () => {
    const r = await bash(step('Publish the release notes'), REPO, {
      TAG: 'v9.9.9',
      GITHUB_TOKEN: 't',
      GITHUB_REPOSITORY: 'acme/other',
      GITHUB_SHA: 'c'.repeat(40),
      GITHUB_API_URL: gh.url,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('::error::package.json says version');
    expect(gh.repo('acme/other').releases).toHaveLength(0);
  }, 30_000);
});

// Releases users can pin (.github/workflows/release.yml runs this on a tag vX.Y.Z):
//   tsx scripts/release.ts check vX.Y.Z     the tag, package.json's version and CHANGELOG.md agree
//   tsx scripts/release.ts publish vX.Y.Z   create (or update) the GitHub release, its notes taken from
//                                           CHANGELOG.md's section for X.Y.Z
// Moving the major tag vX is plain git in the workflow. publish reads GITHUB_TOKEN, GITHUB_REPOSITORY,
// GITHUB_SHA and GITHUB_API_URL, as every step on a runner has them.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createClient, type GitHubClient } from '../src/github/client.js';

export interface ReleaseTag {
  tag: string;
  version: string;
  /** The tag that moves with every release of this major: `v1`. */
  major: string;
}

/** `v1.2.3` → its version and major tag; anything else (v1, v1.2, 1.2.3, v1.2.3-rc1) is refused. */
export function parseReleaseTag(tag: string): ReleaseTag {
  const m = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.exec(tag);
  if (!m) throw new Error(`'${tag}' is not a release tag: expected vMAJOR.MINOR.PATCH, e.g. v1.2.3`);
  return { tag, version: tag.slice(1), major: `v${m[1]}` };
}

/** The body of CHANGELOG.md's `## [X.Y.Z]` (or `## X.Y.Z`) section, up to the next `## `. */
export function releaseNotes(changelog: string, version: string): string {
  const lines = changelog.split('\n');
  const heading = new RegExp(`^## \\[?v?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`);
  const start = lines.findIndex((l) => heading.test(l));
  if (start < 0)
    throw new Error(`CHANGELOG.md has no section '## [${version}]': add one (move the Unreleased entries under it)`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const body = lines
    .slice(start + 1, end < 0 ? undefined : end)
    .join('\n')
    .replace(/^\n+|\s+$/g, '');
  // Link definitions at the foot ([1.0.0]: https://…) belong to the file, not to one release.
  const notes = body.replace(/\n*(^\[[^\]]+\]: \S+$\n?)+$/m, '').trimEnd();
  if (!notes) throw new Error(`CHANGELOG.md's section for ${version} is empty`);
  return notes;
}

/** Everything wrong with releasing `tag` from this tree; empty = go. */
export function releaseProblems(tag: string, packageJson: string, changelog: string): string[] {
  let parsed: ReleaseTag;
  try {
    parsed = parseReleaseTag(tag);
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  const version = (JSON.parse(packageJson) as { version?: string }).version;
  if (version !== parsed.version)
    problems.push(
      `package.json says version ${version ?? '(none)'}, the tag says ${parsed.version}: bump package.json before tagging`,
    );
  try {
    releaseNotes(changelog, parsed.version);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}

/** Creates the release of `tag`, or updates its notes when it exists (a re-run of the workflow). */
export async function publishRelease(
  client: GitHubClient,
  repo: { owner: string; repo: string },
  o: { tag: string; sha: string; notes: string },
): Promise<{ url: string; created: boolean }> {
  const existing = await client.rest.repos.getReleaseByTag({ ...repo, tag: o.tag }).then(
    (r) => r.data,
    (err: { status?: number }) => {
      if (err.status === 404) return undefined;
      throw err;
    },
  );
  if (existing) {
    const updated = await client.rest.repos.updateRelease({
      ...repo,
      release_id: existing.id,
      name: o.tag,
      body: o.notes,
    });
    return { url: updated.data.html_url, created: false };
  }
  const created = await client.rest.repos.createRelease({
    ...repo,
    tag_name: o.tag,
    target_commitish: o.sha,
    name: o.tag,
    body: o.notes,
    make_latest: 'true',
  });
  return { url: created.data.html_url, created: true };
}

async function main(argv: string[]): Promise<number> {
  const [command, tag] = argv;
  if ((command !== 'check' && command !== 'publish') || !tag) {
    console.error('usage: tsx scripts/release.ts check|publish vX.Y.Z');
    return 2;
  }
  const changelog = readFileSync('CHANGELOG.md', 'utf8');
  const problems = releaseProblems(tag, readFileSync('package.json', 'utf8'), changelog);
  for (const p of problems) console.error(`::error::${p}`);
  if (problems.length) return 1;
  const { version, major } = parseReleaseTag(tag);
  if (command === 'check') {
    console.log(`${tag} can be released: package.json and CHANGELOG.md agree; ${major} will move to it`);
    return 0;
  }
  const env = process.env;
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!env.GITHUB_TOKEN || !owner || !repo || !env.GITHUB_SHA) {
    console.error('::error::publish needs GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_SHA');
    return 1;
  }
  const client = createClient(env.GITHUB_TOKEN, env.GITHUB_API_URL || 'https://api.github.com');
  const r = await publishRelease(
    client,
    { owner, repo },
    { tag, sha: env.GITHUB_SHA, notes: releaseNotes(changelog, version) },
  );
  console.log(`${r.created ? 'published' : 'updated'} release ${tag}: ${r.url}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`::error::${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

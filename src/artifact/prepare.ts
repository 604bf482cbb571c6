// The artifact on the runner, before any host is touched: its members read (a directory walked with
// `exclude` applied, an archive read without unpacking) and checked (members.ts); a directory packed
// once to tar.gz with every file's time kept; and, for delta staging, the release's files on disk
// with their manifest. An archive is unpacked on the runner only after its checks passed and only if
// it fits, so the runner never creates a device, a setuid file or anything outside its work directory.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { formatBytes } from '../common/format.js';
import { InputError } from '../common/inputs.js';
import { fits } from '../release/commands.js';
import { UNSUPPORTED_NAME, manifestText, type ManifestEntry } from '../release/delta.js';
import { checkMembers, contentDigest, releaseMode, writableWarning, type Member, type MemberKind } from './members.js';
import { readTarMembers } from './tar-reader.js';
import { walkDirectory } from './walk.js';

const execFileAsync = promisify(execFile);

export interface PreparedArtifact {
  /** The file uploaded to hosts (the artifact-url, redacted, when hosts download it). */
  file: string;
  format: 'tar' | 'tar.gz';
  /** Of the bytes sent: what each host checks the upload against. */
  sha256: string;
  /** What "the same release" is on a host: contentDigest of the members (artifact-sha256 with artifact-url). */
  identity: string;
  bytes: number;
  /** The file's content, uploaded from memory to every host (one read, many writes); empty with artifact-url. */
  content: Buffer;
  /** Regular files and the bytes they take unpacked (unknown with artifact-url: each host sums them). */
  unpacked?: { files: number; bytes: number };
  /** Every path of the release with its kind (unknown with artifact-url). */
  tree?: ReadonlyMap<string, MemberKind>;
  /** With artifact-url: the URL hosts download from, and its redacted form for logs and reports. */
  url?: { href: string; redacted: string };
  /** What delta staging needs: the release's files on the runner. Absent when delta is off or cannot apply. */
  delta?: DeltaSource;
  /** Why delta staging is off for this artifact ('' when it is on or was not asked for). */
  deltaOff?: string;
  /** For the log: what was changed on the way (write bits removed). */
  warnings: string[];
}

/** The release as files on the runner: its manifest, and what every delta tar carries besides missing files. */
export interface DeltaSource {
  /** The directory holding the release's files. */
  root: string;
  entries: ManifestEntry[];
  /** manifestText(entries), gzipped: what each host is offered. */
  manifest: Buffer;
  /** `.` and every directory and symlink, `./`-prefixed as in the full tar. */
  structure: string[];
}

export function artifactKind(input: string, path: string): 'dir' | 'tar' | 'tar.gz' {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InputError(input, `'${path}' does not exist on the runner`);
  }
  if (st.isDirectory()) return 'dir';
  if (/\.(tar\.gz|tgz)$/.test(path)) return 'tar.gz';
  if (/\.tar$/.test(path)) return 'tar';
  throw new InputError(input, `'${path}' must be a directory, a .tar.gz/.tgz or a .tar file`);
}

export interface ArtifactRequest {
  /** The input named in errors (`artifact`). */
  input: string;
  path: string;
  /** Globs left out of a directory artifact (default `.git`). */
  exclude: readonly string[];
  /** Build what delta staging needs. */
  delta: boolean;
  /** Where the packed directory and an unpacked archive go; the caller removes it when the step ends. */
  workDir: string;
}

/** Names on the tar command line: `./path`, the root as `.`. */
const tarName = (m: Member) => (m.path ? `./${m.path}` : '.');

/**
 * Packs members of `root`, listed explicitly (excluded paths never enter), owner-neutral, write bits for group and
 * others off, file times kept.
 */
function packTar(root: string, names: readonly string[], out: string | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const args = [
      '-C',
      root,
      '--no-recursion',
      '--null',
      '-T',
      '-',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=go-w',
      '-czf',
      out ?? '-',
    ];
    const tar = spawn('tar', args, { env: { ...process.env, GZIP: '-n' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    tar.stdout.on('data', (d: Buffer) => chunks.push(d));
    tar.stderr.on('data', (d: Buffer) => (err += String(d)));
    tar.once('error', reject);
    tar.once('close', (code) =>
      code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`tar failed (exit ${code}): ${err.trim()}`)),
    );
    tar.stdin.end(names.map((n) => `${n}\0`).join(''));
  });
}

/** The bytes a file system has free for this process. */
async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export async function prepareArtifact(req: ArtifactRequest): Promise<PreparedArtifact> {
  const kind = artifactKind(req.input, req.path);
  const members =
    kind === 'dir'
      ? await walkDirectory(req.path, req.exclude)
      : await readTarMembers(req.input, req.path, kind === 'tar.gz');
  const summary = checkMembers(req.input, req.path, members);
  const warnings = summary.writable.length > 0 ? [writableWarning(req.path, summary.writable)] : [];
  await mkdir(req.workDir, { recursive: true });

  let file = req.path;
  if (kind === 'dir') {
    file = join(req.workDir, 'artifact.tar.gz');
    await packTar(
      req.path,
      [...members].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map(tarName),
      file,
    );
  }
  const content = readFileSync(file);
  const prepared: PreparedArtifact = {
    file,
    format: kind === 'tar' ? 'tar' : 'tar.gz',
    sha256: createHash('sha256').update(content).digest('hex'),
    identity: contentDigest(members),
    bytes: content.length,
    content,
    unpacked: { files: summary.files, bytes: summary.bytes },
    tree: summary.tree,
    warnings,
  };
  if (!req.delta) return prepared;
  const source = await deltaSource(req, kind, members, summary.bytes);
  return typeof source === 'string' ? { ...prepared, deltaOff: source } : { ...prepared, delta: source };
}

/** How the artifact reaches hosts, as preflight needs to know it (which commands the hosts need). */
export function stagingOf(a: PreparedArtifact): { delta: boolean; url: boolean } {
  return { delta: a.delta !== undefined, url: a.url !== undefined };
}

/** An artifact every host downloads itself (artifact-url): the runner holds none of its bytes. */
export function urlArtifact(href: string, redacted: string, sha256: string): PreparedArtifact {
  // GNU tar detects gzip by itself when it reads a file, so 'tar' serves .tar and .tar.gz alike.
  return {
    file: redacted,
    format: 'tar',
    sha256,
    identity: sha256,
    bytes: 0,
    content: Buffer.alloc(0),
    url: { href, redacted },
    warnings: [],
  };
}

/**
 * The release as files on the runner: the artifact directory itself, or a checked archive unpacked
 * into the work directory if it fits there with room to spare. Why not ('' never) turns delta off
 * for this artifact with a warning; the rollout still runs, with the whole artifact.
 */
async function deltaSource(
  req: ArtifactRequest,
  kind: 'dir' | 'tar' | 'tar.gz',
  members: readonly Member[],
  bytes: number,
): Promise<DeltaSource | string> {
  const odd = members.find((m) => UNSUPPORTED_NAME.test(m.path));
  if (odd) return `the file name ${JSON.stringify(odd.path)} holds a control character or a backslash`;
  let root = req.path;
  if (kind !== 'dir') {
    root = join(req.workDir, 'release-tree');
    await mkdir(root, { recursive: true });
    const free = await freeBytes(root);
    if (!fits(bytes, free))
      return (
        `the runner has ${formatBytes(free)} free in its temporary directory, not enough to unpack ` +
        `${formatBytes(bytes)} with room to spare`
      );
    // The members were checked: no device, no setuid file, nothing outside root. Owners are the runner's.
    await execFileAsync('tar', ['-x', '-p', '--no-same-owner', '-f', req.path, '-C', root]);
  }
  const entries: ManifestEntry[] = members
    .filter((m) => m.kind === 'file' || m.kind === 'hardlink')
    .map((m) => ({
      path: m.path,
      mode: releaseMode(m.mode).toString(8),
      size: m.size,
      mtime: m.mtime,
      sha256: m.sha256 ?? '',
    }));
  const structure = ['.', ...members.filter((m) => m.path && (m.kind === 'dir' || m.kind === 'symlink')).map(tarName)];
  return { root, entries, manifest: gzipSync(manifestText(entries)), structure };
}

/**
 * A tar.gz of `files` plus every directory and symlink of the release, packed as the whole artifact is
 * (owner-neutral, file times kept).
 */
export function deltaTar(source: DeltaSource, files: readonly ManifestEntry[]): Promise<Buffer> {
  const names = [...new Set([...source.structure, ...files.map((f) => `./${f.path}`)])].sort();
  return packTar(source.root, names, null);
}

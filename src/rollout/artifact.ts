// The artifact on the runner: a directory is packed to tar.gz once; its sha256 is what every host verifies.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { InputError } from '../common/inputs.js';
import { UNSUPPORTED_NAME, manifestText, type ManifestEntry } from '../release/delta.js';

const execFileAsync = promisify(execFile);

export interface PreparedArtifact {
  /** The file uploaded to hosts. */
  file: string;
  format: 'tar' | 'tar.gz';
  sha256: string;
  bytes: number;
  /** The file's content, uploaded from memory to every host (one read, many writes); empty with artifact-url. */
  content: Buffer;
  /** With artifact-url: the URL hosts download from, and its redacted form for logs and reports. */
  url?: { href: string; redacted: string };
  /** What delta staging needs: the release's files on the runner. Absent when delta is off or cannot apply. */
  delta?: DeltaSource;
  /** Why delta staging is off for this artifact ('' when it is on or was not asked for). */
  deltaOff?: string;
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

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Packs a directory (contents at the archive root, owner-neutral, sorted so the checksum is stable). */
export async function prepareArtifact(input: string, path: string, workDir?: string): Promise<PreparedArtifact> {
  const kind = artifactKind(input, path);
  let file = path;
  let format: 'tar' | 'tar.gz' = kind === 'tar' ? 'tar' : 'tar.gz';
  if (kind === 'dir') {
    const dir = workDir ?? (await mkdtemp(join(tmpdir(), 'fivestep-artifact-')));
    file = join(dir, 'artifact.tar.gz');
    await execFileAsync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', file, '-C', path, '.'], {
      env: { ...process.env, GZIP: '-n' },
    });
    format = 'tar.gz';
  }
  const content = readFileSync(file);
  const sha256 = createHash('sha256').update(content).digest('hex');
  return { file, format, sha256, bytes: content.length, content };
}

/** An artifact every host downloads itself (artifact-url): the runner holds none of its bytes. */
export function urlArtifact(href: string, redacted: string, sha256: string): PreparedArtifact {
  // GNU tar detects gzip by itself when it reads a file, so 'tar' serves .tar and .tar.gz alike.
  return { file: redacted, format: 'tar', sha256, bytes: 0, content: Buffer.alloc(0), url: { href, redacted } };
}

/**
 * Walks the release (the artifact directory, or a tar unpacked into workDir) into a manifest. Regular
 * files only are offered; a name the manifest cannot carry, or a device or fifo, turns delta off.
 */
export async function deltaSource(input: string, path: string, workDir: string): Promise<DeltaSource | string> {
  const kind = artifactKind(input, path);
  let root = path;
  if (kind !== 'dir') {
    root = join(workDir, 'release-tree');
    await mkdir(root, { recursive: true });
    await execFileAsync('tar', ['-xpf', path, '-C', root]);
  }
  const entries: ManifestEntry[] = [];
  const structure: string[] = ['.'];
  const walk = async (rel: string): Promise<string> => {
    for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${d.name}` : d.name;
      if (UNSUPPORTED_NAME.test(relPath)) return `the file name ${JSON.stringify(relPath)} holds a control character or a backslash`;
      const st = await lstat(join(root, relPath));
      if (st.isDirectory()) {
        structure.push(`./${relPath}`);
        const why = await walk(relPath);
        if (why) return why;
      } else if (st.isSymbolicLink()) structure.push(`./${relPath}`);
      else if (st.isFile()) entries.push({ path: relPath, mode: (st.mode & 0o7777).toString(8), size: st.size, sha256: await sha256File(join(root, relPath)) });
      else return `${JSON.stringify(relPath)} is not a file, directory or symlink`;
    }
    return '';
  };
  const why = await walk('');
  if (why) return why;
  return { root, entries, manifest: gzipSync(manifestText(entries)), structure };
}

/** A tar.gz of `files` plus every directory and symlink of the release, packed as prepareArtifact packs (owner-neutral, sorted). */
export function deltaTar(source: DeltaSource, files: readonly ManifestEntry[]): Promise<Buffer> {
  const names = [...source.structure, ...files.map((f) => `./${f.path}`)].sort();
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', source.root, '--no-recursion', '--null', '-T', '-', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-czf', '-'], {
      env: { ...process.env, GZIP: '-n' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    tar.stdout.on('data', (d: Buffer) => out.push(d));
    tar.stderr.on('data', (d: Buffer) => (err += String(d)));
    tar.once('error', reject);
    tar.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`tar of the delta failed (exit ${code}): ${err.trim()}`))));
    tar.stdin.end(names.map((n) => `${n}\0`).join(''));
  });
}

// The artifact on the runner: a directory is packed to tar.gz once; its sha256 is what every host verifies.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InputError } from '../common/inputs.js';

const execFileAsync = promisify(execFile);

export interface PreparedArtifact {
  /** The file uploaded to hosts. */
  file: string;
  format: 'tar' | 'tar.gz';
  sha256: string;
  bytes: number;
  /** The file's content, uploaded from memory to every host (one read, many writes). */
  content: Buffer;
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

// A directory artifact's member list, read with lstat (a symlink is a member, never followed), with
// `exclude` applied (default `.git`: a .git served from a web root is a well-known leak) and each
// regular file's content hashed.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import type { Member, MemberKind } from './members.js';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Whether `path` (relative, `/`-separated) is excluded: a glob without `/` matches a name at any
 * depth (`.git`, `*.log`), one with `/` the path from the root (`docs/drafts/**`); as in .gitignore,
 * an excluded directory takes everything under it.
 */
export function isExcluded(path: string, globs: readonly string[]): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return globs.some((g) => {
    const glob = g.replace(/^\/+|\/+$/g, '');
    return glob.includes('/') ? minimatch(path, glob, { dot: true }) : minimatch(name, glob, { dot: true });
  });
}

function kindOf(st: Awaited<ReturnType<typeof lstat>>): MemberKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

/** Every member under root ('' is root itself), in name order, excluded paths left out. */
export async function walkDirectory(root: string, exclude: readonly string[]): Promise<Member[]> {
  const members: Member[] = [];
  const add = async (rel: string): Promise<void> => {
    const full = rel ? join(root, rel) : root;
    const st = await lstat(full);
    const kind = kindOf(st);
    const member: Member = {
      path: rel,
      kind,
      mode: st.mode & 0o7777,
      size: kind === 'file' ? st.size : 0,
      mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (kind === 'symlink') member.link = await readlink(full);
    if (kind === 'file') member.sha256 = await sha256File(full);
    members.push(member);
    if (kind !== 'dir') return;
    const names = (await readdir(full)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      if (!isExcluded(child, exclude)) await add(child);
    }
  };
  await add('');
  return members;
}

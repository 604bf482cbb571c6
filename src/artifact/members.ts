// What an artifact may hold so that unpacking it cannot harm a host, decided on its member list before any host
// is touched: regular files, directories and symlinks only; no setuid or setgid file; no member that
// leaves the release (an absolute path, `..`, or a path through a symlink member); group- and
// world-write bits removed with a warning. Pure: the tar reader and the directory walk build the list.
import { createHash } from 'node:crypto';
import { InputError } from '../common/inputs.js';
import { parentPaths } from '../release/layout.js';

export type MemberKind =
  'file' | 'dir' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo' | 'socket' | 'unknown';

export interface Member {
  /** Relative to the release root, `/`-separated, without `./` or a trailing `/`; '' is the root itself. */
  path: string;
  kind: MemberKind;
  /** Permission bits with setuid, setgid and sticky (`mode & 0o7777`). */
  mode: number;
  /** Bytes of a regular file (0 for anything else). */
  size: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** A symlink's target as written; a hard link's target member path (normalised). */
  link?: string;
  /** Of a regular file's content (a hard link: its target's). */
  sha256?: string;
  /** What the archive or the file system said the member is, for a refusal message (`type flag 'S'`). */
  raw?: string;
}

/** The mode a release file gets: group- and world-write removed (releases are read-only trees). */
export const releaseMode = (mode: number): number => mode & 0o7777 & ~0o022;

export interface ArtifactSummary {
  /** Regular files (hard links count: each is a file of the release). */
  files: number;
  /** Their total size: what unpacking writes. */
  bytes: number;
  /** Members whose group- or world-write bit is removed. */
  writable: string[];
  /** Every path of the release with its kind (hard links as files), for the shared-paths checks. */
  tree: Map<string, MemberKind>;
}

/** How many names a refusal or a warning lists before "and N more". */
const LISTED = 10;

export function listNames(names: readonly string[], max = LISTED): string {
  const shown = names
    .slice(0, max)
    .map((n) => `'${n}'`)
    .join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/**
 * A member name as it lands on disk, or null when it would leave the release: absolute, or with a
 * `..` component. `./a//b/` → `a/b`; `.` and `./` → '' (the root).
 */
export function normaliseMemberPath(raw: string): string | null {
  if (raw.startsWith('/')) return null;
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return null;
  return parts.join('/');
}

const KIND_WORDS: Partial<Record<MemberKind, string>> = {
  'char-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a FIFO',
  socket: 'a socket',
  unknown: 'a member of an unsupported type',
};

/**
 * Checks the member list of `what` (the artifact as the user named it) and sums it up; throws an
 * InputError naming `input` and the members at fault. Members arrive with normalised paths.
 */
export function checkMembers(input: string, what: string, members: readonly Member[]): ArtifactSummary {
  const refuse = (message: string): never => {
    throw new InputError(input, `'${what}' ${message}`);
  };
  const special = members.filter((m) => KIND_WORDS[m.kind]);
  if (special.length > 0) {
    const m = special[0];
    refuse(
      `holds ${KIND_WORDS[m.kind]}${m.raw ? ` (${m.raw})` : ''}: ${listNames(special.map((s) => s.path).sort())}. ` +
        `An artifact may hold only regular files, directories and symlinks`,
    );
  }
  const privileged = members.filter((m) => (m.kind === 'file' || m.kind === 'hardlink') && (m.mode & 0o6000) !== 0);
  if (privileged.length > 0) {
    refuse(
      `holds setuid or setgid files: ${listNames(privileged.map((m) => m.path).sort())}. Remove those bits ` +
        `(chmod u-s,g-s) before deploying: a release must not grant privileges`,
    );
  }

  const tree = new Map<string, MemberKind>();
  const links = new Map<string, string>();
  let files = 0;
  let bytes = 0;
  for (const m of members) {
    for (const p of parentPaths(m.path)) {
      if (links.has(p))
        refuse(
          `holds '${m.path}' under the symlink '${p}' (→ ${links.get(p)}): a member cannot go through a ` +
            `symlink, it could land outside the release`,
        );
      const kind = tree.get(p);
      if (kind !== undefined && kind !== 'dir') refuse(`holds '${m.path}' under '${p}', which is not a directory`);
    }
    const before = tree.get(m.path);
    // A path given twice could turn a directory into a symlink between two members that use it.
    if (before !== undefined && !(before === 'dir' && m.kind === 'dir')) refuse(`holds '${m.path || '.'}' twice`);
    if (m.kind === 'hardlink') {
      if (tree.get(m.link ?? '') !== 'file')
        refuse(`holds the hard link '${m.path}' to '${m.link}', which is not a regular file earlier in the archive`);
      tree.set(m.path, 'file');
    } else tree.set(m.path, m.kind);
    if (m.kind === 'symlink') links.set(m.path, m.link ?? '');
    if (m.kind === 'file' || m.kind === 'hardlink') files++;
    // A hard link takes no more space than its target.
    if (m.kind === 'file') bytes += m.size;
  }
  if (files === 0) refuse('holds no file: an empty release would replace the running one everywhere');
  const writable = members
    .filter((m) => m.kind !== 'symlink' && (m.mode & 0o022) !== 0)
    .map((m) => m.path || '.')
    .sort();
  return { files, bytes, writable, tree };
}

/** The warning for the write bits removed. */
export function writableWarning(what: string, writable: readonly string[]): string {
  return (
    `artifact '${what}': group- and world-write removed from ${writable.length} member(s) (releases ` +
    `are read-only trees): ${listNames(writable)}`
  );
}

/**
 * What "the same release" means on a host: a digest of every member's kind, mode as unpacked, size,
 * content and link target, by path, leaving out modification times, so a rebuilt artifact with the
 * same files (a re-run job) is recognised as the release already there.
 */
export function contentDigest(members: readonly Member[]): string {
  const hash = createHash('sha256');
  const byPath = [...members].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const lines = byPath.map((m) => {
    const kind = m.kind === 'hardlink' ? 'file' : m.kind;
    const what = kind === 'file' ? (m.sha256 ?? '') : kind === 'symlink' ? (m.link ?? '') : '';
    return `${kind}\t${releaseMode(m.mode).toString(8)}\t${kind === 'file' ? m.size : 0}\t${what}\t${m.path}`;
  });
  for (const l of lines) hash.update(`${l}\n`);
  return hash.digest('hex');
}

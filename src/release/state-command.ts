// Reading a host's release state in one round trip, and parsing the answer (host-controlled text:
// every line checked, nothing trusted).
import { quote } from '../common/shell.js';
import { oneLine } from '../common/text.js';
import { findUnwritable, parseLog, type DeployLogEntry } from './commands.js';
import { readLockCommand } from './lock-commands.js';
import { layout, parentPaths, RELEASE_ID_PATTERN, type SharedPath } from './layout.js';

/** How much of the deploy log a state read brings back: far more than keep-releases ever needs. */
export const LOG_LINES_READ = 2000;

/** What the preflight asks of a host besides its state. */
export interface StateChecks {
  /** shared-paths entries: how each is present in shared/. */
  shared: readonly SharedPath[];
  /** Commands the steps need; each missing one is named. */
  commands: readonly string[];
}

/**
 * Reads a host's release state as `key=value` lines: current, each release with its mtime,
 * bad markers, the checksum recorded for `releaseId` (to skip a repeat upload) and the newest
 * lines of the deploy log (the ledger), in one round trip. With `checks`, also what preflight needs:
 * whether the deploy path can be written, the free space there, the commands missing, and how each
 * shared path is present. Changes nothing.
 */
export function readStateCommand(deployPath: string, releaseId = '', checks?: StateChecks): string {
  const l = layout(deployPath);
  const nearest = `d=${quote(deployPath)}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done`;
  const free = (dir: string) => `df -Pk ${dir} 2>/dev/null | awk 'NR==2 { print "free-kb=" $4 }'`;
  const lines = [
    ...(checks
      ? [
          ...findUnwritable(deployPath),
          `[ -z "$unwritable" ] || printf 'unwritable=%s\\n' "$unwritable"`,
          `for c in ${checks.commands.map(quote).join(' ')}; do command -v "$c" >/dev/null 2>&1 || echo ` +
            `"missing-command=$c"; done; true`,
        ]
      : []),
    `cd ${quote(deployPath)} 2>/dev/null || { echo absent=1; ${checks ? `${nearest}; ${free('"$d"')}; ` : ''}exit 0; }`,
    // A layout directory that is a symlink would lead fivestep's writes out of the deploy path.
    `for n in releases shared .fivestep; do [ -L "$n" ] && printf 'layout-link=%s\\n' "$n"; done; true`,
    `if [ -L current ]; then printf 'current-link=%s\\n' "$(readlink current)"; elif [ -d current ]; then ` +
      `echo current-kind=dir; elif [ -e current ]; then echo current-kind=file; fi`,
    `for d in releases/*/; do [ -d "$d" ] || continue; n=\${d#releases/}; n=\${n%/}; if [ -L "releases/$n" ` +
      `]; then echo "release-link=$n"; continue; fi; echo "release=$n $(stat -c %Y "releases/$n")"; done`,
    `for b in ${quote(l.bad)}/*; do [ -f "$b" ] && echo "bad=\${b##*/}"; done; true`,
    releaseId
      ? `[ -f ${quote(`${l.checksums}/${releaseId}`)} ] && echo "checksum=$(cat ` +
        `${quote(`${l.checksums}/${releaseId}`)})"; true`
      : 'true',
    `tail -n ${LOG_LINES_READ} ${quote(l.log)} 2>/dev/null | sed 's/^/log=/'; true`,
    readLockCommand(deployPath),
  ];
  if (checks) {
    lines.push(free('.'));
    for (const { path } of checks.shared) {
      const inShared = quote(`shared/${path}`);
      for (const p of ['', ...parentPaths(path)]) {
        const dir = quote(p ? `shared/${p}` : 'shared');
        lines.push(`[ -L ${dir} ] && printf 'shared-through-link=%s\\t%s\\n' ${quote(path)} ${quote(p || '.')}; true`);
      }
      lines.push(
        `if [ -L ${inShared} ]; then k=link; elif [ -d ${inShared} ]; then k=dir; elif [ -e ${inShared} ]; ` +
          `then k=file; else k=absent; fi; printf 'shared=%s\\t%s\\n' "$k" ${quote(path)}`,
      );
    }
  }
  return lines.join('\n');
}

export type SharedKind = 'link' | 'dir' | 'file' | 'absent';

export interface HostState {
  exists: boolean;
  /** The release `current` points at ('' when there is none, or when it cannot be used: see currentProblem). */
  current: string;
  /**
   * Why `current` is not a release fivestep can use ('' when it is one, or absent): a real directory, a link outside
   * releases/.
   */
  currentProblem: string;
  /** `current` is a real directory (an app deployed by hand): adopt-current can move it in. */
  currentIsDirectory: boolean;
  /** Release ids with their directory mtime (seconds), oldest first; symlinked entries are not releases. */
  releases: { id: string; mtime: number }[];
  /** Entries of releases/ that are symlinks: never built from, switched to or pruned through. */
  releaseLinks: string[];
  /** releases, shared or .fivestep when they are symlinks. */
  layoutLinks: string[];
  bad: string[];
  /** The checksum recorded for the release asked about, '' when none. */
  checksum: string;
  /** The newest deploy log lines, oldest first (torn or foreign lines skipped). */
  log: DeployLogEntry[];
  /** With checks: the first path the login user cannot write ('' = writable). */
  unwritable: string;
  /** With checks: commands the steps need that the host lacks. */
  missingCommands: string[];
  /** With checks: free space on the deploy path's file system (or its nearest existing parent's), KiB. */
  freeKb: number | null;
  /** With checks: how each shared path is present in shared/. */
  shared: Map<string, SharedKind>;
  /** With checks: shared paths whose parent in shared/ (or shared/ itself, '.') is a symlink. */
  sharedThroughLink: Map<string, string>;
  /** The deploy lock, when one is held: who holds it (host-controlled text, one printable line) and since when. */
  lock: { holder: string; ageSec: number } | null;
}

export function emptyState(): HostState {
  return {
    exists: true,
    current: '',
    currentProblem: '',
    currentIsDirectory: false,
    releases: [],
    releaseLinks: [],
    layoutLinks: [],
    bad: [],
    checksum: '',
    log: [],
    unwritable: '',
    missingCommands: [],
    freeKb: null,
    shared: new Map(),
    sharedThroughLink: new Map(),
    lock: null,
  };
}

const validId = (id: string) => RELEASE_ID_PATTERN.test(id) && id !== '.' && id !== '..';

export function parseState(stdout: string): HostState {
  const state = emptyState();
  let link: string | undefined;
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const raw = line.slice(eq + 1);
    const value = raw.trim();
    if (key === 'absent') state.exists = false;
    else if (key === 'current-link') link = raw;
    // The lines a state read wrote before links were checked.
    else if (key === 'current') link = value ? `releases/${value}` : undefined;
    else if (key === 'current-kind') {
      state.currentIsDirectory = value === 'dir';
      state.currentProblem =
        value === 'dir' ? 'is a directory, not a symlink (an app deployed by hand?)' : 'is a file, not a symlink';
    } else if (key === 'bad') state.bad.push(value);
    else if (key === 'checksum') state.checksum = value;
    else if (key === 'log') state.log.push(...parseLog(raw));
    else if (key === 'release') {
      const [id, mtime] = value.split(' ');
      if (validId(id)) state.releases.push({ id, mtime: Number(mtime) || 0 });
    } else if (key === 'release-link') state.releaseLinks.push(value);
    else if (key === 'layout-link') state.layoutLinks.push(value);
    else if (key === 'unwritable') state.unwritable = value;
    else if (key === 'missing-command') state.missingCommands.push(value);
    else if (key === 'free-kb') state.freeKb = Number.isFinite(Number(value)) && value !== '' ? Number(value) : null;
    else if (key === 'shared') {
      const tab = raw.indexOf('\t');
      const kind = raw.slice(0, tab) as SharedKind;
      if (tab > 0 && ['link', 'dir', 'file', 'absent'].includes(kind)) state.shared.set(raw.slice(tab + 1), kind);
    } else if (key === 'lock') {
      const m = /^(-?\d+) ?(.*)$/.exec(raw);
      if (m) state.lock = { ageSec: Number(m[1]), holder: oneLine(m[2], 300) || 'an unknown run' };
    } else if (key === 'shared-through-link') {
      const tab = raw.indexOf('\t');
      if (tab > 0) state.sharedThroughLink.set(raw.slice(0, tab), raw.slice(tab + 1));
    }
  }
  if (link !== undefined) {
    // Only `releases/<id>` is a release: anything else would lead fivestep out of releases/.
    const m = /^releases\/([^/]+)\/?$/.exec(link);
    if (m && validId(m[1]) && !state.releaseLinks.includes(m[1])) state.current = m[1];
    else if (m && state.releaseLinks.includes(m[1]))
      state.currentProblem = `points at releases/${m[1]}, which is a symlink`;
    else state.currentProblem = `is a symlink to '${oneLine(link, 300)}', outside releases/`;
  }
  state.releases.sort((a, b) => a.mtime - b.mtime || a.id.localeCompare(b.id));
  return state;
}

// Remote commands as pure functions returning one sh string each (tested by exact string, run by a thin executor).
// Every value is validated upstream and still passes through quote(): nothing reaches the shell unquoted.
import { quote, envAssignments } from '../common/shell.js';
import { oneLine } from '../common/text.js';
import { layout, parentPaths, releasePath, RELEASE_ID_PATTERN, type SharedPath } from './layout.js';

/**
 * Exit codes our commands use so the runner can tell failures apart. deltaMismatch: a release built
 * from hard links did not match its manifest (the runner then sends the whole artifact); unwritable:
 * the login user cannot write the deploy path; noSpace: the release does not fit; refused: the
 * artifact or the host holds something fivestep will not use (a device, a symlink where a directory
 * must be).
 */
export const EXIT = { checksum: 64, exists: 65, missing: 66, deltaMismatch: 67, unwritable: 68, noSpace: 69, refused: 70, lockHeld: 75 } as const;

/** Environment every user command sees (SPEC). */
export interface ReleaseEnv {
  deployPath: string;
  releaseId: string;
  previousReleaseId: string;
}

function releaseEnv(e: ReleaseEnv): string {
  return envAssignments({
    RELEASE_ID: e.releaseId,
    RELEASE_PATH: releasePath(e.deployPath, e.releaseId),
    DEPLOY_PATH: e.deployPath,
    PREVIOUS_RELEASE_ID: e.previousReleaseId,
  });
}

/** How much of the deploy log a state read brings back: far more than keep-releases ever needs. */
export const LOG_LINES_READ = 2000;

/**
 * Sets `$unwritable` to the first of the deploy path, releases/, .fivestep/ and shared/ that exists
 * and that the login user cannot write, or, when the deploy path does not exist yet, to its nearest
 * existing parent if that one is not writable ('' when all is well). `[ -w ]` asks the kernel
 * (access(2)), so a read-only mount counts as unwritable too.
 */
function findUnwritable(deployPath: string): string[] {
  const l = layout(deployPath);
  const dp = quote(deployPath);
  return [
    `unwritable=; for d in ${[deployPath, l.releases, l.state, l.shared].map(quote).join(' ')}; do if [ -e "$d" ] && [ ! -w "$d" ]; then unwritable=$d; break; fi; done`,
    `if [ ! -e ${dp} ]; then d=${dp}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; [ -w "$d" ] || unwritable=$d; fi`,
  ];
}

/** What the preflight asks of a host besides its state (SPEC "Preflight checks"). */
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
          `for c in ${checks.commands.map(quote).join(' ')}; do command -v "$c" >/dev/null 2>&1 || echo "missing-command=$c"; done; true`,
        ]
      : []),
    `cd ${quote(deployPath)} 2>/dev/null || { echo absent=1; ${checks ? `${nearest}; ${free('"$d"')}; ` : ''}exit 0; }`,
    // A layout directory that is a symlink would lead fivestep's writes out of the deploy path.
    `for n in releases shared .fivestep; do [ -L "$n" ] && printf 'layout-link=%s\\n' "$n"; done; true`,
    `if [ -L current ]; then printf 'current-link=%s\\n' "$(readlink current)"; elif [ -d current ]; then echo current-kind=dir; elif [ -e current ]; then echo current-kind=file; fi`,
    `for d in releases/*/; do [ -d "$d" ] || continue; n=\${d#releases/}; n=\${n%/}; if [ -L "releases/$n" ]; then echo "release-link=$n"; continue; fi; echo "release=$n $(stat -c %Y "releases/$n")"; done`,
    `for b in ${quote(l.bad)}/*; do [ -f "$b" ] && echo "bad=\${b##*/}"; done; true`,
    releaseId ? `[ -f ${quote(`${l.checksums}/${releaseId}`)} ] && echo "checksum=$(cat ${quote(`${l.checksums}/${releaseId}`)})"; true` : 'true',
    `tail -n ${LOG_LINES_READ} ${quote(l.log)} 2>/dev/null | sed 's/^/log=/'; true`,
  ];
  if (checks) {
    lines.push(free('.'));
    for (const { path } of checks.shared) {
      const inShared = quote(`shared/${path}`);
      for (const p of ['', ...parentPaths(path)]) {
        const dir = quote(p ? `shared/${p}` : 'shared');
        lines.push(`[ -L ${dir} ] && printf 'shared-through-link=%s\\t%s\\n' ${quote(path)} ${quote(p || '.')}; true`);
      }
      lines.push(`if [ -L ${inShared} ]; then k=link; elif [ -d ${inShared} ]; then k=dir; elif [ -e ${inShared} ]; then k=file; else k=absent; fi; printf 'shared=%s\\t%s\\n' "$k" ${quote(path)}`);
    }
  }
  return lines.join('\n');
}

export type SharedKind = 'link' | 'dir' | 'file' | 'absent';

export interface HostState {
  exists: boolean;
  /** The release `current` points at ('' when there is none, or when it cannot be used: see currentProblem). */
  current: string;
  /** Why `current` is not a release fivestep can use ('' when it is one, or absent): a real directory, a link outside releases/. */
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
      state.currentProblem = value === 'dir' ? 'is a directory, not a symlink (an app deployed by hand?)' : 'is a file, not a symlink';
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
    } else if (key === 'shared-through-link') {
      const tab = raw.indexOf('\t');
      if (tab > 0) state.sharedThroughLink.set(raw.slice(0, tab), raw.slice(tab + 1));
    }
  }
  if (link !== undefined) {
    // Only `releases/<id>` is a release: anything else would lead fivestep out of releases/.
    const m = /^releases\/([^/]+)\/?$/.exec(link);
    if (m && validId(m[1]) && !state.releaseLinks.includes(m[1])) state.current = m[1];
    else if (m && state.releaseLinks.includes(m[1])) state.currentProblem = `points at releases/${m[1]}, which is a symlink`;
    else state.currentProblem = `is a symlink to '${oneLine(link, 300)}', outside releases/`;
  }
  state.releases.sort((a, b) => a.mtime - b.mtime || a.id.localeCompare(b.id));
  return state;
}


/** A lock whose heartbeat is older than this is stale: its holder is gone (SPEC). */
export const LOCK_STALE_SEC = 60;

/** Writes the owner file (token, owner, heartbeat on the host's clock) by rename, so no reader sees it half-written. */
function writeOwner(lock: string, token: string, owner: string): string {
  return `printf '%s\\n' ${quote(token)} ${quote(owner)} "$(date +%s)" > ${lock}/owner.tmp && mv -f ${lock}/owner.tmp ${lock}/owner`;
}

/**
 * One attempt at the host's lock (an atomic mkdir). Exits EXIT.unwritable printing `unwritable <path>`
 * when the login user cannot write the deploy path. Prints `acquired`, `took-over <age> <holder>`
 * (the old lock was stale, or its holder is `forceOwner`, a run known to have completed) or exits
 * EXIT.lockHeld printing `held <age> <holder>`, age being seconds since the holder's last heartbeat.
 * Ages use the host's clock, so runners with skewed clocks agree. A takeover is guarded by a second
 * mkdir, so two rollouts that both see a stale lock cannot both take it.
 */
export function acquireLockCommand(deployPath: string, owner: string, token: string, forceOwner = ''): string {
  const l = layout(deployPath);
  const lock = quote(l.lock);
  const guard = quote(`${l.lock}.takeover`);
  const write = writeOwner(lock, token, owner);
  const read = `tok=$(sed -n 1p ${lock}/owner 2>/dev/null || true); holder=$(sed -n 2p ${lock}/owner 2>/dev/null || true); beat=$(sed -n 3p ${lock}/owner 2>/dev/null || true)`;
  return [
    // A deploy path the login user cannot write is said as such, never taken for someone else's lock.
    ...findUnwritable(deployPath),
    `[ -z "$unwritable" ] && mkdir -p ${quote(l.state)} 2>/dev/null || { [ -n "$unwritable" ] || unwritable=${quote(l.state)}; printf 'unwritable %s\\n' "$unwritable"; exit ${EXIT.unwritable}; }`,
    `if mkdir ${lock} 2>/dev/null; then ${write}; echo acquired; exit 0; fi`,
    read,
    `now=$(date +%s)`,
    // No owner file yet: a rollout is between its mkdir and its write; the directory's age stands in.
    `case "$beat" in ''|*[!0-9]*) beat=$(stat -c %Y ${lock} 2>/dev/null || echo "$now");; esac`,
    // Locks written before the heartbeat held an expiry one hour ahead.
    `[ "$beat" -gt $((now + 120)) ] && beat=$((beat - 3600))`,
    `age=$((now - beat))`,
    `if [ "$tok" = ${quote(token)} ]; then ${write}; echo acquired; exit 0; fi`,
    `[ -d ${guard} ] && [ $((now - $(stat -c %Y ${guard} 2>/dev/null || echo "$now"))) -gt ${LOCK_STALE_SEC} ] && rmdir ${guard} 2>/dev/null`,
    `if { [ "$age" -gt ${LOCK_STALE_SEC} ] || { [ -n ${quote(forceOwner)} ] && [ "$holder" = ${quote(forceOwner)} ]; }; } && mkdir ${guard} 2>/dev/null; then`,
    `  if [ "$(sed -n 1p ${lock}/owner 2>/dev/null || true)" = "$tok" ]; then rm -rf ${lock}; if mkdir ${lock} 2>/dev/null; then ${write}; rmdir ${guard}; echo "took-over $age $holder"; exit 0; fi; fi`,
    `  rmdir ${guard}; ${read}`,
    `fi`,
    `echo "held $age $holder"; exit ${EXIT.lockHeld}`,
  ].join('\n');
}

/**
 * The heartbeat as one long-lived command: each line the runner writes renews the heartbeat and is
 * answered `renewed`, or `lost` (and the loop ends) when another run holds the lock now. A renewal then costs one packet on an open channel, not a new session: at a
 * thousand hosts a renewal every 15 s for each would otherwise rival the rollout's own commands.
 * When the runner vanishes no line comes, so the heartbeat goes stale as the lock's rules expect.
 */
export function heartbeatCommand(deployPath: string, token: string, owner: string): string {
  const lock = quote(layout(deployPath).lock);
  return `while IFS= read -r beat; do if [ "$(sed -n 1p ${lock}/owner 2>/dev/null)" = ${quote(token)} ]; then ${writeOwner(lock, token, owner)} 2>/dev/null; echo renewed; else echo lost; exit 0; fi; done`;
}

/** Releases the lock only if this run still holds it (its token is in the owner file). */
export function releaseLockCommand(deployPath: string, token: string): string {
  const lock = quote(layout(deployPath).lock);
  return `[ "$(sed -n 1p ${lock}/owner 2>/dev/null)" = ${quote(token)} ] && rm -rf ${lock}; true`;
}

/** Receives the artifact on stdin into incoming/, verifying its sha256; nothing is left behind when either fails. */
export function receiveArtifactCommand(deployPath: string, releaseId: string, sha256: string): string {
  const l = layout(deployPath);
  const tmp = quote(`${l.incoming}/${releaseId}.artifact`);
  return [
    'set -e',
    `mkdir -p ${quote(l.incoming)}`,
    `cat > ${tmp} || { rm -f ${tmp}; echo 'could not store the upload (is the disk full?)' >&2; exit 1; }`,
    `if [ "$(sha256sum ${tmp} | cut -d' ' -f1)" != ${quote(sha256)} ]; then rm -f ${tmp}; echo 'checksum mismatch after upload' >&2; exit ${EXIT.checksum}; fi`,
  ].join('\n');
}

/** A release that fits leaves this share of the free space free (on a host, and on the runner). */
export const SPARE_SHARE = 0.1;

/** `need` bytes fit in `free` bytes with SPARE_SHARE of them to spare. */
export function fits(need: number, free: number): boolean {
  return need + free * SPARE_SHARE <= free;
}

/**
 * fits(), on the host: checks that `$need` bytes fit in the deploy path's file system with room to spare,
 * else exits EXIT.noSpace saying how much is needed and free, before anything is written.
 */
export function spaceCheck(deployPath: string, needBytes: string): string[] {
  const l = layout(deployPath);
  const human = 'function h(b) { if (b >= 1073741824) return sprintf("%.1f GiB", b / 1073741824); if (b >= 1048576) return sprintf("%.1f MiB", b / 1048576); if (b >= 1024) return sprintf("%.1f KiB", b / 1024); return b " B" }';
  const say = `BEGIN { printf "not enough space in %s: the release needs %s unpacked, plus %s to spare (10%% of the free space); %s is free\\n", dp, h(need), h(free * 102.4), h(free * 1024) }`;
  return [
    `need=${needBytes}; free=$(df -Pk ${quote(l.releases)} 2>/dev/null | awk 'NR==2 { print $4 }')`,
    `if [ -n "$free" ] && [ $(( (need + 1023) / 1024 + free / ${Math.round(1 / SPARE_SHARE)} )) -gt "$free" ]; then awk -v need="$need" -v free="$free" -v dp=${quote(deployPath)} '${human} ${say}' >&2; exit ${EXIT.noSpace}; fi`,
  ];
}

/**
 * Lists an archive that no runner has checked (artifact-url) and prints the bytes its files take;
 * refuses (EXIT.refused, naming the members) devices, FIFOs, sockets and setuid or setgid files, before
 * anything is unpacked. `tar -tv` escapes unprintable names, so each member is one line.
 */
function listCheckedCommand(archive: string, z: string, out: string): string {
  const awk = [
    '{ t = substr($1, 1, 1) }',
    't != "-" && t != "d" && t != "l" && t != "h" { if (nbad < 10) bad = bad "\\n  " $0; nbad++; next }',
    't == "-" && (substr($1, 4, 1) ~ /[sS]/ || substr($1, 7, 1) ~ /[sS]/) { if (nsuid < 10) suid = suid "\\n  " $0; nsuid++ }',
    't == "-" { size += $3 }',
    'END {',
    `  if (nbad) { printf "the artifact holds %d member(s) that are not regular files, directories or symlinks (refused):%s\\n", nbad, bad > "/dev/stderr"; exit ${EXIT.refused} }`,
    `  if (nsuid) { printf "the artifact holds %d setuid or setgid file(s) (refused):%s\\n", nsuid, suid > "/dev/stderr"; exit ${EXIT.refused} }`,
    '  printf "%.0f\\n", size',
    '}',
  ].join(' ');
  return [
    `tar -t${z}v --numeric-owner -f ${archive} > ${out}.list 2> ${out}.err || { echo "the artifact cannot be read as a tar archive: $(tail -n 2 ${out}.err | tr '\\n' ' ')" >&2; exit 1; }`,
    `listed=$(awk '${awk}' ${out}.list)`,
  ].join('\n');
}

export interface UnpackOptions {
  /** What "the same release" is (a content digest, or artifact-sha256): an existing release with it is kept as it is. */
  identity: string;
  format: 'tar' | 'tar.gz';
  /** The ledger line, written in the same command. */
  staged?: DeployLogEntry;
  /**
   * Bytes the unpacked files take, when the runner checked the artifact's members. Unknown
   * (artifact-url): the host lists the archive, refuses what the runner would have, and sums it.
   */
  unpackedBytes?: number;
}

/**
 * Unpacks the received artifact into releases/<id>/ via a `.partial` directory renamed into place,
 * so releases/<id>/ is complete or absent: on any failure (a full disk) the partial directory and
 * the upload are removed. The release must fit first (spaceCheck); group- and world-write bits are
 * removed; file owners are never taken from the archive. An existing release with other content, or a
 * releases/<id> that is a symlink, is refused. Records `staged`.
 */
export function unpackCommand(deployPath: string, releaseId: string, options: UnpackOptions): string {
  const { identity, format, staged, unpackedBytes } = options;
  const l = layout(deployPath);
  const target = quote(releasePath(deployPath, releaseId));
  const partial = quote(`${l.releases}/.${releaseId}.partial`);
  const tmp = quote(`${l.incoming}/${releaseId}.artifact`);
  const sum = quote(`${l.checksums}/${releaseId}`);
  const manifest = quote(`${l.incoming}/${releaseId}.manifest`);
  // Everything received for this release (the upload, its listing, and a delta offer's manifest and index).
  const received = `${quote(`${l.incoming}/${releaseId}`)}.*`;
  const z = format === 'tar.gz' ? 'z' : '';
  return [
    'set -e',
    `mkdir -p ${quote(l.releases)} ${quote(l.checksums)} ${quote(l.shared)}`,
    `if [ -L ${target} ]; then echo ${quote(`releases/${releaseId} is a symlink: fivestep never writes through one; remove it on the host`)} >&2; exit ${EXIT.refused}; fi`,
    `if [ -e ${target} ]; then if [ "$(cat ${sum} 2>/dev/null)" = ${quote(identity)} ]; then rm -f ${received}; ${staged ? `${appendLogCommand(deployPath, staged)}; ` : ''}exit 0; fi; echo 'release directory already exists with other content: use a new release-id' >&2; exit ${EXIT.exists}; fi`,
    `cleanup() { rm -rf ${partial} ${received} ${sum}; }`,
    'trap cleanup EXIT',
    ...(unpackedBytes === undefined ? [listCheckedCommand(tmp, z, tmp), ...spaceCheck(deployPath, '"$listed"')] : spaceCheck(deployPath, String(unpackedBytes))),
    `rm -rf ${partial}`,
    `mkdir ${partial}`,
    // -p: modes exactly as the artifact has them (not masked by the login's umask), as delta staging builds them.
    `tar -x${z}p --no-same-owner -f ${tmp} -C ${partial}`,
    // Releases are read-only trees (chmod -R does not follow the symlinks it meets).
    `chmod -R go-w ${partial}`,
    // tar restores the archive's mtime of `./` onto the directory (epoch 0 for a packed directory);
    // prune orders releases by this mtime, so it must be the unpack time.
    `touch ${partial}`,
    // The manifest the runner offered (delta staging), kept so the next release can be built from this one.
    `if [ -f ${manifest} ]; then mkdir -p ${quote(l.manifests)}; mv ${manifest} ${quote(`${l.manifests}/${releaseId}`)}; fi`,
    `printf '%s\\n' ${quote(identity)} > ${sum}`,
    `mv ${partial} ${target}`,
    `trap - EXIT`,
    `rm -f ${received}`,
    ...(staged ? [appendLogCommand(deployPath, staged)] : []),
  ].join('\n');
}

/** Removes a release this run staged but never switched to (its rollout stopped): nothing half-done stays. */
export function discardReleaseCommand(deployPath: string, releaseId: string): string {
  const l = layout(deployPath);
  const target = `releases/${releaseId}`;
  return [
    `cd ${quote(deployPath)} 2>/dev/null || exit 0`,
    `[ "$(readlink current 2>/dev/null)" = ${quote(target)} ] && { echo 'is current: kept' >&2; exit 1; }`,
    `rm -rf -- ${quote(target)} ${quote(`${l.releases}/.${releaseId}.partial`)} ${quote(`${l.checksums}/${releaseId}`)} ${quote(`${l.manifests}/${releaseId}`)} ${quote(`${l.incoming}/${releaseId}`)}.*`,
  ].join('\n');
}

/**
 * Links each shared path from shared/ into the release. A shared entry missing from shared/ is seeded
 * from the release, or created empty when declared a directory (`log/`); missing from both, the step
 * fails naming it: a file is never turned into a directory. No path is followed through a symlink:
 * a parent directory of a shared path that is a symlink, in the release or in shared/, fails the
 * step (EXIT.refused) before anything is removed or created.
 */
export function linkSharedCommand(deployPath: string, releaseId: string, shared: readonly SharedPath[]): string {
  const rel = `releases/${releaseId}`;
  const lines = ['set -e', `cd ${quote(deployPath)}`, `fail() { printf '%s\\n' "$1" >&2; exit ${EXIT.refused}; }`];
  lines.push(`[ -L shared ] && fail ${quote(`${deployPath}/shared is a symlink: shared paths would be written outside the deploy path`)}; mkdir -p shared`);
  for (const { path, dir } of shared) {
    const name = `shared path '${path}${dir ? '/' : ''}'`;
    for (const q of parentPaths(path)) {
      lines.push(
        `[ -L ${quote(`${rel}/${q}`)} ] && fail ${quote(`${name}: '${q}' is a symlink in the release: a shared path cannot go through a symlink`)}`,
        `[ -e ${quote(`${rel}/${q}`)} ] && [ ! -d ${quote(`${rel}/${q}`)} ] && fail ${quote(`${name}: '${q}' is not a directory in the release`)}`,
        `[ -L ${quote(`shared/${q}`)} ] && fail ${quote(`${name}: shared/${q} is a symlink: a shared path cannot go through a symlink`)}`,
        `[ -e ${quote(`shared/${q}`)} ] && [ ! -d ${quote(`shared/${q}`)} ] && fail ${quote(`${name}: shared/${q} is not a directory`)}`,
      );
    }
    const inShared = quote(`shared/${path}`);
    const inRelease = quote(`${rel}/${path}`);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (dir) {
      lines.push(
        `[ -e ${inShared} ] && [ ! -L ${inShared} ] && [ ! -d ${inShared} ] && fail ${quote(`${name} declares a directory, but ${deployPath}/shared/${path} is a file`)}`,
        `[ -L ${inRelease} ] || { [ -e ${inRelease} ] && [ ! -d ${inRelease} ]; } && fail ${quote(`${name} declares a directory, but the release holds '${path}' as a file or symlink`)}`,
      );
    }
    const missing = `${name} is in neither ${deployPath}/shared/ nor the release: create ${deployPath}/shared/${path} on each host first${dir ? '' : `, or write '${path}/' in shared-paths to declare a directory that starts empty`}`;
    lines.push(
      `if [ ! -e ${inShared} ] && [ ! -L ${inShared} ]; then`,
      `  if [ -e ${inRelease} ] || [ -L ${inRelease} ]; then ${parent ? `mkdir -p ${quote(`shared/${parent}`)}; ` : ''}cp -a ${inRelease} ${inShared}`,
      dir ? `  else mkdir -p ${inShared}` : `  else fail ${quote(missing)}`,
      '  fi',
      'fi',
      ...(parent ? [`mkdir -p ${quote(`${rel}/${parent}`)}`] : []),
      `rm -rf ${inRelease}`,
      `ln -s ${quote(`${deployPath}/shared/${path}`)} ${inRelease}`,
    );
  }
  return lines.join('\n');
}

/** Runs a user command with `set -e` semantics in `dir`, with the release environment. */
export function userCommand(dir: string, command: string, env: ReleaseEnv): string {
  return `cd ${quote(dir)} && env ${releaseEnv(env)} sh -ec ${quote(command)}`;
}

/**
 * Points `current` at releases/<id> by renaming a fresh symlink over it (rename(2) is atomic),
 * never `ln -sfn` (which unlinks first). Refuses a release directory that does not exist. The
 * ledger line goes in the same command, so no run can die between the switch and its record.
 */
export function switchCommand(deployPath: string, releaseId: string, entry?: DeployLogEntry): string {
  const tmp = `.current.${releaseId}.tmp`;
  return [
    'set -e',
    `cd ${quote(deployPath)}`,
    `[ -d ${quote(`releases/${releaseId}`)} ] && [ ! -L ${quote(`releases/${releaseId}`)} ] || { echo 'release directory missing' >&2; exit ${EXIT.missing}; }`,
    `rm -f ${quote(tmp)}`,
    `ln -s ${quote(`releases/${releaseId}`)} ${quote(tmp)}`,
    `mv -T ${quote(tmp)} current`,
    ...(entry ? [appendLogCommand(deployPath, entry)] : []),
  ].join('\n');
}

/** One line of the append-only deploy log; `result` is a ledger event (see ledger.ts). */
export interface DeployLogEntry {
  time: string;
  /** `adopt`: a hand-deployed `current` directory moved into releases/ (adopt-current). */
  action: 'rollout' | 'revert' | 'adopt';
  release: string;
  previous: string;
  run: string;
  result: string;
  reason?: string;
}

/** Appends ledger lines, one JSON line each, in one write (one round trip for several). */
export function appendLogCommand(deployPath: string, ...entries: DeployLogEntry[]): string {
  const l = layout(deployPath);
  return `mkdir -p ${quote(l.state)} && printf '%s\\n' ${entries.map((e) => quote(JSON.stringify(e))).join(' ')} >> ${quote(l.log)}`;
}

export function parseLog(stdout: string): DeployLogEntry[] {
  const entries: DeployLogEntry[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as DeployLogEntry);
    } catch {
      // A torn or foreign line is skipped: the log is evidence, not a parser's input contract.
    }
  }
  return entries;
}

export function markBadCommand(deployPath: string, releaseId: string, reason: string): string {
  const l = layout(deployPath);
  return `mkdir -p ${quote(l.bad)} && printf '%s\\n' ${quote(reason)} > ${quote(`${l.bad}/${releaseId}`)}`;
}

export function removeReleasesCommand(deployPath: string, releaseIds: string[]): string {
  if (releaseIds.length === 0) return 'true';
  const l = layout(deployPath);
  const paths = releaseIds.flatMap((id) => [releasePath(deployPath, id), `${l.checksums}/${id}`, `${l.manifests}/${id}`]);
  return `rm -rf -- ${paths.map(quote).join(' ')}`;
}

/** Puts a host back to "no release" (its first deploy was reverted): removes the `current` link only, and records `entry` as switchCommand does. */
export function unsetCurrentCommand(deployPath: string, entry?: DeployLogEntry): string {
  return `rm -f ${quote(`${deployPath}/current`)}${entry ? ` && ${appendLogCommand(deployPath, entry)}` : ''}`;
}

/**
 * adopt-current: moves a `current` that is a real directory (an app deployed by hand) to
 * releases/<adoptId> and points a `current` symlink at it, recording it `healthy` (the release a
 * revert goes back to). A directory cannot be swapped for a symlink in one rename: between the two
 * renames `current` is missing for an instant.
 */
export function adoptCommand(deployPath: string, adoptId: string, entry: DeployLogEntry): string {
  const target = `releases/${adoptId}`;
  const tmp = `.current.${adoptId}.tmp`;
  return [
    'set -e',
    `cd ${quote(deployPath)}`,
    `[ -d current ] && [ ! -L current ] || { echo 'current is no longer a directory' >&2; exit ${EXIT.missing}; }`,
    `[ -L releases ] && { echo 'releases is a symlink' >&2; exit ${EXIT.refused}; }; mkdir -p releases`,
    `if [ -e ${quote(target)} ] || [ -L ${quote(target)} ]; then echo ${quote(`${target} already exists`)} >&2; exit ${EXIT.exists}; fi`,
    `rm -f ${quote(tmp)}`,
    `ln -s ${quote(target)} ${quote(tmp)}`,
    `mv -T current ${quote(target)}`,
    `mv -T ${quote(tmp)} current`,
    appendLogCommand(deployPath, entry),
  ].join('\n');
}

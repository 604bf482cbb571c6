// Remote commands as pure functions returning one sh string each (tested by exact string, run by a thin executor).
// Every value is validated upstream and still passes through quote(): nothing reaches the shell unquoted.
import { quote, envAssignments } from '../common/shell.js';
import { layout, parentPaths, releasePath, type SharedPath } from './layout.js';

/**
 * Exit codes our commands use so the runner can tell failures apart. deltaMismatch: a release built
 * from hard links did not match its manifest (the runner then sends the whole artifact); unwritable:
 * the login user cannot write the deploy path; noSpace: the release does not fit; refused: the
 * artifact or the host holds something fivestep will not use (a device, a symlink where a directory
 * must be).
 */
export const EXIT = {
  checksum: 64,
  exists: 65,
  missing: 66,
  deltaMismatch: 67,
  unwritable: 68,
  noSpace: 69,
  refused: 70,
  lockHeld: 75,
} as const;

/** Environment every user command sees: the same names in setup, reload and health commands. */
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

/** Receives the artifact on stdin into incoming/, verifying its sha256; nothing is left behind when either fails. */
export function receiveArtifactCommand(deployPath: string, releaseId: string, sha256: string): string {
  const l = layout(deployPath);
  const tmp = quote(`${l.incoming}/${releaseId}.artifact`);
  return [
    'set -e',
    `mkdir -p ${quote(l.incoming)}`,
    `cat > ${tmp} || { rm -f ${tmp}; echo 'could not store the upload (is the disk full?)' >&2; exit 1; }`,
    `if [ "$(sha256sum ${tmp} | cut -d' ' -f1)" != ${quote(sha256)} ]; then rm -f ${tmp}; echo 'checksum ` +
      `mismatch after upload' >&2; exit ${EXIT.checksum}; fi`,
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
  const human =
    'function h(b) { if (b >= 1073741824) return sprintf("%.1f GiB", b / 1073741824); if (b >= 1048576) ' +
    'return sprintf("%.1f MiB", b / 1048576); if (b >= 1024) return sprintf("%.1f KiB", b / 1024); return b " B" }';
  const say =
    `BEGIN { printf "not enough space in %s: the release needs %s unpacked, plus %s to spare ` +
    `(10%% of the free space); %s is free\\n", dp, h(need), h(free * 102.4), h(free * 1024) }`;
  return [
    `need=${needBytes}; free=$(df -Pk ${quote(l.releases)} 2>/dev/null | awk 'NR==2 { print $4 }')`,
    `if [ -n "$free" ] && [ $(( (need + 1023) / 1024 + free / ${Math.round(1 / SPARE_SHARE)} )) -gt "$free" ` +
      `]; then awk -v need="$need" -v free="$free" -v dp=${quote(deployPath)} '${human} ${say}' >&2; exit ` +
      `${EXIT.noSpace}; fi`,
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
    't == "-" && (substr($1, 4, 1) ~ /[sS]/ || substr($1, 7, 1) ~ /[sS]/) { if (nsuid < 10) suid = suid ' +
      '"\\n  " $0; nsuid++ }',
    't == "-" { size += $3 }',
    'END {',
    `  if (nbad) { printf "the artifact holds %d member(s) that are not regular files, directories or ` +
      `symlinks (refused):%s\\n", nbad, bad > "/dev/stderr"; exit ${EXIT.refused} }`,
    `  if (nsuid) { printf "the artifact holds %d setuid or setgid file(s) (refused):%s\\n", nsuid, suid ` +
      `> "/dev/stderr"; exit ${EXIT.refused} }`,
    '  printf "%.0f\\n", size',
    '}',
  ].join(' ');
  return [
    `tar -t${z}v --numeric-owner -f ${archive} > ${out}.list 2> ${out}.err || { echo "the artifact cannot ` +
      `be read as a tar archive: $(tail -n 2 ${out}.err | tr '\\n' ' ')" >&2; exit 1; }`,
    `listed=$(awk '${awk}' ${out}.list)`,
  ].join('\n');
}

export interface UnpackOptions {
  /**
   * What "the same release" is (a content digest, or artifact-sha256): an existing release with it is kept as it is.
   */
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
    `if [ -L ${target} ]; then echo ` +
      `${quote(`releases/${releaseId} is a symlink: fivestep never writes through one; remove it on the host`)} ` +
      `>&2; exit ${EXIT.refused}; fi`,
    `if [ -e ${target} ]; then if [ "$(cat ${sum} 2>/dev/null)" = ${quote(identity)} ]; then rm -f ${received}; ` +
      `${staged ? `${appendLogCommand(deployPath, staged)}; ` : ''}exit 0; fi; echo 'release directory ` +
      `already exists with other content: use a new release-id' >&2; exit ${EXIT.exists}; fi`,
    `cleanup() { rm -rf ${partial} ${received} ${sum}; }`,
    'trap cleanup EXIT',
    ...(unpackedBytes === undefined
      ? [listCheckedCommand(tmp, z, tmp), ...spaceCheck(deployPath, '"$listed"')]
      : spaceCheck(deployPath, String(unpackedBytes))),
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
    `if [ -f ${manifest} ]; then mkdir -p ${quote(l.manifests)}; mv ${manifest} ` +
      `${quote(`${l.manifests}/${releaseId}`)}; fi`,
    `printf '%s\\n' ${quote(identity)} > ${sum}`,
    `mv ${partial} ${target}`,
    `trap - EXIT`,
    `rm -f ${received}`,
    ...(staged ? [appendLogCommand(deployPath, staged)] : []),
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
  lines.push(
    `[ -L shared ] && fail ` +
      `${quote(`${deployPath}/shared is a symlink: shared paths would be written outside the deploy path`)}; ` +
      `mkdir -p shared`,
  );
  for (const { path, dir } of shared) {
    const name = `shared path '${path}${dir ? '/' : ''}'`;
    for (const q of parentPaths(path)) {
      lines.push(
        `[ -L ${quote(`${rel}/${q}`)} ] && fail ` +
          `${quote(`${name}: '${q}' is a symlink in the release: a shared path cannot go through a symlink`)}`,
        `[ -e ${quote(`${rel}/${q}`)} ] && [ ! -d ${quote(`${rel}/${q}`)} ] && fail ` +
          `${quote(`${name}: '${q}' is not a directory in the release`)}`,
        `[ -L ${quote(`shared/${q}`)} ] && fail ` +
          `${quote(`${name}: shared/${q} is a symlink: a shared path cannot go through a symlink`)}`,
        `[ -e ${quote(`shared/${q}`)} ] && [ ! -d ${quote(`shared/${q}`)} ] && fail ` +
          `${quote(`${name}: shared/${q} is not a directory`)}`,
      );
    }
    const inShared = quote(`shared/${path}`);
    const inRelease = quote(`${rel}/${path}`);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (dir) {
      lines.push(
        `[ -e ${inShared} ] && [ ! -L ${inShared} ] && [ ! -d ${inShared} ] && fail ` +
          `${quote(`${name} declares a directory, but ${deployPath}/shared/${path} is a file`)}`,
        `[ -L ${inRelease} ] || { [ -e ${inRelease} ] && [ ! -d ${inRelease} ]; } && fail ` +
          `${quote(`${name} declares a directory, but the release holds '${path}' as a file or symlink`)}`,
      );
    }
    const missing =
      `${name} is in neither ${deployPath}/shared/ nor the release: create ${deployPath}/shared/${path} ` +
      `on each host ` +
      `first${dir ? '' : `, or write '${path}/' in shared-paths to declare a directory that starts empty`}`;
    lines.push(
      `if [ ! -e ${inShared} ] && [ ! -L ${inShared} ]; then`,
      `  if [ -e ${inRelease} ] || [ -L ${inRelease} ]; then ` +
        `${parent ? `mkdir -p ${quote(`shared/${parent}`)}; ` : ''}cp ` +
        `-a ${inRelease} ${inShared}`,
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
    `[ -d ${quote(`releases/${releaseId}`)} ] && [ ! -L ${quote(`releases/${releaseId}`)} ] || { echo ` +
      `'release directory missing' >&2; exit ${EXIT.missing}; }`,
    `rm -f ${quote(tmp)}`,
    `ln -s ${quote(`releases/${releaseId}`)} ${quote(tmp)}`,
    `mv -T ${quote(tmp)} current`,
    ...(entry ? [appendLogCommand(deployPath, entry)] : []),
  ].join('\n');
}

/** One line of the append-only deploy log; `result` is a ledger event (see ledger.ts). */
export interface DeployLogEntry {
  time: string;
  /** `adopt`: a hand-deployed `current` directory moved into releases/ (adopt-current); `unlock`: a lock removed. */
  action: 'rollout' | 'revert' | 'adopt' | 'unlock';
  release: string;
  previous: string;
  run: string;
  result: string;
  reason?: string;
}

/** Appends ledger lines, one JSON line each, in one write (one round trip for several). */
export function appendLogCommand(deployPath: string, ...entries: DeployLogEntry[]): string {
  const l = layout(deployPath);
  return (
    `mkdir -p ${quote(l.state)} && printf '%s\\n' ${entries.map((e) => quote(JSON.stringify(e))).join(' ')} ` +
    `>> ${quote(l.log)}`
  );
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
  const paths = releaseIds.flatMap((id) => [
    releasePath(deployPath, id),
    `${l.checksums}/${id}`,
    `${l.manifests}/${id}`,
  ]);
  return `rm -rf -- ${paths.map(quote).join(' ')}`;
}

/**
 * Puts a host back to "no release" (its first deploy was reverted): removes the `current` link only, and records
 * `entry` as switchCommand does.
 */
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
    `if [ -e ${quote(target)} ] || [ -L ${quote(target)} ]; then echo ${quote(`${target} already exists`)} ` +
      `>&2; exit ${EXIT.exists}; fi`,
    `rm -f ${quote(tmp)}`,
    `ln -s ${quote(target)} ${quote(tmp)}`,
    `mv -T current ${quote(target)}`,
    `mv -T ${quote(tmp)} current`,
    appendLogCommand(deployPath, entry),
  ].join('\n');
}

/**
 * Sets `$unwritable` to the first of the deploy path, releases/, .fivestep/ and shared/ that exists
 * and that the login user cannot write, or, when the deploy path does not exist yet, to its nearest
 * existing parent if that one is not writable ('' when all is well). `[ -w ]` asks the kernel
 * (access(2)), so a read-only mount counts as unwritable too.
 */
export function findUnwritable(deployPath: string): string[] {
  const l = layout(deployPath);
  const dp = quote(deployPath);
  return [
    `unwritable=; for d in ${[deployPath, l.releases, l.state, l.shared].map(quote).join(' ')}; do if [ -e ` +
      `"$d" ] && [ ! -w "$d" ]; then unwritable=$d; break; fi; done`,
    `if [ ! -e ${dp} ]; then d=${dp}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; [ -w "$d" ] || ` +
      `unwritable=$d; fi`,
  ];
}

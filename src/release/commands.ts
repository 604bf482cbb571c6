// Remote commands as pure functions returning one sh string each (tested by exact string, run by a thin executor).
// Every value is validated upstream and still passes through quote(): nothing reaches the shell unquoted.
import { quote, envAssignments } from '../common/shell.js';
import { layout, releasePath } from './layout.js';

/** Exit codes our commands use so the runner can tell failures apart. */
/** deltaMismatch: a release built from hard links did not match its manifest (the runner then sends the whole artifact). */
export const EXIT = { checksum: 64, exists: 65, missing: 66, deltaMismatch: 67, lockHeld: 75 } as const;

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
 * Reads a host's release state as `key=value` lines: current, each release with its mtime,
 * bad markers, the checksum recorded for `releaseId` (to skip a repeat upload) and the newest
 * lines of the deploy log (the ledger), in one round trip.
 */
export function readStateCommand(deployPath: string, releaseId = ''): string {
  const l = layout(deployPath);
  return [
    `cd ${quote(deployPath)} 2>/dev/null || { echo absent=1; exit 0; }`,
    `cur=$(readlink current 2>/dev/null || true); echo "current=\${cur#releases/}"`,
    `for d in releases/*/; do [ -d "$d" ] || continue; n=\${d#releases/}; n=\${n%/}; echo "release=$n $(stat -c %Y "$d")"; done`,
    `for b in ${quote(l.bad)}/*; do [ -f "$b" ] && echo "bad=\${b##*/}"; done; true`,
    releaseId ? `[ -f ${quote(`${l.checksums}/${releaseId}`)} ] && echo "checksum=$(cat ${quote(`${l.checksums}/${releaseId}`)})"; true` : 'true',
    `tail -n ${LOG_LINES_READ} ${quote(l.log)} 2>/dev/null | sed 's/^/log=/'; true`,
  ].join('\n');
}

export interface HostState {
  exists: boolean;
  current: string;
  /** Release ids with their directory mtime (seconds), oldest first. */
  releases: { id: string; mtime: number }[];
  bad: string[];
  /** The checksum recorded for the release asked about, '' when none. */
  checksum: string;
  /** The newest deploy log lines, oldest first (torn or foreign lines skipped). */
  log: DeployLogEntry[];
}

export function parseState(stdout: string): HostState {
  const state: HostState = { exists: true, current: '', releases: [], bad: [], checksum: '', log: [] };
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'absent') state.exists = false;
    else if (key === 'current') state.current = value;
    else if (key === 'bad') state.bad.push(value);
    else if (key === 'checksum') state.checksum = value;
    else if (key === 'log') state.log.push(...parseLog(line.slice(eq + 1)));
    else if (key === 'release') {
      const [id, mtime] = value.split(' ');
      state.releases.push({ id, mtime: Number(mtime) || 0 });
    }
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
 * One attempt at the host's lock (an atomic mkdir). Prints `acquired`, `took-over <age> <holder>`
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
    `mkdir -p ${quote(l.state)}`,
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

/**
 * Unpacks the received artifact into releases/<id>/ via a `.partial` directory renamed into place,
 * so releases/<id>/ is complete or absent: on any failure (a full disk) the partial directory and
 * the upload are removed. An existing release with other content is refused. Records `staged`.
 */
export function unpackCommand(deployPath: string, releaseId: string, sha256: string, format: 'tar' | 'tar.gz', staged?: DeployLogEntry): string {
  const l = layout(deployPath);
  const target = quote(releasePath(deployPath, releaseId));
  const partial = quote(`${l.releases}/.${releaseId}.partial`);
  const tmp = quote(`${l.incoming}/${releaseId}.artifact`);
  const sum = quote(`${l.checksums}/${releaseId}`);
  const manifest = quote(`${l.incoming}/${releaseId}.manifest`);
  // Everything received for this release (the upload, and a delta offer's manifest and index).
  const received = `${quote(`${l.incoming}/${releaseId}`)}.*`;
  return [
    'set -e',
    `mkdir -p ${quote(l.releases)} ${quote(l.checksums)} ${quote(l.shared)}`,
    `if [ -e ${target} ]; then if [ "$(cat ${sum} 2>/dev/null)" = ${quote(sha256)} ]; then rm -f ${received}; ${staged ? `${appendLogCommand(deployPath, staged)}; ` : ''}exit 0; fi; echo 'release directory already exists with other content: use a new release-id' >&2; exit ${EXIT.exists}; fi`,
    `cleanup() { rm -rf ${partial} ${received} ${sum}; }`,
    'trap cleanup EXIT',
    `rm -rf ${partial}`,
    `mkdir ${partial}`,
    // -p: modes exactly as the artifact has them (not masked by the login's umask), as delta staging builds them.
    `tar -x${format === 'tar.gz' ? 'z' : ''}pf ${tmp} -C ${partial}`,
    // tar restores the archive's mtime of `./` onto the directory (epoch 0 for a packed directory);
    // prune orders releases by this mtime, so it must be the unpack time.
    `touch ${partial}`,
    // The manifest the runner offered (delta staging), kept so the next release can be built from this one.
    `if [ -f ${manifest} ]; then mkdir -p ${quote(l.manifests)}; mv ${manifest} ${quote(`${l.manifests}/${releaseId}`)}; fi`,
    `printf '%s\\n' ${quote(sha256)} > ${sum}`,
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

/** Links each shared path from shared/ into the release; a missing shared entry is seeded from the release (or created as a directory). */
export function linkSharedCommand(deployPath: string, releaseId: string, sharedPaths: string[]): string {
  const l = layout(deployPath);
  const rp = releasePath(deployPath, releaseId);
  const lines = ['set -e'];
  for (const p of sharedPaths) {
    const shared = quote(`${l.shared}/${p}`);
    const inRelease = quote(`${rp}/${p}`);
    lines.push(
      `mkdir -p "$(dirname ${shared})" "$(dirname ${inRelease})"`,
      `if [ ! -e ${shared} ]; then if [ -e ${inRelease} ]; then cp -a ${inRelease} ${shared}; else mkdir -p ${shared}; fi; fi`,
      `rm -rf ${inRelease}`,
      `ln -s ${shared} ${inRelease}`,
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
    `[ -d ${quote(`releases/${releaseId}`)} ] || { echo 'release directory missing' >&2; exit ${EXIT.missing}; }`,
    `rm -f ${quote(tmp)}`,
    `ln -s ${quote(`releases/${releaseId}`)} ${quote(tmp)}`,
    `mv -T ${quote(tmp)} current`,
    ...(entry ? [appendLogCommand(deployPath, entry)] : []),
  ].join('\n');
}

/** One line of the append-only deploy log; `result` is a ledger event (see ledger.ts). */
export interface DeployLogEntry {
  time: string;
  action: 'rollout' | 'revert';
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

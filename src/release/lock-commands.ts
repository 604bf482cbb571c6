// The deploy lock's remote commands: take it (or take over a stale one), renew its heartbeat over one
// long-lived channel, release it. The policy around them is engine/lock.ts's.
import { quote } from '../common/shell.js';
import { EXIT, findUnwritable, type DeployLogEntry } from './commands.js';
import { layout } from './layout.js';

/** A lock whose heartbeat is older than this is stale: its holder is gone, and the next run takes it over. */
export const LOCK_STALE_SEC = 60;

/** Writes the owner file (token, owner, heartbeat on the host's clock) by rename, so no reader sees it half-written. */
function writeOwner(lock: string, token: string, owner: string): string {
  return (
    `printf '%s\\n' ${quote(token)} ${quote(owner)} "$(date +%s)" > ${lock}/owner.tmp && mv -f ` +
    `${lock}/owner.tmp ${lock}/owner`
  );
}

/** Sets $tok, $holder and $beat from the lock's owner file ('' for a line it lacks). */
function readOwner(lock: string): string {
  return (
    `tok=$(sed -n 1p ${lock}/owner 2>/dev/null || true); holder=$(sed -n 2p ${lock}/owner ` +
    `2>/dev/null || true); beat=$(sed -n 3p ${lock}/owner 2>/dev/null || true)`
  );
}

/** Sets $age: seconds since the holder's last heartbeat, on the host's clock (after readOwner). */
function heartbeatAge(lock: string): string[] {
  return [
    `now=$(date +%s)`,
    // No owner file yet: a rollout is between its mkdir and its write; the directory's age stands in.
    `case "$beat" in ''|*[!0-9]*) beat=$(stat -c %Y ${lock} 2>/dev/null || echo "$now");; esac`,
    // Locks written before the heartbeat held an expiry one hour ahead.
    `[ "$beat" -gt $((now + 120)) ] && beat=$((beat - 3600))`,
    `age=$((now - beat))`,
  ];
}

/**
 * For the state read: prints `lock=<age> <holder>` when the deploy path holds a lock (age as acquireLockCommand
 * counts it), nothing otherwise. Changes nothing.
 */
export function readLockCommand(deployPath: string): string {
  const lock = quote(layout(deployPath).lock);
  const print = `printf 'lock=%s %s\\n' "$age" "$holder"`;
  return `if [ -d ${lock} ]; then ${readOwner(lock)}; ${heartbeatAge(lock).join('; ')}; ${print}; fi; true`;
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
  const read = readOwner(lock);
  return [
    // A deploy path the login user cannot write is said as such, never taken for someone else's lock.
    ...findUnwritable(deployPath),
    `[ -z "$unwritable" ] && mkdir -p ${quote(l.state)} 2>/dev/null || { [ -n "$unwritable" ] || ` +
      `unwritable=${quote(l.state)}; printf 'unwritable %s\\n' "$unwritable"; exit ${EXIT.unwritable}; }`,
    `if mkdir ${lock} 2>/dev/null; then ${write}; echo acquired; exit 0; fi`,
    read,
    ...heartbeatAge(lock),
    `if [ "$tok" = ${quote(token)} ]; then ${write}; echo acquired; exit 0; fi`,
    `[ -d ${guard} ] && [ $((now - $(stat -c %Y ${guard} 2>/dev/null || echo "$now"))) -gt ${LOCK_STALE_SEC} ` +
      `] && rmdir ${guard} 2>/dev/null`,
    `if { [ "$age" -gt ${LOCK_STALE_SEC} ] || { [ -n ${quote(forceOwner)} ] && [ "$holder" = ${quote(forceOwner)} ` +
      `]; }; } && mkdir ${guard} 2>/dev/null; then`,
    `  if [ "$(sed -n 1p ${lock}/owner 2>/dev/null || true)" = "$tok" ]; then rm -rf ${lock}; if mkdir ` +
      `${lock} 2>/dev/null; then ${write}; rmdir ${guard}; echo "took-over $age $holder"; exit 0; fi; fi`,
    `  rmdir ${guard}; ${read}`,
    `fi`,
    `echo "held $age $holder"; exit ${EXIT.lockHeld}`,
  ].join('\n');
}

/**
 * The heartbeat as one long-lived command: each line the runner writes renews the heartbeat and is
 * answered `renewed`, or `lost` (and the loop ends) when another run holds the lock now. A renewal then costs one
 * packet on an open channel, not a new session: at a
 * thousand hosts a renewal every 15 s for each would otherwise rival the rollout's own commands.
 * When the runner vanishes no line comes, so the heartbeat goes stale as the lock's rules expect.
 */
export function heartbeatCommand(deployPath: string, token: string, owner: string): string {
  const lock = quote(layout(deployPath).lock);
  return (
    `while IFS= read -r beat; do if [ "$(sed -n 1p ${lock}/owner 2>/dev/null)" = ${quote(token)} ]; ` +
    `then ${writeOwner(lock, token, owner)} 2>/dev/null; echo renewed; else echo lost; exit 0; fi; done`
  );
}

/** Releases the lock only if this run still holds it (its token is in the owner file). */
export function releaseLockCommand(deployPath: string, token: string): string {
  const lock = quote(layout(deployPath).lock);
  return `[ "$(sed -n 1p ${lock}/owner 2>/dev/null)" = ${quote(token)} ] && rm -rf ${lock}; true`;
}

/** Stand-ins in an unlock's ledger line for what only the host knows: the holder and the heartbeat's age. */
export const UNLOCK_HOLDER = '\u0000holder\u0000';
export const UNLOCK_AGE = '\u0000age\u0000';

/**
 * Removes the host's lock when it is stale (its holder is gone), or whoever holds it when `force`, and appends
 * `entry` to the ledger in the same command, UNLOCK_HOLDER and UNLOCK_AGE in its text filled in on the host (the
 * holder JSON-escaped, control characters dropped). Prints `none`, `removed <age> <holder>`, or exits
 * EXIT.lockHeld printing `held <age> <holder>`.
 */
export function unlockCommand(deployPath: string, o: { force: boolean; entry: DeployLogEntry }): string {
  const l = layout(deployPath);
  const lock = quote(l.lock);
  const live = o.force ? 'false' : `[ "$age" -le ${LOCK_STALE_SEC} ]`;
  // JSON.stringify writes each stand-in as \u0000…\u0000: the text around them is printed as it is.
  const [holder, age] = [UNLOCK_HOLDER, UNLOCK_AGE].map((t) => JSON.stringify(t).slice(1, -1));
  const printed = JSON.stringify(o.entry)
    .split(holder)
    .map((part) => part.split(age).map(quote).join(' "$age" '))
    .join(' "$h" ');
  return [
    `[ -d ${lock} ] || { echo none; exit 0; }`,
    readOwner(lock),
    ...heartbeatAge(lock),
    `if ${live}; then echo "held $age $holder"; exit ${EXIT.lockHeld}; fi`,
    // The takeover guard too: a lock removed by hand must not leave a rollout's takeover half-done.
    `rm -rf ${lock} ${quote(`${l.lock}.takeover`)}`,
    `h=$(printf '%s' "$holder" | tr -d '\\000-\\037\\177' | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g')`,
    `printf '%s' ${printed} >> ${quote(l.log)} && printf '\\n' >> ${quote(l.log)}`,
    `echo "removed $age $holder"`,
  ].join('\n');
}

// `fivestep status`, pure: one host's state read → what the person on call needs to see, and the fleet as a table
// (small fleets) or grouped by what hosts share (large ones, as the rollout summary groups them).
import { SMALL_FLEET, plural } from '../common/format.js';
import { newestHealthy, readLedger, type LedgerStatus } from '../release/ledger.js';
import { LOCK_STALE_SEC } from '../release/lock-commands.js';
import type { HostState } from '../release/state-command.js';

export interface LockView {
  holder: string;
  ageSec: number;
  /** Its heartbeat is older than LOCK_STALE_SEC: the holder is gone, and the next rollout takes it over. */
  stale: boolean;
}

export interface HostStatus {
  host: string;
  /** Why the host could not be read (then nothing else is known). */
  error?: string;
  /** The deploy path exists. */
  exists: boolean;
  current: string;
  currentStatus: LedgerStatus | '';
  /** Why `current` is not a release fivestep can use ('' when it is, or absent). */
  currentProblem: string;
  /** The newest healthy release besides the current: where a revert goes. */
  previousHealthy: string;
  /** Every release on disk, newest first, with its ledger status. */
  releases: { id: string; status: LedgerStatus }[];
  lock: LockView | null;
}

export function hostStatus(host: string, state: HostState): HostStatus {
  const ledger = readLedger(state.log, state.bad);
  return {
    host,
    exists: state.exists,
    current: state.current,
    currentStatus: state.current ? ledger.status(state.current) : '',
    currentProblem: state.currentProblem,
    previousHealthy: newestHealthy(state, ledger, [state.current]),
    releases: [...state.releases].reverse().map((r) => ({ id: r.id, status: ledger.status(r.id) })),
    lock: state.lock ? { ...state.lock, stale: state.lock.ageSec > LOCK_STALE_SEC } : null,
  };
}

export const unreadable = (host: string, error: string): HostStatus => ({
  host,
  error,
  exists: false,
  current: '',
  currentStatus: '',
  currentProblem: '',
  previousHealthy: '',
  releases: [],
  lock: null,
});

export function lockText(lock: LockView | null): string {
  if (!lock) return '–';
  const state = lock.stale ? 'STALE' : 'live';
  return `${state}: ${lock.holder}, heartbeat ${lock.ageSec}s ago`;
}

const lockState = (lock: LockView | null): string => (lock ? (lock.stale ? 'stale' : 'live') : '–');

function currentText(h: HostStatus): string {
  if (!h.exists) return '(no deploy path)';
  if (h.currentProblem) return `current ${h.currentProblem}`;
  return h.current ? `${h.current} (${h.currentStatus})` : '(none)';
}

/** Releases on disk besides the current, newest first, with their status. */
function othersText(h: HostStatus): string {
  const others = h.releases.filter((r) => r.id !== h.current);
  return others.length ? others.map((r) => `${r.id} (${r.status})`).join(', ') : '–';
}

/** Whatever needs a look: a host not read, a lock, a current that never became healthy. */
export function needsAttention(h: HostStatus): boolean {
  return Boolean(
    h.error || h.lock || h.currentProblem || ['staged', 'switched', 'failed', 'bad'].includes(h.currentStatus),
  );
}

/** The fleet for a terminal: a row per host up to SMALL_FLEET hosts, above it groups and the hosts needing a look. */
export function statusText(hosts: readonly HostStatus[]): string {
  const head = overview(hosts);
  if (hosts.length <= SMALL_FLEET) return [head, '', table(hosts.map(row))].join('\n');
  return [head, '', ...grouped(hosts)].join('\n');
}

const HEADER = ['host', 'current', 'previous healthy', 'other releases', 'lock'];

function row(h: HostStatus): string[] {
  if (h.error) return [h.host, `NOT READ: ${h.error}`, '', '', ''];
  return [h.host, currentText(h), h.previousHealthy || '–', othersText(h), lockText(h.lock)];
}

function table(rows: string[][]): string {
  const all = [HEADER, ...rows];
  const widths = HEADER.map((_, c) => Math.min(60, Math.max(...all.map((r) => r[c].length))));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(HEADER), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One line: how many hosts, on which releases, and how many need a look. */
function overview(hosts: readonly HostStatus[]): string {
  const read = hosts.filter((h) => !h.error);
  const byRelease = countBy(read, (h) => (h.current ? `${h.current} (${h.currentStatus})` : '(none)'));
  const releases = [...byRelease].map(([k, n]) => `${n} on ${k}`).join(', ');
  const locks = hosts.filter((h) => h.lock);
  const stale = locks.filter((h) => h.lock!.stale).length;
  const unread = hosts.length - read.length;
  return (
    `${plural(hosts.length, 'host')}: ${releases || 'none read'}` +
    (locks.length ? `; ${plural(locks.length, 'lock')} (${stale} stale)` : '; no lock') +
    (unread ? `; ${unread} NOT READ` : '')
  );
}

/** Large fleets: hosts grouped by what they share, then the hosts needing a look by name (bounded). */
function grouped(hosts: readonly HostStatus[]): string[] {
  const groups = countBy(
    hosts.filter((h) => !h.error),
    (h) => `${currentText(h)} · previous healthy ${h.previousHealthy || '–'} · lock ${lockState(h.lock)}`,
  );
  const out = ['Hosts by current release:'];
  for (const [key, n] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, SMALL_FLEET))
    out.push(`  ${String(n).padStart(5)}  ${key}`);
  if (groups.size > SMALL_FLEET) out.push(`  … and ${groups.size - SMALL_FLEET} more groups (--json lists every host)`);
  const attention = hosts.filter(needsAttention);
  if (attention.length) {
    out.push('', `Needing a look (${attention.length}):`, table(attention.slice(0, SMALL_FLEET).map(row)));
    if (attention.length > SMALL_FLEET)
      out.push(`… and ${attention.length - SMALL_FLEET} more (--json lists every host)`);
  }
  return out;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

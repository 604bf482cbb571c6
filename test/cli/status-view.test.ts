// `fivestep status`, pure: a host's state → current with its ledger status, the previous healthy release, the
// releases on disk, the lock stale or live; the fleet as a table, or grouped above SMALL_FLEET hosts.
import { hostStatus, statusText, unreadable, type HostStatus } from '../../src/cli/status-view.js';
import { SMALL_FLEET } from '../../src/common/format.js';
import { emptyState, type HostState } from '../../src/release/state-command.js';

const entry = (release: string, result: string, run = 'https://github.com/acme/shop/actions/runs/1') => ({
  time: '2026-12-07T10:00:00Z',
  action: 'rollout' as const,
  release,
  previous: '',
  run,
  result,
});

function state(o: Partial<HostState>): HostState {
  return { ...emptyState(), ...o };
}

/** A host after a lost runner: v2 switched, never healthy; v1 healthy before it; the dead run's lock left. */
const lost = state({
  current: 'v2',
  releases: [
    { id: 'v0', mtime: 1 },
    { id: 'v1', mtime: 2 },
    { id: 'v2', mtime: 3 },
  ],
  log: [entry('v0', 'healthy'), entry('v1', 'healthy'), entry('v2', 'staged'), entry('v2', 'switched')],
  bad: ['v0'],
  lock: { holder: 'https://github.com/acme/shop/actions/runs/9', ageSec: 340 },
});

test('a host after a lost runner: the unhealthy current, where a revert goes, and the stale lock', () => {
  expect(hostStatus('web1:22', lost)).toEqual({
    host: 'web1:22',
    exists: true,
    current: 'v2',
    currentStatus: 'switched',
    currentProblem: '',
    previousHealthy: 'v1',
    releases: [
      { id: 'v2', status: 'switched' },
      { id: 'v1', status: 'healthy' },
      { id: 'v0', status: 'bad' },
    ],
    lock: { holder: 'https://github.com/acme/shop/actions/runs/9', ageSec: 340, stale: true },
  });
  expect(hostStatus('web1:22', { ...lost, lock: { holder: 'x', ageSec: 12 } }).lock?.stale).toBe(false);
});

test('a small fleet is a table: a row per host, the unread one with its reason', () => {
  const hosts = [
    hostStatus('web1:22', lost),
    hostStatus('web2:22', state({ current: 'v1', releases: [{ id: 'v1', mtime: 2 }], log: [entry('v1', 'healthy')] })),
    unreadable('web3:22', 'connect: ECONNREFUSED'),
  ];
  const lines = statusText(hosts).split('\n');
  expect(lines[0]).toBe('3 hosts: 1 on v2 (switched), 1 on v1 (healthy); 1 lock (1 stale); 1 NOT READ');
  expect(lines[2]).toMatch(/^host\s+current\s+previous healthy\s+other releases\s+lock$/);
  expect(lines[4]).toMatch(
    /^web1:22\s+v2 \(switched\)\s+v1\s+v1 \(healthy\), v0 \(bad\)\s+STALE: https:\/\/github.com\/acme\/shop\/actions\/runs\/9, heartbeat 340s ago$/,
  );
  expect(lines[5]).toMatch(/^web2:22\s+v1 \(healthy\)\s+–\s+–\s+–$/);
  expect(lines[6]).toMatch(/^web3:22\s+NOT READ: connect: ECONNREFUSED$/);
});

test('1,000 hosts are grouped, and only the hosts needing a look are named (bounded)', () => {
  const healthy = state({ current: 'v3', releases: [{ id: 'v3', mtime: 3 }], log: [entry('v3', 'healthy')] });
  const hosts: HostStatus[] = Array.from({ length: 1000 }, (_, i) =>
    i < 3 ? hostStatus(`h${i}:22`, lost) : i === 3 ? unreadable('h3:22', 'timed out') : hostStatus(`h${i}:22`, healthy),
  );
  const text = statusText(hosts);
  expect(text.split('\n')[0]).toBe(
    '1000 hosts: 3 on v2 (switched), 996 on v3 (healthy); 3 locks (3 stale); 1 NOT READ',
  );
  expect(text).toMatch(/^\s+996 {2}v3 \(healthy\) · previous healthy – · lock –$/m);
  expect(text).toMatch(/^\s+3 {2}v2 \(switched\) · previous healthy v1 · lock stale$/m);
  expect(text).toContain('Needing a look (4):');
  expect(text).not.toContain('h500:22');
  expect(text.split('\n').length).toBeLessThan(20);
  expect(SMALL_FLEET).toBeLessThan(1000);
});

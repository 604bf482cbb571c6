// After auto-revert, who the balancer sends users to (pure): a host in rotation only once healthy,
// a host not healthy out, and never the last server in rotation taken out.
import type { LbServer } from '../../src/lb/index.js';
import type { HostRevertRecord, HostsRevertReport } from '../../src/revert/hosts.js';
import { settleOf } from '../../src/engine/settle.js';

const rec = (host: string, outcome: HostRevertRecord['outcome'], healthy?: boolean): HostRevertRecord => ({
  host,
  outcome,
  from: '',
  to: '',
  bad: '',
  markedBad: false,
  reason: '',
  steps: [],
  ...(healthy === undefined ? {} : { healthy }),
});
const report = (...hosts: HostRevertRecord[]): HostsRevertReport => ({ startedAt: '', finishedAt: '', hosts });

/** A balancer whose servers (one per host, named like it) are in the given states. */
function balancer(states: Record<string, LbServer['state']>) {
  const server = (h: string): LbServer => ({ name: h, address: h, port: 80, weight: 1, state: states[h] });
  return {
    serverOf: server,
    inRotation: (hosts: readonly string[] = []) =>
      Object.keys(states).filter((h) => states[h] === 'ready' && !hosts.includes(h)).length,
  };
}

test('reverted hosts in rotation; a failed or no-good-release host out; a host left alone as it was unless checked', () => {
  const lb = balancer({ a: 'drain', b: 'ready', c: 'ready', d: 'drain', e: 'drain', f: 'ready' });
  const settled = settleOf(
    report(
      rec('a', 'reverted'),
      rec('b', 'failed'),
      rec('c', 'no-good-release'),
      rec('d', 'nothing-to-do', true),
      rec('e', 'nothing-to-do', false),
      rec('f', 'nothing-to-do'),
    ),
    lb,
  );
  expect(settled).toEqual({ ready: ['a', 'd', 'f'], out: ['b', 'c', 'e'], kept: [] });
});

test('a host left alone, out of rotation and never checked (no release to check): left as it is', () => {
  expect(
    settleOf(report(rec('a', 'nothing-to-do'), rec('b', 'reverted')), balancer({ a: 'maint', b: 'drain' })),
  ).toEqual({ ready: ['b'], out: [], kept: [] });
});

test('every host unhealthy: none is taken out, since that would leave no server in rotation', () => {
  const lb = balancer({ a: 'ready', b: 'ready' });
  expect(settleOf(report(rec('a', 'failed'), rec('b', 'failed')), lb)).toEqual({
    ready: [],
    out: [],
    kept: ['a', 'b'],
  });
  // A server the revert does not know keeps serving: then the unhealthy hosts can go.
  expect(
    settleOf(report(rec('a', 'failed'), rec('b', 'failed')), balancer({ a: 'ready', b: 'ready', other: 'ready' })),
  ).toEqual({ ready: [], out: ['a', 'b'], kept: [] });
});

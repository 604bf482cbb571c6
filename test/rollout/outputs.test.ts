// The action's outputs after a rollout, and a wave's hosts counted by outcome.
import { rolloutOutputs, waveCounts } from '../../src/rollout/outputs.js';
import { host, report } from './report-builders.js';

describe('rolloutOutputs', () => {
  test('success: previous releases (hosts that had one), updated hosts', () => {
    expect(rolloutOutputs(report())).toEqual({
      result: 'success',
      'release-id': 'v2',
      'previous-releases': { 'web1:22': 'v1', 'web2:22': 'v1' },
      'updated-hosts': ['web1:22', 'web2:22', 'web3:22'],
      'failed-hosts': [],
    });
  });

  test('reverted: updated-hosts is empty; failed and revert-failed hosts are listed with their reason', () => {
    const r = report({ result: 'failed', stopReason: '1 host(s) failed' });
    r.hosts[0].outcome = 'reverted';
    r.hosts[1] = { ...r.hosts[1], outcome: 'failed', reason: 'health failed: exit 1' };
    r.hosts[2] = { ...r.hosts[2], outcome: 'revert-failed', reason: 'could not be put back on (no release): gone' };
    const out = rolloutOutputs(r);
    expect(out['updated-hosts']).toEqual([]);
    expect(out['failed-hosts']).toEqual([
      { host: 'web2:22', reason: 'health failed: exit 1' },
      { host: 'web3:22', reason: 'could not be put back on (no release): gone' },
    ]);
  });
});

test('waveCounts: one wave of hosts by outcome (pending and skipped are not started)', () => {
  const hosts = (['updated', 'failed', 'revert-failed', 'reverted', 'skipped', 'pending'] as const).map((o, i) =>
    host(`h${i}`, 2, o, []),
  );
  expect(waveCounts({ hosts: [...hosts, host('other', 1, 'failed', [])] }, 2)).toEqual({
    wave: 2,
    hosts: 6,
    updated: 1,
    failed: 1,
    revertFailed: 1,
    reverted: 1,
    notStarted: 2,
  });
  expect(waveCounts({ hosts }, 3)).toEqual({
    wave: 3,
    hosts: 0,
    updated: 0,
    failed: 0,
    revertFailed: 0,
    reverted: 0,
    notStarted: 0,
  });
});

// What a person reads after a rollout: outputs, the job summary table and the Mermaid gantt.
import { formatMs, ganttChart, rolloutOutputs, summaryMarkdown } from '../../src/rollout/report.js';
import type { HostRecord, RolloutReport, StepRecord } from '../../src/rollout/rollout.js';

const T = 1_700_000_000_000;
const step = (name: StepRecord['name'], start: number, end: number, ok = true, detail?: string): StepRecord => ({ name, start: T + start, end: T + end, ok, ...(detail ? { detail } : {}) });

function host(id: string, wave: number, outcome: HostRecord['outcome'], steps: StepRecord[], extra: Partial<HostRecord> = {}): HostRecord {
  return { host: id, wave, previous: 'v1', outcome, uploaded: steps.some((s) => s.name === 'upload'), steps, ...extra };
}

function report(overrides: Partial<RolloutReport> = {}): RolloutReport {
  const staged = [step('connect', 0, 40), step('lock', 40, 50), step('upload', 50, 150), step('unpack', 150, 200)];
  return {
    tool: 'fivestep/ssh-rollout',
    release: 'v2',
    deployPath: '/srv/app',
    dryRun: false,
    result: 'success',
    startedAt: new Date(T).toISOString(),
    finishedAt: new Date(T + 2500).toISOString(),
    durationMs: 2500,
    artifact: { file: '/tmp/a.tar.gz', sha256: 'ab'.repeat(32), bytes: 2048 },
    plan: {
      waves: [['web1:22'], ['web2:22', 'web3:22']],
      maxFailures: 0,
      maxParallel: 20,
      steps: { stage: { 'web1:22': ['upload', 'unpack'] }, switch: ['switch', 'reload', 'health'], finish: ['record'], revert: ['revert'] },
    },
    waves: [
      { index: 1, hosts: ['web1:22'], start: T + 300, end: T + 600, bake: { start: T + 600, end: T + 1600 } },
      { index: 2, hosts: ['web2:22', 'web3:22'], start: T + 1600, end: T + 2400 },
    ],
    hosts: [
      host('web1:22', 1, 'updated', [...staged, step('switch', 300, 320), step('reload', 320, 400), step('health', 400, 600)]),
      host('web2:22', 2, 'updated', [step('connect', 0, 40), step('unpack', 150, 200), step('switch', 1600, 1620), step('health', 1620, 13_620)]),
      host('web3:22', 2, 'updated', [...staged, step('switch', 1600, 1630), step('health', 1630, 2400)], { previous: '' }),
    ],
    unhealthyAtStart: [],
    stopReason: '',
    errors: [],
    ...overrides,
  };
}

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

test('formatMs', () => {
  expect([formatMs(undefined), formatMs(0), formatMs(999.4), formatMs(1000), formatMs(1234), formatMs(12_345), formatMs(125_000)]).toEqual([
    '–',
    '0 ms',
    '999 ms',
    '1.00 s',
    '1.23 s',
    '12.3 s',
    '125.0 s',
  ]);
});

describe('summaryMarkdown', () => {
  test('headline, plan line, one table row per host, the gantt', () => {
    const md = summaryMarkdown(report());
    const lines = md.split('\n');
    expect(lines[0]).toBe('## ssh-rollout v2: ✅ success');
    expect(lines[2]).toBe("3 host(s) in 2 wave(s), 2.50 s; artifact 2 KiB, sha256 `abababababab…`; deploy path `/srv/app`");
    expect(lines).toContain('| host | wave | previous | upload | switch | health | result | total |');
    expect(lines).toContain('| web1:22 | 1 | v1 | 100 ms | 100 ms | 200 ms | ✅ updated | 600 ms |');
    expect(lines).toContain('| web2:22 | 2 | v1 | cached | 20 ms | 12.0 s | ✅ updated | 13.6 s |');
    expect(lines).toContain('| web3:22 | 2 | – | 100 ms | 30 ms | 770 ms | ✅ updated | 2.40 s |');
    expect(md).toContain(ganttChart(report()));
    expect(md).not.toContain('**Stopped:**');
    expect(md.endsWith('```\n')).toBe(true);
  });

  test('a revert: headline, stop reason, outcomes with escaped reasons, warnings', () => {
    const r = report({ result: 'reverted', stopReason: '1 host(s) failed, more than max-failures (0)', errors: ['web1:22: record/prune: exit 1'] });
    r.hosts[0] = { ...r.hosts[0], outcome: 'reverted', steps: [...r.hosts[0].steps, step('revert', 700, 750)] };
    r.hosts[1] = { ...r.hosts[1], outcome: 'failed', reason: 'health failed: a | b\nc' };
    r.hosts[2] = { ...r.hosts[2], outcome: 'skipped', steps: r.hosts[2].steps.slice(0, 4) };
    const md = summaryMarkdown(r);
    expect(md.split('\n')[0]).toBe('## ssh-rollout v2: ↩️ reverted: a failure was caught and every switched host was put back');
    expect(md).toContain('**Stopped:** 1 host(s) failed, more than max-failures (0)');
    expect(md).toContain('| web1:22 | 1 | v1 | 100 ms | 100 ms | 200 ms | ↩️ reverted | 750 ms |');
    expect(md).toContain('❌ failed: health failed: a \\| b c |');
    expect(md).toContain('| web3:22 | 2 | – | 100 ms | – | – | ⏭️ not started | 200 ms |');
    expect(md).toContain('**Warnings:**\n- web1:22: record/prune: exit 1');
  });

  test('a host that failed on its own and was put back says both', () => {
    const r = report({ result: 'reverted', stopReason: 'x' });
    r.hosts[1] = {
      ...r.hosts[1],
      outcome: 'failed',
      reason: 'health failed: exit 1',
      steps: [...r.hosts[1].steps, { name: 'revert', start: 700, end: 750, ok: true, detail: 'back on v1' }],
    };
    expect(summaryMarkdown(r)).toContain('❌ failed: health failed: exit 1 (put back: back on v1) |');
  });

  test('hosts found on a release that never became healthy are named, with where a failure puts them back', () => {
    const r = report({ unhealthyAtStart: [{ host: 'web1:22', release: 'v1b', status: 'switched', revertTo: 'v1' }] });
    expect(summaryMarkdown(r)).toContain(
      '**Found on a release that never became healthy** (a rollout that died midway, or failed):\n- web1:22: v1b (last recorded: switched); on failure this rollout puts it back on v1\n',
    );
    expect(summaryMarkdown(report())).not.toContain('never became healthy');
  });

  test('a dry run says so and has no gantt', () => {
    const r = report({ dryRun: true });
    for (const h of r.hosts) h.outcome = 'skipped';
    const md = summaryMarkdown(r);
    expect(md.split('\n')[0]).toBe('## ssh-rollout (dry run) v2: ✅ success');
    expect(md).not.toContain('```mermaid');
  });
});

test('ganttChart: a section per wave, a bar per host from switch to its last step, the bake', () => {
  const r = report();
  r.hosts[2].outcome = 'failed';
  expect(ganttChart(r).split('\n')).toEqual([
    '```mermaid',
    'gantt',
    '  title Release v2',
    '  dateFormat x',
    '  axisFormat %M:%S',
    '  section Wave 1',
    `  web1_22 : ${T + 300}, ${T + 600}`,
    `  bake  : active, ${T + 600}, ${T + 1600}`,
    '  section Wave 2',
    `  web2_22 : ${T + 1600}, ${T + 13_620}`,
    `  web3_22 : crit, ${T + 1600}, ${T + 2400}`,
    '```',
  ]);
});

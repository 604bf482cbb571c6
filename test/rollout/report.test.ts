// What a person reads after a rollout: the job summary (its tables, the Mermaid gantt in it),
// for a few hosts (a row and a bar per host) and for thousands (grouped by wave, bounded in size).
import { mdText } from '../../src/common/markdown.js';
import { rolloutOutputs } from '../../src/rollout/outputs.js';
import { REASON_MAX } from '../../src/rollout/report-cells.js';
import { WAVE_ROWS_MAX, ganttChart } from '../../src/rollout/report-waves.js';
import {
  SMALL_FLEET,
  SUMMARY_BUDGET_BYTES,
  TRAFFIC_ROWS_MAX,
  summaryMarkdown,
  trafficTable,
} from '../../src/rollout/report.js';
import type { HostRecord, RolloutReport, WaveRecord } from '../../src/rollout/record.js';
import { T, host, report, step } from './report-builders.js';

describe('summaryMarkdown', () => {
  test('headline, plan line, one table row per host, the gantt', () => {
    const md = summaryMarkdown(report());
    const lines = md.split('\n');
    expect(lines[0]).toBe('## ssh-rollout v2: ✅ success');
    expect(lines[2]).toBe(
      '3 host(s) in 2 wave(s), 2.50 s; artifact 2.0 KiB, sha256 `abababababab…`; deploy path `/srv/app`',
    );
    expect(lines).toContain('| host | wave | previous | upload | switch | health | result | total |');
    expect(lines).toContain('| web1:22 | 1 | v1 | 100 ms | 100 ms | 200 ms | ✅ updated | 600 ms |');
    expect(lines).toContain('| web2:22 | 2 | v1 | already there | 20 ms | 12.0 s | ✅ updated | 13.6 s |');
    expect(lines).toContain('| web3:22 | 2 | – | 100 ms | 30 ms | 770 ms | ✅ updated | 2.40 s |');
    expect(md).toContain(ganttChart(report()));
    expect(md).not.toContain('**Stopped:**');
    expect(md.endsWith('```\n')).toBe(true);
  });

  test('a revert: headline, stop reason, outcomes with escaped reasons, warnings', () => {
    const r = report({
      result: 'reverted',
      stopReason: '1 host(s) failed, more than max-failures (0)',
      errors: ['web1:22: record/prune: exit 1'],
    });
    r.hosts[0] = { ...r.hosts[0], outcome: 'reverted', steps: [...r.hosts[0].steps, step('revert', 700, 750)] };
    r.hosts[1] = { ...r.hosts[1], outcome: 'failed', reason: 'health failed: a | b\nc' };
    r.hosts[2] = { ...r.hosts[2], outcome: 'skipped', steps: r.hosts[2].steps.slice(0, 4) };
    const md = summaryMarkdown(r);
    expect(md.split('\n')[0]).toBe(
      '## ssh-rollout v2: ↩️ reverted: a failure was caught and every switched host was put back',
    );
    expect(md).toContain('**Stopped:** 1 host(s) failed, more than max-failures (0)');
    expect(md).toContain('| web1:22 | 1 | v1 | 100 ms | 100 ms | 200 ms | ↩️ reverted | 750 ms |');
    expect(md).toContain('❌ failed: health failed: a \\| b \\| c |');
    expect(md).toContain('| web3:22 | 2 | – | 100 ms | – | – | ⏭️ not started | 200 ms |');
    expect(md).toContain('**Warnings:**\n- web1:22: record/prune: exit 1');
  });

  test('hosts the balancer keeps out of rotation are named at the top', () => {
    const r = report({ result: 'failed', outOfRotation: ['web1:22', 'web2:22'] });
    r.hosts[0] = { ...r.hosts[0], outcome: 'revert-failed', reason: 'back on v1 but not healthy: HTTP 503' };
    const md = summaryMarkdown(r);
    expect(md).toContain(
      '**Left out of rotation** on the load balancer, not being healthy (it sends them no users until you put them back): web1:22, web2:22',
    );
    expect(summaryMarkdown(report())).not.toContain('out of rotation');
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

describe('small fleets', () => {
  test('a wave table: counts, median switch, median and slowest health, wave time, bake', () => {
    const lines = summaryMarkdown(report()).split('\n');
    const at = lines.indexOf(
      '| wave | hosts | updated | failed | reverted | not started | switch (median) | health (median / slowest) | wave time | bake |',
    );
    expect(lines.slice(at + 2, at + 4)).toEqual([
      '| 1 | 1 | 1 | 0 | 0 | 0 | 100 ms | 200 ms / 200 ms | 300 ms | 1.00 s |',
      // switch 20 and 30 ms, health 12 s and 770 ms: medians are the means of the two
      // (6.385 s, as formatDuration rounds it).
      '| 2 | 2 | 2 | 0 | 0 | 0 | 25 ms | 6.38 s / 12.0 s | 800 ms | – |',
    ]);
  });

  test('without any bake the wave table has no bake column', () => {
    const r = report();
    delete r.waves[0].bake;
    expect(summaryMarkdown(r)).toContain(
      '| wave | hosts | updated | failed | reverted | not started | switch (median) | health (median / slowest) | wave time |\n',
    );
  });

  test('the info line says how the artifact reached the hosts', () => {
    const r = report({ sentBytes: 3 * 1024 * 1024 + 512 * 1024 });
    r.hosts[0] = { ...r.hosts[0], staging: 'full', sentBytes: 3 * 1024 * 1024 };
    r.hosts[1] = { ...r.hosts[1], staging: 'cached', sentBytes: 0 };
    r.hosts[2] = { ...r.hosts[2], staging: 'delta', sentBytes: 512 * 1024 };
    expect(summaryMarkdown(r).split('\n')[2]).toBe(
      '3 host(s) in 2 wave(s), 2.50 s; artifact 2.0 KiB, sha256 `abababababab…`; deploy path `/srv/app`; ' +
        'staged: 1 whole artifact, 1 already there, 1 delta; runner sent 3.5 MiB (1.2 MiB/host)',
    );
  });

  test('staging: the busiest way first; sent bytes summed from the hosts when the report has no total', () => {
    const r = report();
    r.hosts = r.hosts.map((h, i) => ({ ...h, staging: i === 0 ? 'full' : 'delta', sentBytes: i === 0 ? 2048 : 1024 }));
    expect(summaryMarkdown(r).split('\n')[2]).toMatch(
      /; staged: 2 delta, 1 whole artifact; runner sent 4\.0 KiB \(1\.3 KiB\/host\)$/,
    );
  });

  test('hosts that downloaded the artifact themselves: the URL, nothing sent per host', () => {
    const r = report({
      artifact: { file: '/tmp/a.tar.gz', sha256: 'ab'.repeat(32), bytes: 2048, url: 'https://dl.example/app`x.tgz' },
      sentBytes: 0,
    });
    r.hosts = r.hosts.map((h) => ({ ...h, staging: 'url', sentBytes: 0 }));
    expect(summaryMarkdown(r).split('\n')[2]).toMatch(
      /; deploy path `\/srv\/app`; hosts downloaded the artifact from ``https:\/\/dl\.example\/app`x\.tgz``; staged: 3 downloaded by the host; runner sent 0 B$/,
    );
  });

  test('no staging fields: the info line is as before', () => {
    expect(summaryMarkdown(report()).split('\n')[2]).toMatch(/deploy path `\/srv\/app`$/);
  });

  test('failed hosts: revert-failed first and loud, each with its wave, reason and where it was left; reverted ones by name', () => {
    const r = report({ result: 'failed', stopReason: '2 host(s) failed, more than max-failures (0)' });
    r.hosts[0] = {
      ...r.hosts[0],
      outcome: 'failed',
      reason: 'health failed: exit 1',
      steps: [...r.hosts[0].steps, step('revert', 700, 750, true, 'back on v1')],
    };
    r.hosts[1] = {
      ...r.hosts[1],
      outcome: 'reverted',
      steps: [...r.hosts[1].steps, step('revert', 700, 750, true, 'back on v1')],
    };
    r.hosts[2] = {
      ...r.hosts[2],
      outcome: 'revert-failed',
      reason: 'could not be put back on (no release): gone',
      steps: [...r.hosts[2].steps, step('revert', 700, 750, false)],
    };
    const md = summaryMarkdown(r);
    expect(md).toContain(
      [
        '### Failed hosts (2)',
        '',
        '**🔥 1 host(s) could NOT be put back** (listed first): they may still run v2; check them by hand.',
        '',
        '- 🔥 **web3:22** · wave 2 · **NOT put back**: could not be put back on (no release): gone',
        '- ❌ web1:22 · wave 1: health failed: exit 1 (put back: back on v1)',
        '',
        '**Put back when the rollout stopped** (1): web2:22',
      ].join('\n'),
    );
    expect(md).toContain('| 2 | 2 | 0 | 1 (🔥 1 NOT put back) | 1 | 0 |');
    // Small fleet: the per-host rows stay.
    expect(md).toContain(
      '| web3:22 | 2 | – | 100 ms | 30 ms | 770 ms | 🔥 NOT reverted: could not be put back on (no release): gone | 2.40 s |',
    );
  });

  test('a host that failed before switching is said to be still on its previous release', () => {
    const r = report({ result: 'success' });
    r.hosts[1] = {
      ...r.hosts[1],
      outcome: 'failed',
      reason: 'preflight: connect failed',
      steps: [step('connect', 0, 40, false)],
    };
    expect(summaryMarkdown(r)).toContain(
      '- ❌ web2:22 · wave 2: preflight: connect failed (not switched: still on v1)',
    );
  });

  test('a long reason is cut in the summary (the outputs keep it whole)', () => {
    const r = report({ result: 'success' });
    const reason = `health failed: ${'x'.repeat(2000)}`;
    r.hosts[1] = { ...r.hosts[1], outcome: 'failed', reason };
    const md = summaryMarkdown(r);
    const item = md.split('\n').find((l) => l.startsWith('- ❌ web2:22'))!;
    expect(item).toContain(`${reason.slice(0, REASON_MAX - 1)}…`);
    expect(item).not.toContain(reason.slice(0, REASON_MAX));
    expect(rolloutOutputs(r)['failed-hosts']).toEqual([{ host: 'web2:22', reason }]);
  });

  test('the traffic table has a column per host', () => {
    const r = report();
    r.waves[0].traffic = [{ label: 'canary | bake', share: { 'web1:22': 5, 'web2:22': 47.5, 'web3:22': 47.5 } }];
    r.waves[1].traffic = [{ label: 'wave 2 switching', share: { 'web1:22': 100, 'web2:22': 0 } }];
    expect(trafficTable(r).split('\n')).toEqual([
      '**Traffic split** (share of requests on the load balancer)',
      '',
      '| wave | when | web1:22 | web2:22 | web3:22 |',
      '| --- | --- | --- | --- | --- |',
      '| 1 | canary \\| bake | 5% | 47.5% | 47.5% |',
      '| 2 | wave 2 switching | 100% | 0% | – |',
    ]);
    expect(summaryMarkdown(r)).toContain(trafficTable(r));
    expect(trafficTable(report())).toBe('');
  });
});

/** A synthetic fleet: `h<i>:22`, hosts split into waves by `sizes`; wave w (0-based) switches from T + 10 s + w·2 s for 1 s, its hosts 20 ms switch and `healthMs(i)` health. */
function fleet(
  sizes: number[],
  outcome: (i: number, wave: number) => HostRecord['outcome'],
  options: { reason?: (i: number) => string; healthMs?: (i: number) => number } = {},
): RolloutReport {
  const hosts: HostRecord[] = [];
  const waves: WaveRecord[] = [];
  let next = 0;
  sizes.forEach((size, w) => {
    const ids = Array.from({ length: size }, (_, k) => `h${next + k}:22`);
    const start = T + 10_000 + w * 2000;
    const ran = ids.some((_, k) => !['skipped', 'pending'].includes(outcome(next + k, w + 1)));
    waves.push({ index: w + 1, hosts: ids, ...(ran ? { start, end: start + 1000 } : {}) });
    ids.forEach((id, k) => {
      const i = next + k;
      const o = outcome(i, w + 1);
      const health = options.healthMs?.(i) ?? 100;
      const steps = ['skipped', 'pending'].includes(o)
        ? [step('unpack', 0, 50)]
        : [
            step('unpack', 0, 50),
            step('switch', start - T, start - T + 20),
            step('health', start - T + 20, start - T + 20 + health, o !== 'failed'),
          ];
      // A failed host is put back (within max-failures at once, else with the rest when the rollout stops).
      if (o !== 'updated' && !['skipped', 'pending'].includes(o))
        steps.push(step('revert', start - T + 5000, start - T + 5050, o !== 'revert-failed', 'back on v1'));
      hosts.push(
        host(
          id,
          w + 1,
          o,
          steps,
          o === 'failed' || o === 'revert-failed' ? { reason: options.reason?.(i) ?? `health failed on ${id}` } : {},
        ),
      );
    });
    next += size;
  });
  return report({
    result: 'reverted',
    stopReason: 'too many failures',
    plan: { ...report().plan, waves: waves.map((w) => w.hosts) },
    waves,
    hosts,
  });
}

const lineOf = (md: string, prefix: string): string | undefined => md.split('\n').find((l) => l.startsWith(prefix));

describe('large fleets', () => {
  // 1,000 hosts in waves of 1, 250, 749: 12 fail in wave 2, 24 fail and 1 cannot be put back in wave 3, 49 never start.
  const failedInWave2 = new Set(Array.from({ length: 12 }, (_, k) => 1 + k * 20));
  const failedInWave3 = new Set(Array.from({ length: 24 }, (_, k) => 251 + k * 25));
  const stuck = 999 - 49;
  const outcome = (i: number): HostRecord['outcome'] =>
    failedInWave2.has(i) || failedInWave3.has(i)
      ? 'failed'
      : i === stuck
        ? 'revert-failed'
        : i > stuck
          ? 'skipped'
          : 'reverted';
  const big = () => {
    const r = fleet([1, 250, 749], outcome, { healthMs: (i) => (i === 7 ? 5000 : 100) });
    r.waves[0].bake = { start: T + 11_000, end: T + 12_000, verdict: 'pass' };
    return r;
  };

  test('1,000 hosts: under 1 MiB, every failed host named, the wave table counts right, no per-host rows', () => {
    const r = big();
    const md = summaryMarkdown(r);
    expect(Buffer.byteLength(md)).toBeLessThan(1024 * 1024);
    const failed = r.hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'revert-failed');
    expect(failed).toHaveLength(37);
    const items = md.split('\n').filter((l) => l.startsWith('- ❌') || l.startsWith('- 🔥'));
    expect(items.map((l) => /(h\d+:22)/.exec(l)![1]).sort()).toEqual(failed.map((h) => h.host).sort());
    expect(lineOf(md, '- ❌ h1:22')).toBe('- ❌ h1:22 · wave 2: health failed on h1:22 (put back: back on v1)');
    expect(md).toContain('### Failed hosts (37)');
    expect(lineOf(md, '- 🔥')).toBe(`- 🔥 **h${stuck}:22** · wave 3 · **NOT put back**: health failed on h${stuck}:22`);
    expect(lineOf(md, '| 1 |')).toBe('| 1 | 1 | 0 | 0 | 1 | 0 | 20 ms | 100 ms / 100 ms | 1.00 s | 1.00 s, pass |');
    expect(lineOf(md, '| 2 |')).toBe('| 2 | 250 | 0 | 12 | 238 | 0 | 20 ms | 100 ms / 5.00 s | 1.00 s | – |');
    expect(lineOf(md, '| 3 |')).toBe(
      '| 3 | 749 | 0 | 25 (🔥 1 NOT put back) | 675 | 49 | 20 ms | 100 ms / 100 ms | 1.00 s | – |',
    );
    expect(md).toContain('**Put back when the rollout stopped:** 914 hosts');
    expect(md).not.toContain('h5:22'); // a reverted host: counted, not named
    expect(md).not.toContain('| host | wave | previous |');
    expect(md).toContain(
      'Per-host detail (previous release, each step and its time, full reasons) of all 1000 hosts is in the JSON report (the `report` output).',
    );
    expect(rolloutOutputs(r)['failed-hosts']).toHaveLength(37);
  });

  test('1,000 hosts: the gantt has a bar per wave and the bake, a few hundred characters', () => {
    const chart = ganttChart(big());
    expect(chart.length).toBeLessThan(1000);
    expect(chart.split('\n')).toEqual([
      '```mermaid',
      'gantt',
      '  title Release v2',
      '  dateFormat x',
      '  axisFormat %M:%S',
      '  section Wave 1',
      `  1 host, 1 put back : done, ${T + 10_000}, ${T + 11_000}`,
      `  bake pass : active, ${T + 11_000}, ${T + 12_000}`,
      '  section Wave 2',
      `  250 hosts, 12 failed, 238 put back : crit, ${T + 12_000}, ${T + 13_000}`,
      '  section Wave 3',
      `  749 hosts, 25 failed, 675 put back : crit, ${T + 14_000}, ${T + 15_000}`,
      '```',
    ]);
    expect(summaryMarkdown(big())).toContain(chart);
  });

  test('10,000 hosts, all failed with long reasons: the failed list is cut to the budget, hosts that could not be put back kept', () => {
    const sizes = [1, 2500, 7499];
    const r = fleet(sizes, (i) => (i >= 9997 ? 'revert-failed' : 'failed'), {
      reason: (i) => `health failed on h${i}: ${'é|\n'.repeat(400)}`,
    });
    r.result = 'failed';
    const md = summaryMarkdown(r);
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES);
    const items = md.split('\n').filter((l) => l.startsWith('- ❌') || l.startsWith('- 🔥'));
    expect(items.length).toBeGreaterThan(100);
    expect(items.slice(0, 3).map((l) => l.split(' · ')[0])).toEqual([
      '- 🔥 **h9997:22**',
      '- 🔥 **h9998:22**',
      '- 🔥 **h9999:22**',
    ]);
    expect(md).toContain(
      `\n… and ${10_000 - items.length} more failed hosts: see the JSON report (the \`report\` output)\n`,
    );
    // A reason is cut to REASON_MAX characters on one line, then escaped (which at most doubles it).
    const reason = `health failed on h0: ${'é|\n'.repeat(400)}`;
    expect(lineOf(md, '- ❌ h0:22')).toBe(`- ❌ h0:22 · wave 1: ${mdText(reason, REASON_MAX)} (put back: back on v1)`);
    for (const l of items) expect(l.length).toBeLessThan(2 * REASON_MAX + 100);
    // What comes after the list is still there.
    expect(md).toContain('of all 10000 hosts is in the JSON report');
    expect(md).toContain(ganttChart(r));
    expect(ganttChart(r).length).toBeLessThan(50_000);
  });

  test('10,000 hosts one at a time (waves: 1): waves that ended alike are one row and one bar', () => {
    const r = fleet(Array(10_000).fill(1), (i) => (i < 2500 ? 'reverted' : i === 2500 ? 'failed' : 'skipped'));
    const md = summaryMarkdown(r);
    const rows = md.split('\n').filter((l) => /^\| \d/.test(l));
    expect(rows).toEqual([
      '| 1–2500 | 2500 | 0 | 0 | 2500 | 0 | 20 ms | 100 ms / 100 ms | 2500.0 s |',
      '| 2501 | 1 | 0 | 1 | 0 | 0 | 20 ms | 100 ms / 100 ms | 1.00 s |',
      '| 2502–10000 | 7499 | 0 | 0 | 0 | 7499 | – | – | – |',
    ]);
    const chart = ganttChart(r);
    expect(chart.length).toBeLessThan(50_000);
    // Waves that never started have no bar.
    expect(chart).toContain(
      `  section Waves 1–2500\n  2500 hosts, 2500 put back : done, ${T + 10_000}, ${T + 5_009_000}\n  section Wave 2501\n  1 host, 1 failed : crit, ${T + 5_010_000}, ${T + 5_011_000}\n\`\`\``,
    );
  });

  test('10,000 waves that end differently are cut into at most WAVE_ROWS_MAX runs, counts kept', () => {
    const r = fleet(Array(10_000).fill(1), (i) => (i % 2 ? 'failed' : 'updated'));
    const md = summaryMarkdown(r);
    const rows = md.split('\n').filter((l) => /^\| \d/.test(l));
    expect(rows).toHaveLength(WAVE_ROWS_MAX);
    const column = (k: number) => rows.reduce((sum, row) => sum + Number(row.split(' | ')[k]), 0);
    expect([column(1), column(2), column(3)]).toEqual([10_000, 5000, 5000]);
    expect(rows[0]).toMatch(/^\| 1–100 \| 100 \| 50 \| 50 \|/);
    expect(ganttChart(r).length).toBeLessThan(50_000);
    expect(Buffer.byteLength(md)).toBeLessThanOrEqual(SUMMARY_BUDGET_BYTES);
  });

  test('the traffic table is per wave: the share on the wave’s hosts against the rest', () => {
    const r = fleet([5, 95], () => 'updated');
    const every = (ids: string[], share: number) => Object.fromEntries(ids.map((id) => [id, share]));
    r.waves[0].traffic = [
      { label: 'canary bake', share: { ...every(r.waves[0].hosts, 1), ...every(r.waves[1].hosts, 1) } },
    ];
    r.waves[1].traffic = [
      { label: 'wave 2 switching', share: { ...every(r.waves[0].hosts, 20), ...every(r.waves[1].hosts, 0) } },
    ];
    expect(trafficTable(r).split('\n')).toEqual([
      "**Traffic split** (share of requests on the load balancer; 100 hosts, so per wave: the wave's hosts against the rest)",
      '',
      "| wave | when | this wave's hosts | other hosts | hosts out (0%) |",
      '| --- | --- | --- | --- | --- |',
      '| 1 | canary bake | 5% of 5 | 95% of 95 | 0 |',
      '| 2 | wave 2 switching | 0% of 95 | 100% of 5 | 95 |',
    ]);
  });

  test('the traffic table keeps at most TRAFFIC_ROWS_MAX rows', () => {
    const r = fleet(Array(200).fill(1), () => 'updated');
    for (const w of r.waves) w.traffic = [{ label: `wave ${w.index} switching`, share: { [w.hosts[0]]: 0 } }];
    const lines = trafficTable(r).split('\n');
    expect(lines.filter((l) => l.startsWith('| ') && /^\| \d/.test(l))).toHaveLength(TRAFFIC_ROWS_MAX);
    expect(lines[lines.length - 1]).toBe(
      `… and ${200 - TRAFFIC_ROWS_MAX} more rows: see the JSON report (\`waves[].traffic\`).`,
    );
  });

  test(`up to ${SMALL_FLEET} hosts the per-host table and bars stay; one more and they go`, () => {
    const at = fleet([SMALL_FLEET], () => 'updated');
    expect(
      summaryMarkdown(at)
        .split('\n')
        .filter((l) => /^\| h\d+:22 \|/.test(l)),
    ).toHaveLength(SMALL_FLEET);
    expect(ganttChart(at)).toContain(`  h0_22 : ${T + 10_000}, ${T + 10_120}`);
    const over = fleet([SMALL_FLEET + 1], () => 'updated');
    expect(summaryMarkdown(over)).not.toMatch(/^\| h\d+:22 \|/m);
    expect(ganttChart(over)).toContain(`  ${SMALL_FLEET + 1} hosts : ${T + 10_000}, ${T + 11_000}`);
  });

  test('many hosts found on a never-healthy release are counted by release, not named', () => {
    const r = fleet([1, 99], () => 'updated');
    r.unhealthyAtStart = r.hosts.map((h, i) => ({
      host: h.host,
      release: i < 60 ? 'v1b' : 'v1c',
      status: 'switched',
      revertTo: 'v1',
    }));
    const md = summaryMarkdown(r);
    expect(md).toContain(
      [
        '- 60 hosts on v1b (last recorded: switched); on failure this rollout puts them back on v1',
        '- 40 hosts on v1c (last recorded: switched); on failure this rollout puts them back on v1',
        '',
        'Their names are in the JSON report (`unhealthyAtStart`).',
      ].join('\n'),
    );
    expect(md).not.toContain('h3:22');
  });

  test('many warnings: the first ones, then a count', () => {
    const r = fleet([1, 99], () => 'updated');
    r.errors = r.hosts.map((h) => `${h.host}: record/prune: exit 1`);
    const md = summaryMarkdown(r);
    expect(md.split('\n').filter((l) => l.endsWith(': record/prune: exit 1'))).toHaveLength(SMALL_FLEET);
    expect(md.endsWith(`- … and ${100 - SMALL_FLEET} more warnings: see the JSON report (\`errors\`)\n`)).toBe(true);
  });
});

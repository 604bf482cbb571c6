import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { readRevertSettings } from '../../src/revert/settings.js';
import { readTime as toTime } from '../../src/common/json-fields.js';
import { parseReason, parseReport, readReports } from '../../src/revert/reports.js';
import { revertOutputs, summaryMarkdown } from '../../src/revert/summary.js';
import type { HostRevertRecord } from '../../src/revert/hosts.js';

const keyDir = mkdtempSync(join(tmpdir(), 'fivestep-key-'));
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'k')]);
const privateKey = readFileSync(join(keyDir, 'k'), 'utf8');
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

const ctx = { sha: 'c'.repeat(40), runId: '42', mask: () => {} };

describe('readRevertSettings', () => {
  test('defaults (git-only, no hosts)', () => {
    const s = readRevertSettings(objectInputs({ 'github-token': 't' }), ctx);
    expect(s).toMatchObject({
      ssh: null,
      loadBalancer: null,
      badRelease: '',
      toRelease: '',
      revertCommit: false,
      commits: ['c'.repeat(40)],
      revertMode: 'pull-request',
      rcaIssue: true,
      maxRevertsPerDay: 3,
      rcaLabels: ['incident'],
      reports: [],
    });
  });

  test('the token is masked; reports one a line', () => {
    const masked: string[] = [];
    const s = readRevertSettings(objectInputs({ 'github-token': 'ghs_abc', reports: '/tmp/a b.json\n/tmp/c.json' }), {
      ...ctx,
      mask: (x) => masked.push(x),
    });
    expect(masked).toEqual(['ghs_abc']);
    expect(s.reports).toEqual(['/tmp/a b.json', '/tmp/c.json']);
  });

  test('load-balancer inputs are validated', () => {
    const ssh = {
      hosts: 'web1',
      'private-key': privateKey,
      'insecure-skip-host-key-check': 'true',
      'deploy-path': '/srv/app',
      'rca-issue': 'false',
    };
    expect(() => readRevertSettings(objectInputs({ ...ssh, 'load-balancer': 'f5' }), ctx)).toThrow(
      /input 'load-balancer'/,
    );
    expect(() =>
      readRevertSettings(objectInputs({ ...ssh, 'load-balancer': 'haproxy', 'lb-host': 'lb1' }), ctx),
    ).toThrow(/input 'lb-backend': is required/);
    expect(() =>
      readRevertSettings(
        objectInputs({ ...ssh, 'load-balancer': 'nginx', 'lb-host': 'lb1', 'lb-backend': 'app' }),
        ctx,
      ),
    ).toThrow(/input 'lb-upstream-file'/);
    const s = readRevertSettings(
      objectInputs({ ...ssh, 'load-balancer': 'haproxy', 'lb-host': 'ops@lb1:2222', 'lb-backend': 'app' }),
      ctx,
    );
    expect(s.loadBalancer).toEqual({
      kind: 'haproxy',
      host: { user: 'ops', host: 'lb1', port: 2222 },
      backend: 'app',
      socket: '/run/haproxy/admin.sock',
      upstreamFile: '',
      servers: new Map(),
    });
    expect(s.ssh?.warnings).toHaveLength(1);
    expect(() =>
      readRevertSettings(
        objectInputs({ 'lb-host': 'lb1', 'rca-issue': 'false', 'revert-commit': 'true', 'revert-mode': 'push' }),
        ctx,
      ),
    ).toThrow(/input 'lb-host': is set but load-balancer is empty/);
  });

  test.each([
    [
      { 'load-balancer': 'haproxy', 'lb-socket': 'run/haproxy/admin.sock' },
      /input 'lb-socket': lb-socket 'run\/haproxy\/admin.sock' must be an absolute path/,
    ],
    [{ 'load-balancer': 'haproxy', 'lb-socket': '/run/haproxy/admin.sock;reboot' }, /input 'lb-socket'/],
    [
      { 'load-balancer': 'haproxy', 'lb-backend': 'app server' },
      /input 'lb-backend': 'app server' is not a backend\/upstream name/,
    ],
    [{ 'load-balancer': 'nginx' }, /input 'lb-upstream-file': is required when load-balancer is nginx/],
    [
      { 'load-balancer': 'nginx', 'lb-upstream-file': 'conf.d/app.conf' },
      /input 'lb-upstream-file': lb-upstream-file 'conf.d\/app.conf' must be an absolute path/,
    ],
    [{ 'load-balancer': 'nginx', 'lb-upstream-file': '/etc/nginx/$(id).conf' }, /input 'lb-upstream-file'/],
    [{ 'load-balancer': 'haproxy', 'lb-host': '' }, /input 'lb-host': is required when load-balancer is set/],
    [{ 'load-balancer': 'haproxy', hosts: '' }, /input 'load-balancer': needs hosts/],
    [
      { 'load-balancer': '', 'lb-host': '', 'lb-backend': '', 'lb-upstream-file': '/etc/nginx/app.conf' },
      /input 'lb-upstream-file': is set but load-balancer is empty/,
    ],
  ])('load-balancer %j is refused naming the input', (over, error) => {
    const base = {
      hosts: 'web1',
      'private-key': privateKey,
      'insecure-skip-host-key-check': 'true',
      'deploy-path': '/srv/app',
      'rca-issue': 'false',
      'revert-commit': 'true',
      'revert-mode': 'push',
      'lb-host': 'lb1',
      'lb-backend': 'app',
    };
    expect(() => readRevertSettings(objectInputs({ ...base, ...over }), ctx)).toThrow(error);
  });

  test('mark-bad false with to-release and no bad-release is a rollback on purpose, in or outside a run', () => {
    const hosts = { hosts: 'web1', 'private-key': privateKey, 'insecure-skip-host-key-check': 'true' };
    const base = { ...hosts, 'deploy-path': '/srv/app', 'rca-issue': 'false', 'to-release': 'v1' };
    const outside = { ...ctx, runId: '' };
    expect(readRevertSettings(objectInputs({ ...base, 'mark-bad': 'false' }), outside)).toMatchObject({
      markBad: false,
      planned: true,
      toRelease: 'v1',
    });
    expect(readRevertSettings(objectInputs({ ...base, 'mark-bad': 'false' }), ctx).planned).toBe(true);
    // Marking bad (the default) keeps the old meaning: in a run, this run's release; outside, it must be named.
    expect(readRevertSettings(objectInputs(base), ctx)).toMatchObject({ markBad: true, planned: false });
    expect(() => readRevertSettings(objectInputs(base), outside)).toThrow(
      /input 'bad-release': is empty outside a workflow run .* or, for a rollback on purpose, name to-release and set mark-bad to false/,
    );
    expect(() => readRevertSettings(objectInputs({ ...base, 'mark-bad': 'maybe' }), ctx)).toThrow(
      "input 'mark-bad': expected true or false, got 'maybe'",
    );
  });

  test('nginx: the upstream file is kept; the socket is not checked', () => {
    const ssh = {
      hosts: 'web1',
      'private-key': privateKey,
      'insecure-skip-host-key-check': 'true',
      'deploy-path': '/srv/app',
      'rca-issue': 'false',
    };
    const s = readRevertSettings(
      objectInputs({
        ...ssh,
        'load-balancer': 'nginx',
        'lb-host': 'lb1',
        'lb-backend': 'app',
        'lb-upstream-file': '/etc/nginx/conf.d/app-upstream.conf',
      }),
      ctx,
    );
    expect(s.loadBalancer).toEqual({
      kind: 'nginx',
      host: { user: 'deploy', host: 'lb1', port: 22 },
      backend: 'app',
      socket: '/run/haproxy/admin.sock',
      upstreamFile: '/etc/nginx/conf.d/app-upstream.conf',
      servers: new Map(),
    });
  });

  test.each([
    [{ 'bad-release': 'v 1' }, /input 'bad-release'/],
    [{ 'to-release': '../x' }, /input 'to-release'/],
    [{ 'bad-release': 'v1', 'to-release': 'v1' }, /input 'to-release': is the same as bad-release/],
    [{ 'revert-mode': 'merge' }, /input 'revert-mode'/],
    [{ commits: '--upload-pack=evil' }, /input 'commits'/],
    [{ 'max-reverts-per-day': '-1' }, /input 'max-reverts-per-day'/],
    [{ 'rca-issue': 'sometimes' }, /input 'rca-issue'/],
    [{ 'github-token': '' }, /input 'github-token'/],
    [{ 'rca-issue': 'false', 'github-token': '' }, /input 'hosts': is empty and revert-commit and rca-issue are false/],
    [{ hosts: 'web1', 'github-token': 't' }, /input 'private-key'/],
  ])('%j is rejected naming the input', (over, error) => {
    expect(() => readRevertSettings(objectInputs({ 'github-token': 't', ...over }), ctx)).toThrow(error);
  });

  test('bad-release empty outside a workflow run (no GITHUB_RUN_ID) is refused naming bad-release, to-release or not; git-only needs none', () => {
    const ssh = {
      hosts: 'web1',
      'private-key': privateKey,
      'insecure-skip-host-key-check': 'true',
      'deploy-path': '/srv/app',
      'rca-issue': 'false',
    };
    const outside = { ...ctx, runId: '' };
    expect(() => readRevertSettings(objectInputs(ssh), outside)).toThrow(
      /input 'bad-release': is empty outside a workflow run/,
    );
    expect(() => readRevertSettings(objectInputs({ ...ssh, 'to-release': 'v1' }), outside)).toThrow(
      /input 'bad-release'/,
    );
    expect(readRevertSettings(objectInputs({ ...ssh, 'bad-release': 'v2' }), outside).badRelease).toBe('v2');
    expect(readRevertSettings(objectInputs(ssh), ctx).badRelease).toBe('');
    expect(readRevertSettings(objectInputs({ 'github-token': 't' }), outside).ssh).toBeNull();
  });
});

describe('reports', () => {
  test('unknown, broken and missing files are skipped with why', () => {
    const files: Record<string, string> = { '/a.json': '{"hello":1}', '/b.json': 'not json' };
    const set = readReports(['/a.json', '/b.json', '/missing.json'], (p) => {
      if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return files[p];
    });
    expect(set.rollouts).toEqual([]);
    expect(set.skipped).toEqual([
      '/a.json: not an ssh-rollout or metric-watch report',
      '/b.json: not an ssh-rollout or metric-watch report',
      '/missing.json: ENOENT',
    ]);
  });

  test('tolerant: wrong types are dropped, not trusted', () => {
    const r = parseReport(
      '/r.json',
      JSON.stringify({
        tool: 'fivestep/ssh-rollout',
        release: 7,
        waves: [{ hosts: 'x', start: 'garbage' }, null],
        hosts: [{ host: 'h:22', outcome: 'failed' }],
      }),
    );
    expect(r).toMatchObject({
      kind: 'rollout',
      release: '7',
      waves: [{ index: 1, hosts: [] }],
      failedHosts: [{ host: 'h:22', reason: 'failed' }],
    });
    const w = parseReport(
      '/w.json',
      JSON.stringify({
        kind: 'fivestep/metric-watch',
        verdict: 'fail',
        breaches: [{ rule: 'r', value: { x: 1 }, when: '2024-01-01T00:00:00Z' }, 'junk'],
      }),
    );
    expect(w).toMatchObject({ kind: 'watch', breaches: [{ rule: 'r', when: Date.parse('2024-01-01T00:00:00Z') }] });
    expect(toTime(1_700_000_000)).toBe(1_700_000_000_000);
  });

  test('reason: breaches JSON becomes text and breaches; anything else stays text', () => {
    const r = parseReason(
      JSON.stringify([{ rule: 'errors', host: 'web1:9100', value: 0.09, bound: 0.05, when: '2024-01-01T00:00:00Z' }]),
    );
    expect(r.text).toBe('errors on web1:9100, value 0.09, bound 0.05');
    expect(r.breaches).toHaveLength(1);
    expect(parseReason('[manual] bad deploy')).toEqual({ text: '[manual] bad deploy', breaches: [] });
  });
});

describe('outputs', () => {
  const rec = (host: string, outcome: HostRevertRecord['outcome'], to = ''): HostRevertRecord => ({
    host,
    outcome,
    from: 'v2',
    to,
    bad: 'v2',
    markedBad: outcome === 'reverted',
    reason: 'r',
    steps: [],
  });
  const hosts = (list: HostRevertRecord[]) => ({ startedAt: '', finishedAt: '', hosts: list });

  test('reverted / nothing-to-do / failed', () => {
    const base = { git: null, rca: null, errors: [], badReleases: ['v2'] };
    expect(
      revertOutputs({ ...base, hosts: hosts([rec('a:22', 'reverted', 'v1'), rec('b:22', 'nothing-to-do')]) }),
    ).toEqual({
      result: 'reverted',
      'reverted-hosts': ['a:22'],
      'reverted-to': { 'a:22': 'v1' },
      'revert-sha': '',
      'pull-request': '',
      issue: '',
    });
    expect(revertOutputs({ ...base, hosts: hosts([rec('b:22', 'nothing-to-do')]) }).result).toBe('nothing-to-do');
    expect(
      revertOutputs({ ...base, hosts: hosts([rec('a:22', 'reverted', 'v1'), rec('b:22', 'no-good-release')]) }).result,
    ).toBe('failed');
    expect(revertOutputs({ ...base, hosts: null, errors: ['git revert: conflict'] }).result).toBe('failed');
    const git = {
      status: 'pull-request' as const,
      commits: ['x'],
      revertSha: 'abc',
      pullRequest: { number: 4, url: 'https://gh/pull/4' },
      message: 'opened',
    };
    expect(revertOutputs({ ...base, hosts: null, git })).toMatchObject({
      result: 'reverted',
      'revert-sha': 'abc',
      'pull-request': 'https://gh/pull/4',
    });
  });

  test('summary names every host and what happened', () => {
    const md = summaryMarkdown({
      git: null,
      rca: { number: 9, url: 'https://gh/issues/9', commented: true },
      errors: [],
      badReleases: ['v2'],
      hosts: { ...hosts([rec('a:22', 'reverted', 'v1'), rec('b:22', 'no-good-release')]), timeToHealthyMs: 812 },
    });
    expect(md).toContain('## auto-revert: failed (bad release v2)');
    expect(md).toContain('Last reverted host healthy **812 ms**');
    expect(md).toContain('| a:22 | v2 | v1 | v2 | yes | ↩️ reverted: r |');
    expect(md).toContain('| b:22 | v2 | v2 | v2 | – | 🔥 no good release: left as it is: r |');
    expect(md).toContain('[#9](https://gh/issues/9) (commented: it was already open)');
  });

  test('summary says why nothing was done', () => {
    const md = summaryMarkdown({
      git: null,
      rca: null,
      errors: [],
      badReleases: [],
      notes: ['Nothing done: no ssh-rollout of this workflow run (u) reached any of the 2 host(s).'],
      hosts: hosts([]),
    });
    expect(md).toContain(
      '## auto-revert: nothing-to-do\n\nNothing done: no ssh-rollout of this workflow run (u) reached any of the 2 host(s).',
    );
  });
});

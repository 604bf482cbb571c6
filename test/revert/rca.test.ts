import { createClient } from '../../src/github/client.js';
import { buildRcaBody, buildRcaComment, publishRca, rcaMarker, type RcaInput } from '../../src/revert/rca.js';
import { startGitHubApi } from '../servers/github-api.js';
import type { HostRevertRecord } from '../../src/revert/hosts.js';
import { summaryMarkdown } from '../../src/revert/summary.js';
import { renderGitHub } from '../github/render.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');

/** An incident at `n` hosts: each reverted v2 → v1 but `failed` of them, whose setup output is `output`. */
function incident(n: number, o: { failed?: number; output?: string; commitMessage?: string } = {}): RcaInput {
  const failed = o.failed ?? 0;
  const names = Array.from({ length: n }, (_, i) => `web${String(i).padStart(4, '0')}.prod.example.com:22`);
  const hosts: HostRevertRecord[] = names.map((host, i) =>
    i < failed
      ? {
          host,
          outcome: 'failed',
          from: 'v2',
          to: '',
          bad: 'v2',
          markedBad: false,
          reason: `setup failed: ${o.output ?? 'exit 1'}`,
          steps: [],
        }
      : { host, outcome: 'reverted', from: 'v2', to: 'v1', bad: 'v2', markedBad: true, reason: '', steps: [] },
  );
  const waves = [names.slice(0, 1), names.slice(1, Math.ceil(n / 4)), names.slice(Math.ceil(n / 4))].map((h, i) => ({
    index: i + 1,
    hosts: h,
    start: T0 + i * 60_000,
    end: T0 + i * 60_000 + 5000,
  }));
  return {
    repository: 'acme/shop',
    serverUrl: 'https://github.com',
    runUrl: 'https://github.com/acme/shop/actions/runs/9',
    badReleases: ['v2'],
    reasonText: o.commitMessage ?? 'revenue dropped',
    reasonBreaches: [],
    commits: ['a'.repeat(40)],
    hosts: {
      startedAt: new Date(T0 + 200_000).toISOString(),
      finishedAt: new Date(T0 + 260_000).toISOString(),
      timeToHealthyMs: 30_000,
      hosts,
    },
    git: null,
    reports: {
      rollouts: [
        {
          kind: 'rollout',
          path: 'r.json',
          release: 'v2',
          result: 'reverted',
          startedAt: T0,
          finishedAt: T0 + 190_000,
          waves,
          failedHosts: names
            .slice(0, failed)
            .map((host) => ({ host, reason: `setup failed: ${o.output ?? 'exit 1'}` })),
          stopReason: '',
        },
      ],
      watches: [],
      skipped: [],
    },
    startedAt: T0 + 200_000,
  };
}

describe('the RCA issue at any fleet size', () => {
  test.each([50, 500, 2000, 10_000])(
    '%i reverted hosts: the body fits an issue (65,536 characters) and says what was left out',
    (n) => {
      const input = incident(n, { failed: Math.floor(n / 10), output: 'x'.repeat(400) });
      const body = buildRcaBody(input);
      expect(body.length).toBeLessThanOrEqual(65_536);
      // Grouped: one line for the 'v2 → v1' hosts, not one a host.
      expect(body).toMatch(new RegExp(`v2 → v1: ${n - Math.floor(n / 10)} hosts, `));
      // The five whys are there whatever the size: they are the point of the issue.
      expect(body).toContain('## Five whys');
      expect(body).toContain('## Action items');
      if (n / 10 > 50)
        expect(body).toContain(`… and ${Math.floor(n / 10) - 50} more hosts not put back: the job summary lists them.`);
      const comment = buildRcaComment(input);
      expect(comment.length).toBeLessThanOrEqual(65_536);
    },
  );

  test('what a host printed or a commit said opens no link, mention or markup', () => {
    const hostile = '@octocat [click](https://evil.example) <img src=x> fixes #1 `x` | y\n## heading';
    const body = buildRcaBody(incident(3, { failed: 1, output: hostile, commitMessage: hostile }));
    const r = renderGitHub(body);
    // The only links are fivestep's own (commits, the run).
    expect(r.live.filter((l) => !l.startsWith('<a href="https://github.com/acme/shop/'))).toEqual([]);
    expect(r.tags).not.toContain('img');
    expect(r.tags.filter((t) => t === 'h2')).toHaveLength(2 * 7);
    expect(r.text).toContain(
      'setup failed: @octocat [click](https://evil.example) <img src=x> fixes #1 `x` | y | ## heading',
    );
  });
});

describe('the auto-revert job summary', () => {
  test.each([2000, 20_000])('%i hosts: grouped, bounded, hosts not put back named', (n) => {
    const input = incident(n, { failed: 3, output: 'disk full' });
    const md = summaryMarkdown({ hosts: input.hosts, git: null, rca: null, errors: [], badReleases: ['v2'] });
    expect(md.length).toBeLessThan(10_000);
    expect(md).toContain(`| ${n - 3} | v2 | v1 | ↩️ reverted |`);
    expect(md).toContain('- `web0000.prod.example.com:22`: ❌ failed: setup failed: disk full');
  });

  test('hostile host output is text', () => {
    const input = incident(3, { failed: 1, output: '@octocat <img src=x> [a](https://evil.example) | x' });
    const r = renderGitHub(
      summaryMarkdown({ hosts: input.hosts, git: null, rca: null, errors: ['@octocat err'], badReleases: ['v2'] }),
    );
    expect(r.live).toEqual([]);
    expect(r.html.match(/<tr>/g)).toHaveLength(4);
  });
});

describe('the RCA issue fivestep comments on is one it opened', () => {
  test.each([
    ['the workflow token (github-actions[bot], which may not read /user)', undefined],
    ['a personal token', 'deploy-bot'],
  ])(
    "%s: a stranger's issue with the same marker gets nothing; fivestep opens its own, then comments on that",
    async (_what, login) => {
      const gh = await startGitHubApi(login ? { login } : {});
      try {
        const client = createClient('t0ken', gh.url);
        const input = incident(3);
        const stranger = gh.seedIssue('acme/shop', {
          title: 'Incident',
          body: `${rcaMarker(input.badReleases, input.commits)}\n[login here](https://evil.example)`,
          user: 'mallory',
        });
        const first = await publishRca(client, { owner: 'acme', repo: 'shop', labels: [] }, input);
        expect(first.commented).toBe(false);
        expect(first.number).not.toBe(stranger.number);
        const second = await publishRca(client, { owner: 'acme', repo: 'shop', labels: [] }, input);
        expect(second).toMatchObject({ number: first.number, commented: true });
        const repo = gh.repo('acme/shop');
        expect(repo.commentsOn(stranger.number)).toHaveLength(0);
        expect(repo.issue(first.number)!.user.login).toBe(login ?? 'github-actions[bot]');
      } finally {
        await gh.close();
      }
    },
  );
});

describe("the RCA issue names each breached rule's runbook", () => {
  /** An incident whose `reason` (metric-watch's breaches output) names breaches with these runbooks. */
  function withRunbooks(runbooks: Record<string, string>): RcaInput {
    const input = incident(3);
    const when = T0 + 100_000;
    // metric-watch's breaches carry `runbook`; BreachSummary gains the field when the reader keeps it.
    input.reasonBreaches = Object.entries(runbooks).map(
      ([rule, runbook], i) =>
        ({ rule, host: `web${i}`, value: 40, bound: 100, when, since: when, runbook }) as RcaInput['reasonBreaches'][0],
    );
    return input;
  }

  test('a link for an http(s) runbook, text for a line, under the breaches table', () => {
    const body = buildRcaBody(
      withRunbooks({ 'revenue per minute': 'https://wiki.example/runbooks/revenue', errors: 'page the payments team' }),
    );
    expect(body).toContain(
      [
        '| errors | web1 | 40 | 100 | – | 2026-12-07T10:01:40Z |',
        '',
        '- Runbook for revenue per minute: [https:\u200b//wiki.example/runbooks/revenue](https://wiki.example/runbooks/revenue)',
        '- Runbook for errors: page the payments team',
        '',
        '## Links',
      ].join('\n'),
    );
    const r = renderGitHub(body);
    expect(r.live).toContain('<a href="https://wiki.example/runbooks/revenue">');
    expect(r.text).toContain('Runbook for revenue per minute: https://wiki.example/runbooks/revenue');
  });

  test('a hostile runbook stays inert: no markup, HTML, mention, javascript: link or way out of its link', () => {
    const hostile = {
      a: '@octocat [click](javascript:alert(1)) <img src=x> `x` | y fixes #1',
      b: 'javascript:alert(document.cookie)',
      c: 'https://wiki.example/a)[x](javascript:alert(1)) <img src=x onerror=alert(1)> @octocat `y`',
      d: '](javascript:alert(1))',
    };
    const body = buildRcaBody(withRunbooks(hostile));
    const r = renderGitHub(body);
    const links = r.live.filter((l) => !l.startsWith('<a href="https://github.com/acme/shop/'));
    // The one http(s) runbook is the one link, its target encoded so nothing left it.
    expect(links).toEqual([
      '<a href="https://wiki.example/a%29%5Bx%5D%28javascript:alert%281%29%29%20%3Cimg%20src=x%20onerror=alert%281%29%3E%20@octocat%20%60y%60">',
    ]);
    expect(r.tags).not.toContain('img');
    // Backticks make no code span: the only ones are fivestep's own commit links, as without runbooks.
    const codes = (md: string) => renderGitHub(md).tags.filter((t) => t === 'code').length;
    expect(codes(body)).toBe(codes(buildRcaBody(withRunbooks({}))));
    expect(r.text).toContain(`Runbook for a: ${hostile.a}`);
    expect(r.text).toContain(`Runbook for b: ${hostile.b}`);
    expect(r.text).toContain(`Runbook for c: ${hostile.c}`);
    expect(r.text).toContain(`Runbook for d: ${hostile.d}`);
  });

  test('no runbook, no line', () => {
    expect(buildRcaBody(withRunbooks({}))).not.toContain('Runbook');
    const input = withRunbooks({ errors: 'x' });
    delete (input.reasonBreaches[0] as { runbook?: string }).runbook;
    expect(buildRcaBody(input)).not.toContain('Runbook');
  });
});

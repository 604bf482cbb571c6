// ssh-rollout wired to its neighbours: a metric breach on the canary during the bake stops and reverts
// the rollout (the same metric-watch code as the action), and `environment` records a GitHub Deployment.
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { createClient } from '../../src/github/client.js';
import { autoRevert } from '../../src/revert/main.js';
import { sshRollout } from '../../src/rollout/main.js';
import type { WatchResult } from '../../src/metrics/types.js';
import { connectSsh } from '../../src/ssh/connector.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { startGitHubApi, type GitHubApiStandIn } from '../servers/github-api.js';

let fleet: Fleet;
let gh: GitHubApiStandIn;
let metricsPort: number;
const servers: Server[] = [];
const artifacts = mkdtempSync(join(tmpdir(), 'fivestep-art-'));

/** Each host's app reports revenue from the release its `current` points at: `*-bad` releases sell little. */
const currentRelease = (i: number): string => fleet.currentRelease(i);

function artifact(name: string): string {
  const dir = join(artifacts, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), name);
  return dir;
}

beforeAll(async () => {
  fleet = await Fleet.start(4, { distinctAddresses: true });
  metricsPort = await freePort(fleet.hosts[0].host);
  for (const [i, h] of fleet.hosts.entries()) {
    const server = createServer((_req, res) => {
      const revenue = currentRelease(i).endsWith('-bad') ? 10 : 100;
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(`# TYPE shop_revenue_per_minute gauge\nshop_revenue_per_minute ${revenue}\n`);
    });
    await new Promise<void>((resolve) => server.listen(metricsPort, h.host, resolve));
    servers.push(server);
  }
  gh = await startGitHubApi();
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await gh?.close();
  await fleet?.stop();
});

const env = () => ({
  GITHUB_REPOSITORY: 'acme/shop',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_RUN_ID: '42',
  GITHUB_API_URL: gh.url,
  RUNNER_TEMP: artifacts,
});

function inputs(release: string, extra: Record<string, string> = {}) {
  return objectInputs({
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    artifact: artifact(release),
    'deploy-path': '/srv/app',
    'release-id': release,
    waves: '1, 100%',
    ...extra,
  });
}

const deps = (logger = new MemoryLogger()) => ({
  connector: connectSsh,
  logger,
  mask: () => {},
  env: env(),
  createClient: (token: string, url: string) => createClient(token, url),
});

const watchYaml = () =>
  [
    'source: openmetrics',
    `url: http://{host}:${metricsPort}/metrics`,
    'interval: 200ms',
    'baseline: hosts',
    'rules:',
    '  - name: revenue per minute',
    '    query: shop_revenue_per_minute',
    '    max-drop: 50%',
    '    for: 2',
  ].join('\n');

test('a release that drops revenue on the canary is stopped at the canary and reverted; the Deployment fails', async () => {
  const first = await sshRollout(inputs('v1', { environment: 'production', 'github-token': 't' }), deps());
  expect(first.outputs.result).toBe('success');

  const logger = new MemoryLogger();
  const started = Date.now();
  const bad = await sshRollout(
    inputs('v2-bad', { 'wave-wait': '20s', watch: watchYaml(), environment: 'production', 'github-token': 't' }),
    deps(logger),
  );
  expect(bad.outputs.result).toBe('reverted');
  expect(bad.failure).toMatch(/metric watch failed during the bake of wave 1/);
  // The breach ends the bake early: well before the 20 s wave-wait.
  expect(Date.now() - started).toBeLessThan(10_000);
  for (let i = 0; i < fleet.hosts.length; i++) expect(currentRelease(i)).toBe('v1');
  const report = JSON.parse(readFileSync(bad.outputs.report as string, 'utf8'));
  expect(report.hosts.map((h: { outcome: string }) => h.outcome)).toEqual([
    'reverted',
    'skipped',
    'skipped',
    'skipped',
  ]);
  expect(report.waves[0].bake.verdict).toBe('fail');
  expect(bad.outputs['updated-hosts']).toEqual([]);

  const deployments = gh.repo('acme/shop').deployments;
  expect(deployments).toHaveLength(2);
  expect(deployments.map((d) => d.environment)).toEqual(['production', 'production']);
  const states = (i: number) => deployments[i].statuses.map((s: { state: string }) => s.state);
  expect(states(1)).toEqual(['in_progress', 'failure']);
  expect(states(0)[0]).toBe('in_progress');
  expect(states(0)).toContain('success');
}, 60_000);

test('a release that keeps revenue passes the watch and reaches every host', async () => {
  const good = await sshRollout(inputs('v3', { 'wave-wait': '1s', watch: watchYaml() }), deps());
  expect(good.outputs.result).toBe('success');
  for (let i = 0; i < fleet.hosts.length; i++) expect(currentRelease(i)).toBe('v3');
  const report = JSON.parse(readFileSync(good.outputs.report as string, 'utf8'));
  expect(report.waves[0].bake.verdict).toBe('pass');
}, 60_000);

test('a watch with a bad rule is refused before any host is touched', async () => {
  await expect(
    sshRollout(inputs('v4', { 'wave-wait': '1s', watch: 'source: openmetrics\nrules: nope' }), deps()),
  ).rejects.toThrow(/input 'watch'/);
  for (let i = 0; i < fleet.hosts.length; i++) expect(currentRelease(i)).toBe('v3');
});

test('auto-revert takes a recorded release off the hosts and marks its Deployment failed', async () => {
  const good = await sshRollout(inputs('v5', { environment: 'production', 'github-token': 't' }), deps());
  expect(good.outputs.result).toBe('success');
  const deployment = gh.repo('acme/shop').deployments.at(-1)!;
  expect(deployment.statuses.map((s: { state: string }) => s.state)).toEqual(['in_progress', 'success']);

  const reverted = await autoRevert(
    objectInputs({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      reason: 'revenue dropped',
      'rca-issue': 'false',
      'github-token': 't',
    }),
    deps(),
  );
  expect(reverted.outputs.result).toBe('reverted');
  for (let i = 0; i < fleet.hosts.length; i++) expect(currentRelease(i)).toBe('v3');
  const states = deployment.statuses.map((s: { state: string }) => s.state);
  expect(states).toEqual(['in_progress', 'success', 'failure']);
  expect(deployment.statuses.at(-1)?.description).toBe('reverted by auto-revert: revenue dropped');
}, 60_000);

test('a compare rule across a rollout: each bake spends its share of 1 − confidence; 2 hosts left on the old release are judged by difference in differences', async () => {
  const results: WatchResult[] = [];
  const compareYaml = `${watchYaml().replace('    for: 2', '    compare: true')}\n`;
  const good = await sshRollout(inputs('v3b', { 'wave-wait': '3s', waves: '1, 1, 100%', watch: compareYaml }), {
    ...deps(),
    onWatchResult: (r: WatchResult) => results.push(r),
  });
  expect(good.outputs.result).toBe('success');
  // Waves 1, 1, 100% bake twice (after every wave but the last): 0.02 ÷ (1 rule × 2 bakes) each.
  expect(results).toHaveLength(2);
  const [first, second] = results.map((r) => r.rules[0].comparison!);
  expect(first).toMatchObject({ method: 'host-means', significant: false, fraction: 1 });
  expect(first.alpha).toBeCloseTo(0.01, 12);
  // The second bake has 2 hosts left on v3: too few for host means, so each host's readings from the
  // first bake are its own control.
  expect(results[1].hosts.baseline).toHaveLength(2);
  expect(second).toMatchObject({ method: 'differences', significant: false, fraction: 1 });
  expect(second.alpha).toBeCloseTo(0.01, 12);
  expect(results.map((r) => r.verdict)).toEqual(['pass', 'pass']);
}, 60_000);

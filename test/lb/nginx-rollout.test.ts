// ssh-rollout through a REAL nginx (upstream file rewritten, `nginx -t`, reload, over SSH on the bastion):
// drain loses no request under load and the upstream file is restored byte for byte.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { startNginx, type NginxServer } from '../servers/nginx.js';
import { currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import { startApps, startLoad, type Apps } from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let nginx: NginxServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-lb-nginx-'));
  fleet = await Fleet.start(3, { distinctAddresses: true, bastion: true });
  apps = await startApps(fleet);
  const { uid, gid } = statSync(fleet.hosts[0].root);
  nginx = await startNginx(fleet.hosts.map((h) => ({ name: h.host, address: h.host, port: apps.port })), { uid, gid });
}, 40_000);
afterAll(async () => {
  await nginx?.stop();
  await apps?.stop();
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('drain through nginx: no failed request under load, the upstream file restored', async () => {
  const original = readFileSync(nginx.upstreamFile, 'utf8');
  const load = startLoad(nginx.url, 3);
  const run = await runRollout(fleet, {
    artifact: makeArtifact(tmp, 'v1'),
    'release-id': 'v1',
    waves: '1, 100%',
    'load-balancer': 'nginx',
    'lb-host': `${fleet.bastion().spec.user}@${fleet.bastion().host}:${fleet.bastion().port}`,
    'lb-backend': nginx.upstream,
    'lb-upstream-file': nginx.upstreamFile,
    'drain-timeout': '5s',
    'reload-command': 'mkdir -p "$DEPLOY_PATH/shared"; touch "$DEPLOY_PATH/shared/restarting"; sleep 0.3; rm -f "$DEPLOY_PATH/shared/restarting"',
    'health-url': `http://{host}:${apps.port}/health`,
  });
  const samples = await load.stop();
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
  expect(samples.length).toBeGreaterThan(50);
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  expect(run.report.hosts[0].steps.map((s) => s.name)).toEqual(expect.arrayContaining(['drain', 'rotation']));
  expect(readFileSync(nginx.upstreamFile, 'utf8')).toBe(original);
}, 60_000);

// The Puma recipe of docs/app-servers.md, against Debian's Puma 5.6 on two real SSH hosts: cluster mode
// with the release's puma.rb (directory through current, queue_requests false), USR1 (a phased restart)
// to the master, then wait for every worker from before the USR1 to exit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { ensurePackages } from '../servers/system-packages.js';
import {
  deployQuietly,
  docBlock,
  docInputs,
  expectRecipeWorked,
  loadLine,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startOnHosts,
  type Started,
} from './helpers.js';

describe('Puma: USR1 (phased restart), then wait for the old workers', () => {
  let fleet: Fleet;
  let base: string;
  let server: Started | undefined;

  beforeAll(async () => {
    ensurePackages(['puma']);
    base = mkdtempSync(join(tmpdir(), 'fivestep-recipe-puma-'));
    fleet = await Fleet.start(2, { distinctAddresses: true });
    await deployQuietly(fleet, base, 'puma', 'v1');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await fleet?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const port = await sharedPort(fleet);
    server = await startOnHosts(fleet, {
      name: 'puma',
      port,
      pidFile: '/srv/app/shared/puma.pid',
      command: (address) => onAddress(docBlock('puma start'), address, port),
    });
    const run = await rolloutUnderLoad(fleet, server, {
      base,
      app: 'puma',
      release: 'v2',
      inputs: { ...docInputs('puma rollout', port) },
    });
    console.log(loadLine('puma', run));
    expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
  }, 60_000);
});

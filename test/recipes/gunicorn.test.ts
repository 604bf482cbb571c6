// The gunicorn recipe of docs/app-servers.md, against Debian's gunicorn on two real SSH hosts: HUP to the
// master, then wait for every worker from before the HUP to exit; and the --preload trap, which the
// health check (health-expect: '{release}') catches.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { ensurePackages } from '../servers/system-packages.js';
import { runRollout } from '../rollout/helpers.js';
import {
  appArtifact,
  deployQuietly,
  docBlock,
  docInputs,
  expectRecipeWorked,
  expectTrapCaught,
  loadLine,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startOnHosts,
  type Started,
} from './helpers.js';

const PID_FILE = '/srv/app/shared/gunicorn.pid';

describe('gunicorn: HUP, then wait for the old workers', () => {
  let fleet: Fleet;
  let base: string;
  const running: Started[] = [];

  beforeAll(async () => {
    ensurePackages(['gunicorn']);
    base = mkdtempSync(join(tmpdir(), 'fivestep-recipe-gunicorn-'));
    fleet = await Fleet.start(2, { distinctAddresses: true });
    await deployQuietly(fleet, base, 'gunicorn', 'v1');
  }, 60_000);

  afterAll(async () => {
    for (const s of running) await s.stop();
    await fleet?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  async function start(change = (command: string) => command): Promise<{ server: Started; port: number }> {
    const port = await sharedPort(fleet);
    const server = await startOnHosts(fleet, {
      name: 'gunicorn',
      port,
      pidFile: PID_FILE,
      command: (address) => change(onAddress(docBlock('gunicorn start'), address, port)),
    });
    running.push(server);
    return { server, port };
  }

  test('v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const { server, port } = await start();
    try {
      const run = await rolloutUnderLoad(fleet, server, {
        base,
        app: 'gunicorn',
        release: 'v2',
        inputs: { ...docInputs('gunicorn rollout', port) },
      });
      console.log(loadLine('gunicorn', run));
      expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('trap --preload: new workers are forked with the module the master imported; the host is put back', async () => {
    const from = fleet.currentRelease(0);
    const { server, port } = await start((command) => command.replace(/^gunicorn /, 'gunicorn --preload '));
    try {
      const run = await runRollout(fleet, {
        artifact: appArtifact(base, 'gunicorn', 'v3'),
        'release-id': 'v3',
        ...docInputs('gunicorn rollout', port),
        'health-timeout': '2s',
      });
      expectTrapCaught(run, fleet, from, 'v3');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

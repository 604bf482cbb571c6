// The Starman recipe of docs/app-servers.md, against Debian's Starman on two real SSH hosts: HUP to the
// master, then wait for every worker from before the HUP to exit, behind haproxy with the doc's retry-on
// (a HUP can drop a connection a worker had just accepted; see the doc). And two traps the health check
// (health-expect: '{release}') catches: --preload-app, and a relative app path under `cd current`.
import { runRollout } from '../rollout/helpers.js';
import {
  appArtifact,
  docBlock,
  docInputs,
  expectRecipeWorked,
  expectTrapCaught,
  loadLine,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startBalancer,
  startOnHosts,
  type Started,
  recipeWorld,
} from './helpers.js';

const PID_FILE = '/srv/app/shared/starman.pid';

describe('Starman: HUP, then wait for the old workers', () => {
  const w = recipeWorld('starman', ['starman']);

  /** Starman on every host with `command` (the doc's start command unless changed), on a fresh port. */
  async function start(
    command = (address: string, port: number) => onAddress(docBlock('starman start'), address, port),
  ): Promise<{ server: Started; port: number }> {
    const port = await sharedPort(w.fleet);
    const server = await startOnHosts(w.fleet, {
      name: 'starman',
      port,
      pidFile: PID_FILE,
      command: (address) => command(address, port),
    });
    w.running.push(server);
    return { server, port };
  }

  test('behind haproxy, v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const { server, port } = await start();
    const balancer = await startBalancer(docBlock('starman haproxy'), server.urls);
    try {
      const run = await rolloutUnderLoad(w.fleet, server, {
        base: w.base,
        app: 'starman',
        release: 'v2',
        inputs: { ...docInputs('starman rollout', port) },
        loadUrls: [balancer.url],
      });
      console.log(loadLine('starman behind haproxy', run));
      expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
    } finally {
      await balancer.stop();
      await server.stop();
    }
  }, 60_000);

  test('trap --preload-app: HUP forks workers from the master, which still holds the old app; the host is put back', async () => {
    const from = w.fleet.currentRelease(0);
    const { server, port } = await start((address, p) =>
      onAddress(docBlock('starman start'), address, p).replace(/^starman /, 'starman --preload-app '),
    );
    try {
      const run = await runRollout(w.fleet, {
        artifact: appArtifact(w.base, 'starman', 'v3'),
        'release-id': 'v3',
        ...docInputs('starman rollout', port),
        'health-timeout': '2s',
      });
      expectTrapCaught(run, w.fleet, from, 'v3');
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('trap `cd current && starman app.psgi`: the master works in releases/<old>, and so do new workers; the host is put back', async () => {
    const from = w.fleet.currentRelease(0);
    const { server, port } = await start((address, p) => {
      const command = onAddress(docBlock('starman start'), address, p);
      if (!command.includes(' /srv/app/current/app.psgi')) throw new Error(`unexpected start command: ${command}`);
      return `cd /srv/app/current && ${command.replace(' /srv/app/current/app.psgi', ' app.psgi')}`;
    });
    try {
      const run = await runRollout(w.fleet, {
        artifact: appArtifact(w.base, 'starman', 'v4'),
        'release-id': 'v4',
        ...docInputs('starman rollout', port),
        'health-timeout': '2s',
      });
      expectTrapCaught(run, w.fleet, from, 'v4');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

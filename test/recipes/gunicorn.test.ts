// The gunicorn recipe of docs/app-servers.md, against Debian's gunicorn on two real SSH hosts: HUP to the
// master, then wait for every worker from before the HUP to exit; and the --preload trap, which the
// health check (health-expect: '{release}') catches.
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
  startOnHosts,
  type Started,
  recipeWorld,
} from './helpers.js';

const PID_FILE = '/srv/app/shared/gunicorn.pid';

describe('gunicorn: HUP, then wait for the old workers', () => {
  const w = recipeWorld('gunicorn', ['gunicorn']);

  async function start(change = (command: string) => command): Promise<{ server: Started; port: number }> {
    const port = await sharedPort(w.fleet);
    const server = await startOnHosts(w.fleet, {
      name: 'gunicorn',
      port,
      pidFile: PID_FILE,
      command: (address) => change(onAddress(docBlock('gunicorn start'), address, port)),
    });
    w.running.push(server);
    return { server, port };
  }

  test('v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const { server, port } = await start();
    try {
      const run = await rolloutUnderLoad(w.fleet, server, {
        base: w.base,
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
    const from = w.fleet.currentRelease(0);
    const { server, port } = await start((command) => command.replace(/^gunicorn /, 'gunicorn --preload '));
    try {
      const run = await runRollout(w.fleet, {
        artifact: appArtifact(w.base, 'gunicorn', 'v3'),
        'release-id': 'v3',
        ...docInputs('gunicorn rollout', port),
        'health-timeout': '2s',
      });
      expectTrapCaught(run, w.fleet, from, 'v3');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

// The Puma recipe of docs/app-servers.md, against Debian's Puma 5.6 on two real SSH hosts: cluster mode
// with the release's puma.rb (directory through current, queue_requests false), USR1 (a phased restart)
// to the master, then wait for every worker from before the USR1 to exit.
import {
  docBlock,
  docInputs,
  expectRecipeWorked,
  loadLine,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startOnHosts,
  recipeWorld,
} from './helpers.js';

describe('Puma: USR1 (phased restart), then wait for the old workers', () => {
  const w = recipeWorld('puma', ['puma']);

  test('v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const port = await sharedPort(w.fleet);
    const server = await startOnHosts(w.fleet, {
      name: 'puma',
      port,
      pidFile: '/srv/app/shared/puma.pid',
      command: (address) => onAddress(docBlock('puma start'), address, port),
    });
    w.running.push(server);
    const run = await rolloutUnderLoad(w.fleet, server, {
      base: w.base,
      app: 'puma',
      release: 'v2',
      inputs: { ...docInputs('puma rollout', port) },
    });
    console.log(loadLine('puma', run));
    expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
  }, 60_000);
});

// The unicorn recipe of docs/app-servers.md, against Debian's unicorn 6.0 on two real SSH hosts: USR2 (a new
// master, in working_directory through current), wait for it and its workers, QUIT the old master, wait
// for it to exit. The master pid changes by design: the old one must be gone and the new one alone.
import { existsSync } from 'node:fs';
import {
  alive,
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

const PID_FILE = '/srv/app/shared/unicorn.pid';

describe('unicorn: USR2, wait for the new master, QUIT the old one', () => {
  const w = recipeWorld('unicorn', ['unicorn']);

  test('v1 → v2 under load: success, no failed request, one new master (the old one gone), every worker answers v2', async () => {
    const port = await sharedPort(w.fleet);
    const server = await startOnHosts(w.fleet, {
      name: 'unicorn',
      port,
      pidFile: PID_FILE,
      command: (address) => onAddress(docBlock('unicorn start'), address, port),
    });
    w.running.push(server);
    const run = await rolloutUnderLoad(w.fleet, server, {
      base: w.base,
      app: 'unicorn',
      release: 'v2',
      inputs: { ...docInputs('unicorn rollout', port) },
    });
    console.log(loadLine('unicorn', run));
    expectRecipeWorked(run, 'v1', 'v2', { sameMaster: false });
    for (const [i, before] of run.mastersBefore.entries()) {
      expect(run.mastersAfter[i]).not.toBe(before);
      expect(alive(run.mastersAfter[i])).toBe(true);
      expect(alive(before)).toBe(false);
      expect(existsSync(w.fleet.path(i, `${PID_FILE}.oldbin`))).toBe(false);
    }
  }, 60_000);
});

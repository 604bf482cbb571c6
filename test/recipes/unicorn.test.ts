// The unicorn recipe of docs/app-servers.md, against Debian's unicorn 6.0 on two real SSH hosts: USR2 (a new
// master, in working_directory through current), wait for it and its workers, QUIT the old master, wait
// for it to exit. The master pid changes by design: the old one must be gone and the new one alone.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { ensurePackages } from '../servers/system-packages.js';
import {
  alive,
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

const PID_FILE = '/srv/app/shared/unicorn.pid';

describe('unicorn: USR2, wait for the new master, QUIT the old one', () => {
  let fleet: Fleet;
  let base: string;
  let server: Started | undefined;

  beforeAll(async () => {
    ensurePackages(['unicorn']);
    base = mkdtempSync(join(tmpdir(), 'fivestep-recipe-unicorn-'));
    fleet = await Fleet.start(2, { distinctAddresses: true });
    await deployQuietly(fleet, base, 'unicorn', 'v1');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await fleet?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('v1 → v2 under load: success, no failed request, one new master (the old one gone), every worker answers v2', async () => {
    const port = await sharedPort(fleet);
    server = await startOnHosts(fleet, {
      name: 'unicorn',
      port,
      pidFile: PID_FILE,
      command: (address) => onAddress(docBlock('unicorn start'), address, port),
    });
    const run = await rolloutUnderLoad(fleet, server, {
      base,
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
      expect(existsSync(fleet.path(i, `${PID_FILE}.oldbin`))).toBe(false);
    }
  }, 60_000);
});

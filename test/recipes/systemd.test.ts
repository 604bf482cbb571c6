// The systemd recipe of docs/app-servers.md. This machine has no systemd (its PID 1 is not systemd), so
// neither the unit nor `systemctl reload app` can run here. What can, does: the unit's ExecStart= command
// (gunicorn) is started on two real SSH hosts as systemd would start it (its pid is the unit's MAINPID),
// and the rollout's reload is the unit's ExecReload= line, run as systemd would run it for `systemctl
// reload app`: with $MAINPID set to that pid, and examples/systemd/reload-workers installed where the
// unit expects it (under /srv here: the test hosts have no writable /usr/local).
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { ensurePackages } from '../servers/system-packages.js';
import {
  REPO,
  deployQuietly,
  docBlock,
  docInputs,
  expectRecipeWorked,
  loadLine,
  mustOnHost,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startOnHosts,
  type Started,
} from './helpers.js';

const SCRIPT = '/usr/local/bin/reload-workers';
const SCRIPT_HERE = '/srv/app/shared/bin/reload-workers';
const MAINPID_FILE = '/srv/app/shared/app.mainpid';

/** The value of `key=` in the doc's unit (one line). */
function unitLine(key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(docBlock('systemd unit'));
  if (!m) throw new Error(`the doc's unit has no ${key}=`);
  return m[1];
}

describe('systemd: ExecReload= signals the master and waits (reload-workers)', () => {
  let fleet: Fleet;
  let base: string;
  let server: Started | undefined;

  beforeAll(async () => {
    ensurePackages(['gunicorn']);
    base = mkdtempSync(join(tmpdir(), 'fivestep-recipe-systemd-'));
    fleet = await Fleet.start(2, { distinctAddresses: true });
    await deployQuietly(fleet, base, 'gunicorn', 'v1');
    for (let i = 0; i < fleet.hosts.length; i++) {
      await mustOnHost(fleet, i, 'mkdir -p /srv/app/shared/bin');
      copyFileSync(join(REPO, 'examples', 'systemd', 'reload-workers'), fleet.path(i, SCRIPT_HERE));
      chmodSync(fleet.path(i, SCRIPT_HERE), 0o755);
    }
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await fleet?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('the doc: reload-command is `sudo systemctl reload app`, the unit is app.service and reloads with reload-workers', () => {
    expect(docInputs('systemd rollout', 8080)['reload-command'].trim()).toBe('sudo systemctl reload app');
    expect(docBlock('systemd unit')).toMatch(/^# \/etc\/systemd\/system\/app\.service$/m);
    expect(unitLine('ExecReload')).toBe(`${SCRIPT} HUP $MAINPID`);
  });

  test("v1 → v2 under load, reloading with the unit's ExecReload=: success, no failed request, same MAINPID, every worker answers v2", async () => {
    const port = await sharedPort(fleet);
    // systemd starts ExecStart= itself: the process is the unit's main process (exec keeps the pid written).
    server = await startOnHosts(fleet, {
      name: 'app',
      port,
      pidFile: MAINPID_FILE,
      command: (address) => `echo $$ > ${MAINPID_FILE}\nexec ${onAddress(unitLine('ExecStart'), address, port)}`,
    });
    const reload = [
      `MAINPID=$(cat ${MAINPID_FILE})`,
      'export MAINPID',
      unitLine('ExecReload').replace(SCRIPT, SCRIPT_HERE),
    ].join('\n');
    const { 'health-url': healthUrl, 'health-expect': healthExpect } = docInputs('systemd rollout', port);
    const run = await rolloutUnderLoad(fleet, server, {
      base,
      app: 'gunicorn',
      release: 'v2',
      inputs: { 'reload-command': reload, 'health-url': healthUrl, 'health-expect': healthExpect },
    });
    console.log(loadLine('systemd (gunicorn, ExecReload=reload-workers)', run));
    expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
  }, 60_000);
});

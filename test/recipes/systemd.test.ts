// The systemd recipe of docs/app-servers.md. This machine has no systemd (its PID 1 is not systemd), so
// neither the unit nor `systemctl reload app` can run here. What can, does: the unit's ExecStart= command
// (gunicorn) is started on two real SSH hosts as systemd would start it (its pid is the unit's MAINPID),
// and the rollout's reload is the unit's ExecReload= line, run as systemd would run it for `systemctl
// reload app`: with $MAINPID set to that pid, and examples/systemd/reload-workers installed where the
// unit expects it (under /srv here: the test hosts have no writable /usr/local).
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  REPO,
  docBlock,
  docInputs,
  expectRecipeWorked,
  loadLine,
  mustOnHost,
  onAddress,
  rolloutUnderLoad,
  sharedPort,
  startOnHosts,
  recipeWorld,
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
  const w = recipeWorld('systemd', ['gunicorn'], 'gunicorn');

  beforeAll(async () => {
    for (let i = 0; i < w.fleet.hosts.length; i++) {
      await mustOnHost(w.fleet, i, 'mkdir -p /srv/app/shared/bin');
      copyFileSync(join(REPO, 'examples', 'systemd', 'reload-workers'), w.fleet.path(i, SCRIPT_HERE));
      chmodSync(w.fleet.path(i, SCRIPT_HERE), 0o755);
    }
  });

  test('the doc: reload-command is `sudo systemctl reload app`, the unit is app.service and reloads with reload-workers', () => {
    expect(docInputs('systemd rollout', 8080)['reload-command'].trim()).toBe('sudo systemctl reload app');
    expect(docBlock('systemd unit')).toMatch(/^# \/etc\/systemd\/system\/app\.service$/m);
    expect(unitLine('ExecReload')).toBe(`${SCRIPT} HUP $MAINPID`);
  });

  test("v1 → v2 under load, reloading with the unit's ExecReload=: success, no failed request, same MAINPID, every worker answers v2", async () => {
    const port = await sharedPort(w.fleet);
    // systemd starts ExecStart= itself: the process is the unit's main process (exec keeps the pid written).
    const server = await startOnHosts(w.fleet, {
      name: 'app',
      port,
      pidFile: MAINPID_FILE,
      command: (address) => `echo $$ > ${MAINPID_FILE}\nexec ${onAddress(unitLine('ExecStart'), address, port)}`,
    });
    w.running.push(server);
    const reload = [
      `MAINPID=$(cat ${MAINPID_FILE})`,
      'export MAINPID',
      unitLine('ExecReload').replace(SCRIPT, SCRIPT_HERE),
    ].join('\n');
    const { 'health-url': healthUrl, 'health-expect': healthExpect } = docInputs('systemd rollout', port);
    const run = await rolloutUnderLoad(w.fleet, server, {
      base: w.base,
      app: 'gunicorn',
      release: 'v2',
      inputs: { 'reload-command': reload, 'health-url': healthUrl, 'health-expect': healthExpect },
    });
    console.log(loadLine('systemd (gunicorn, ExecReload=reload-workers)', run));
    expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
  }, 60_000);
});

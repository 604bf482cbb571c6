// Debian's Alertmanager (0.25) on a free loopback port (./child-server.ts) with a given configuration, its own
// storage directory and no clustering: a Prometheus started with `alertmanager: server.address` (./prometheus.ts)
// sends its alerts there (the production path of the rules `fivestep rules` writes). Ready when it says so.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild, type ChildServer } from './child-server.js';
import { ensurePackages } from './system-packages.js';

export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';
export const AMTOOL_BIN = '/usr/bin/amtool';

/** Alertmanager and amtool (Debian 12: 0.25). */
export function ensureAlertmanager(): void {
  ensurePackages(['prometheus-alertmanager']);
}

export interface AlertmanagerServer extends ChildServer {
  configPath: string;
}

/** Starts Alertmanager with `configText`; ready when /-/ready answers 200. */
export async function startAlertmanager(configText: string, timeoutMs = 20_000): Promise<AlertmanagerServer> {
  ensureAlertmanager();
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-am-'));
  const configPath = join(dir, 'alertmanager.yml');
  writeFileSync(configPath, configText);
  const server = await startChild({
    what: 'Alertmanager',
    bin: ALERTMANAGER_BIN,
    dir,
    args: (at) => [
      `--config.file=${configPath}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=${at.address}`,
      `--web.external-url=${at.url}`,
      // Empty: no cluster listener, so no gossip port to pick and no peers to wait for.
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    ready: async ({ url }) => (await fetch(`${url}/-/ready`)).ok,
    readyMeans: '/-/ready',
    timeoutMs,
  });
  return { ...server, configPath };
}

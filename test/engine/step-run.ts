// One host's step run for the engine's tests, as the rollout builds it, on a local-directory host
// (local-hosts.ts), with fixed ledger times so a command can be rebuilt exactly.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { deltaTar, prepareArtifact, type PreparedArtifact } from '../../src/artifact/prepare.js';
import { ReleaseHost } from '../../src/engine/host.js';
import type { LedgerLine, StepRun } from '../../src/engine/step-input.js';
import type { DeployLogEntry } from '../../src/release/commands.js';
import { DEPLOY, type LocalHosts } from './local-hosts.js';

/** An artifact from `files`, prepared as ssh-rollout prepares it (with a delta source when `delta`). */
export async function makeArtifact(
  tmp: string,
  name: string,
  files: Record<string, string>,
  delta: boolean,
): Promise<PreparedArtifact> {
  const dir = join(tmp, `artifact-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const [path, body] of Object.entries(files)) writeFileSync(join(dir, path), body);
  const workDir = join(tmp, `work-${name}`);
  return prepareArtifact({ input: 'artifact', path: dir, exclude: ['.git'], delta, workDir });
}

const TIME = '2026-12-07T10:00:00.000Z';

/** One host's step run, as the rollout builds it, with fixed ledger times so a command can be rebuilt exactly. */
export function stepRun(hosts: LocalHosts, a: PreparedArtifact, release: string, logger = new MemoryLogger()): StepRun {
  const host = new ReleaseHost(hosts.specs[0], {
    connector: hosts.connector(),
    credentials: { privateKey: '', hostKeys: { kind: 'insecure' } },
    deployPath: DEPLOY,
  });
  const line = (result: string): DeployLogEntry => ({
    time: TIME,
    action: 'rollout',
    release,
    previous: '',
    run: 'https://ci/runs/1',
    result,
  });
  const lines: Record<LedgerLine, DeployLogEntry[]> = {
    staged: [line('staged')],
    switched: [line('switched')],
    back: [line('failed')],
    record: [line('healthy')],
    bad: [],
    adopt: [],
  };
  return {
    host,
    log: logger,
    stopped: () => false,
    reconnectWithinMs: 0,
    packDelta: (files) => deltaTar(a.delta!, files),
    sentBytes: 0,
    switched: false,
    input: {
      settings: {
        deployPath: DEPLOY,
        sharedPaths: [{ path: 'logs', dir: true }],
        setupCommand: 'echo set up > setup-ran',
        reloadCommand: 'echo "$RELEASE_ID" >> ../../shared/reloads',
        healthCommand: '',
        healthUrl: '',
        healthExpect: '',
        healthTimeoutMs: 1000,
        keepReleases: 5,
        loadBalancer: null,
      },
      artifact: a,
      release,
      previous: '',
      target: '',
      ledger: (l) => lines[l],
      prune: [],
      badMarker: '',
      runUrl: 'https://ci/runs/1',
      token: 'tok',
      adoptId: '',
      delta: null,
    },
  };
}

// ssh-rollout entry: the runner shell around src/rollout/main.ts.
import '../../common/esm-shim.js';
import * as core from '@actions/core';
import { runAction, writeJobSummary } from '../../common/action.js';
import { sshRollout } from '../../rollout/main.js';
import { createConnector } from '../../ssh/connector.js';

// A cancelled job gets SIGINT, then SIGTERM: stop starting steps, put switched hosts back, release the locks.
const cancel = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    core.warning(`received ${sig}: stopping the rollout and putting switched hosts back`);
    cancel.abort();
  });
}

await runAction((inputs, logger) =>
  sshRollout(inputs, {
    connector: createConnector({ logger }),
    logger,
    mask: (s) => core.setSecret(s),
    signal: cancel.signal,
    writeSummary: writeJobSummary,
  }),
);

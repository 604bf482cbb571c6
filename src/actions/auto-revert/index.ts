// auto-revert entry: the runner shell around src/revert/main.ts.
import '../../common/esm-shim.js';
import * as core from '@actions/core';
import { runAction, writeJobSummary } from '../../common/action.js';
import { autoRevert } from '../../revert/main.js';
import { createConnector } from '../../ssh/connector.js';

await runAction((inputs, logger) =>
  autoRevert(inputs, {
    connector: createConnector({ logger }),
    logger,
    mask: (s) => core.setSecret(s),
    writeSummary: writeJobSummary,
  }),
);

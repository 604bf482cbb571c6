// test-gate entry: runner inputs and context in, outputs and job summary out; the logic is in src/gate.
import '../../common/esm-shim.js';
import * as core from '@actions/core';
import { runAction } from '../../common/action.js';
import { readContext } from '../../github/context.js';
import { runGate } from '../../gate/gate.js';
import { readSettings } from '../../gate/settings.js';

await runAction((inputs, logger) =>
  runGate({
    settings: readSettings(inputs),
    context: readContext(),
    logger,
    onOutput: (chunk) => process.stdout.write(chunk),
    writeSummary: async (md) => {
      if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(md).write();
    },
  }),
);

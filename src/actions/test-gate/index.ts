// test-gate entry: runner inputs and context in, outputs and job summary out; the logic is in src/gate.
import '../../common/esm-shim.js';
import { runAction, writeJobSummary } from '../../common/action.js';
import { readContext } from '../../github/context.js';
import { runGate } from '../../gate/gate.js';
import { readSettings } from '../../gate/settings.js';

await runAction((inputs, logger) =>
  runGate({
    settings: readSettings(inputs),
    context: readContext(),
    logger,
    onOutput: (chunk) => process.stdout.write(chunk),
    writeSummary: writeJobSummary,
  }),
);

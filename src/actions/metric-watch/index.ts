import '../../common/esm-shim.js';
import * as core from '@actions/core';
import { runAction, writeJobSummary } from '../../common/action.js';
import { metricWatchAction } from '../../metrics/action.js';

await runAction(async (inputs, logger) => {
  const result = await metricWatchAction(inputs, logger, { mask: (s) => core.setSecret(s) });
  await writeJobSummary(result.summary);
  return result;
});

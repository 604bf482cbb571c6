import '../../common/esm-shim.js';
import * as core from '@actions/core';
import { runAction } from '../../common/action.js';
import { metricWatchAction } from '../../metrics/action.js';

await runAction(async (inputs, logger) => {
  const result = await metricWatchAction(inputs, logger, { mask: (s) => core.setSecret(s) });
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(result.summary).write();
  return result;
});

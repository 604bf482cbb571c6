// The thin runner shell shared by every entry: inputs from the runner, outputs and failure back to it.
import * as core from '@actions/core';
import { InputError, type InputSource } from './inputs.js';
import { coreLogger } from './core-logger.js';
import type { Logger } from './logger.js';
import { logText } from './text.js';

export type Outputs = Record<string, string | number | boolean | object>;

export interface ActionResult {
  outputs: Outputs;
  /** When set, the step fails with this message (after outputs are written). */
  failure?: string;
}

/** Reads an input as the runner passes it. Secrets are masked as soon as they are read. */
export const runnerInputs: InputSource = (name) => core.getInput(name);

export function setOutputs(outputs: Outputs): void {
  for (const [k, v] of Object.entries(outputs)) core.setOutput(k, typeof v === 'string' ? v : JSON.stringify(v));
}

/** Runs an action's logic; an InputError or any other throw fails the step with a clear message. */
export async function runAction(main: (inputs: InputSource, logger: Logger) => Promise<ActionResult>): Promise<void> {
  try {
    const result = await main(runnerInputs, coreLogger);
    setOutputs(result.outputs);
    // A failure may quote a host's output or a test name: made inert as every log line is.
    if (result.failure) core.setFailed(logText(result.failure));
  } catch (err) {
    if (err instanceof InputError) core.setFailed(logText(err.message));
    else core.setFailed(logText(err instanceof Error ? (err.stack ?? err.message) : String(err)));
  }
}

/** Appends Markdown to the job summary; outside the runner (no GITHUB_STEP_SUMMARY) it does nothing. */
export async function writeJobSummary(markdown: string): Promise<void> {
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
}

// What every step of the release engine leaves behind: one timed step record, and on failure one
// kind of error naming the step. Rollout and revert reports are built from these records.
import { lastLines } from '../common/text.js';

export type StepName =
  | 'connect'
  | 'lock'
  | 'state'
  | 'compare'
  | 'download'
  | 'upload'
  | 'unpack'
  | 'link'
  | 'setup'
  | 'drain'
  | 'switch'
  | 'reload'
  | 'health'
  | 'rotation'
  | 'record'
  | 'mark-bad'
  | 'revert'
  | 'adopt';

export interface StepRecord {
  name: StepName;
  start: number;
  end: number;
  ok: boolean;
  detail?: string;
}

export class StepError extends Error {
  constructor(
    readonly step: StepName,
    /** The remote exit code, or -1 when the step failed on the runner (connection, health-url). */
    readonly code: number,
    detail: string,
  ) {
    super(`${step} failed${code >= 0 ? ` (exit ${code})` : ''}: ${detail}`);
    this.name = 'StepError';
  }
}

/**
 * A put-back that did switch `current` back, but whose reload then failed: the host is on the
 * release it went back to, not known to serve it.
 */
export class ReloadFailedError extends StepError {
  constructor(code: number, detail: string) {
    super('revert', code, detail);
    // Says what happened on its own ("switched back to …, but …"): no "revert failed" before it.
    this.message = detail;
    this.name = 'ReloadFailedError';
  }
}

/**
 * The last lines of a command's output (untrusted: one printable line), what a person needs to see in a one-line
 * reason.
 */
export function outputTail(stderr: string, stdout: string, code: number): string {
  return lastLines(stderr) || lastLines(stdout) || `exit ${code}`;
}

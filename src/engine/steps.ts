// What every verb of the release engine leaves behind: one timed step record, and on failure one
// kind of error naming the step. Rollout and revert reports are built from these records.

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
  | 'discard';

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

/** The last lines of a command's output: what a person needs to see in a one-line reason. */
export function outputTail(stderr: string, stdout: string, code: number): string {
  const text = stderr.trim() || stdout.trim() || `exit ${code}`;
  return text.split('\n').slice(-3).join(' | ');
}

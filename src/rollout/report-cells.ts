// Table cells and inline text shared by the job summary's parts (header, wave table, host lists, traffic table):
// untrusted text made safe for Markdown, failure reasons cut short, step times.
import { formatDuration } from '../common/format.js';
import { mdText } from '../common/markdown.js';
import type { HostRecord, StepName } from './record.js';

/** A failure reason in the summary is cut to this many characters (the JSON report keeps it whole). */
export const REASON_MAX = 300;

/** Untrusted text (a host's output, a verdict, a name) in the summary: one line, no markup. */
export const cell = (text: string): string => mdText(text, Infinity);

/** A failure reason in the summary: as `cell`, cut to REASON_MAX characters. */
export const reasonText = (reason: string): string => mdText(reason, REASON_MAX);

/** A time in a table cell: '–' where none was measured. */
export const timeCell = (ms: number | undefined): string => (ms === undefined ? '–' : formatDuration(ms));

/** The time a host spent in the named steps, together; undefined if it ran none of them. */
export function stepMs(host: HostRecord, ...names: StepName[]): number | undefined {
  const steps = host.steps.filter((s) => names.includes(s.name));
  if (steps.length === 0) return undefined;
  return steps.reduce((sum, s) => sum + (s.end - s.start), 0);
}

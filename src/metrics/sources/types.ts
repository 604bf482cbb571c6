// One interface over every metric source, so the watch loop does not care where numbers come from.
import type { Rule } from '../types.js';

/** A reading: a number, or why there is none (the rule's no-data policy decides what that means). */
export type Reading = { value: number } | { value: null; reason: string };

/** '' is the key of a query that is not per host. */
export type Readings = Map<string, Reading>;

export interface SampleRequest {
  rule: Rule;
  /** Hosts to read, each substituted for `{host}`; empty for a single, not-per-host query. */
  hosts: string[];
  /** The tick's instant (ms since epoch). */
  at: number;
  signal?: AbortSignal;
}

export interface HistoryRequest extends SampleRequest {
  start: number;
  end: number;
  stepMs: number;
}

export interface MetricSource {
  /** Reads every host of the request at one instant. Throws QueryError when the query cannot work. */
  sample(req: SampleRequest): Promise<Readings>;
  /** Values in [start, end] per host, for `baseline: before:<duration>`. Only sources with history have it. */
  history?(req: HistoryRequest): Promise<Map<string, number[]>>;
  /** Takes a first reading that later ones are measured against (counter rates). */
  prime?(req: SampleRequest): Promise<void>;
  /**
   * A clock of the source's own (replay: the recording's, whose `sleep` only moves time on). The watch uses
   * it unless its options give one.
   */
  clock?: { now(): number; sleep(ms: number): Promise<void> };
  /** What a recording knows (replay): the watch takes these where the settings leave them unset. */
  recorded?: { hosts: string[]; canaryHosts: string[]; durationMs: number; intervalMs: number };
}

/** A query that cannot work however often it is retried: bad syntax, several series, wrong shape. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}

export function expand(template: string, host: string): string {
  return template.replaceAll('{host}', host);
}

// The field readers every report reader uses (metric-watch's record.ts, ssh-rollout's record.ts). Report
// files may come from other versions, forks or hand edits: nothing in them is trusted, each field is read
// only when it holds what its writer writes, and a reader notes what it had to skip.

export type JsonObject = Record<string, unknown>;

/** A JSON object (a list is not one). */
export const isJsonObject = (x: unknown): x is JsonObject => x !== null && typeof x === 'object' && !Array.isArray(x);

/** A text field: a string as it is, a number as its digits (an older writer's `release: 7`), else ''. */
export const text = (x: unknown): string => (typeof x === 'string' ? x : typeof x === 'number' ? String(x) : '');

export const positiveNumber = (x: unknown): number | undefined =>
  typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : undefined;

/** The non-empty strings of a list; undefined when it is not a list (the reader's default then applies). */
export const stringList = (x: unknown): string[] | undefined =>
  Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string' && s !== '') : undefined;

/** A report's tag: ssh-rollout writes `tool`, metric-watch `kind`. */
export const reportTag = (doc: JsonObject): string => text(doc.tool) || text(doc.kind);

/** Below this an epoch number is seconds (up to the year 5138), from it milliseconds (from March 1973 on). */
const SECONDS_BELOW = 1e11;
/** The farthest instant a Date holds: past it, printing the time would throw. */
const LATEST_MS = 8.64e15;

/**
 * A time field as epoch ms, or undefined when it holds no time. The one rule every report reader follows:
 * - a string is what Date.parse reads (ISO 8601, as the writers write `startedAt` and breach times);
 * - a number is epoch seconds below 1e11, epoch ms from 1e11 (the writers write ms; Prometheus and most
 *   exports write seconds, and for any instant after March 1973 the magnitude tells which);
 * - a negative number, or one past the last instant a Date holds, is no time.
 */
export function readTime(x: unknown): number | undefined {
  if (typeof x === 'number' && Number.isFinite(x) && x >= 0) {
    if (x < SECONDS_BELOW) return Math.round(x * 1000);
    return x <= LATEST_MS ? x : undefined;
  }
  if (typeof x === 'string' && x.trim() !== '') {
    const t = Date.parse(x);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

/** A value quoted in a note, cut short: a hostile file's field may be megabytes long. */
export function shown(x: unknown, max = 80): string {
  const json = JSON.stringify(x) ?? String(x);
  return json.length > max ? `${json.slice(0, max)}…` : json;
}

/** At most this many notes a list: a hostile file may hold millions of bad entries, and the first say why. */
export const MAX_NOTES = 20;

/** What a reader had to skip, in file order, the first MAX_NOTES kept and the rest counted. */
export class NoteList {
  private readonly kept: string[] = [];
  private dropped = 0;

  add(note: string): void {
    if (this.kept.length < MAX_NOTES) this.kept.push(note);
    else this.dropped++;
  }

  list(): string[] {
    return this.dropped > 0 ? [...this.kept, `… and ${this.dropped} more`] : [...this.kept];
  }
}

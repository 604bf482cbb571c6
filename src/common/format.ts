// Figures as people read them, in one place for logs, summaries and error messages.

/** `512 B`, `1.5 MiB`, `2.0 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * A time something took: `850 ms` below a second, then seconds with three significant figures up to
 * 10 s (`1.23 s`), one decimal above (`12.3 s`, `125.0 s`).
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/**
 * A configured duration (an interval, a window, a timeout) as the inputs take it, exact: `30s`, `0.25s`,
 * so a reader can copy it back into a workflow.
 */
export function formatDurationInput(ms: number): string {
  return `${ms / 1000}s`;
}

/** `1 host`, `3 hosts`: a count and a noun that takes an `s` in the plural. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Up to this many hosts a summary or an issue names each host; above it, hosts are grouped and counted. */
export const SMALL_FLEET = 50;

/** Host names for a sentence: all of them up to `max`, else the first few and how many more (`where` the rest are). */
export function hostList(hosts: readonly string[], where: string, max = SMALL_FLEET): string {
  if (hosts.length <= max) return hosts.join(', ');
  return `${hosts.slice(0, 5).join(', ')} and ${hosts.length - 5} more (${where})`;
}

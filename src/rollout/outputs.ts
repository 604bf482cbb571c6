// The action's outputs after a rollout, and each wave's hosts counted by outcome (for the log line of a running
// rollout and for the summary's wave table and chart).
import type { HostOutcome, HostRecord, RolloutReport } from './record.js';

export interface RolloutOutputs {
  result: string;
  'release-id': string;
  'previous-releases': Record<string, string>;
  'updated-hosts': string[];
  'failed-hosts': { host: string; reason: string }[];
}

export function rolloutOutputs(report: RolloutReport): RolloutOutputs {
  const previous: Record<string, string> = {};
  for (const h of report.hosts) if (h.previous) previous[h.host] = h.previous;
  return {
    result: report.result,
    'release-id': report.release,
    'previous-releases': previous,
    'updated-hosts':
      report.result === 'success' ? report.hosts.filter((h) => h.outcome === 'updated').map((h) => h.host) : [],
    'failed-hosts': report.hosts
      .filter((h) => h.outcome === 'failed' || h.outcome === 'revert-failed')
      .map((h) => ({ host: h.host, reason: h.reason ?? h.outcome })),
  };
}

/** One wave's hosts by outcome. `failed` and `revertFailed` are disjoint; `notStarted` is pending or skipped. */
export interface WaveCounts {
  wave: number;
  hosts: number;
  updated: number;
  failed: number;
  /** Could not be put back: they may still run the new release. */
  revertFailed: number;
  /** Put back because the rollout stopped (another host failed, a metric watch, a signal). */
  reverted: number;
  notStarted: number;
}

export const emptyWaveCounts = (wave: number): WaveCounts => ({
  wave,
  hosts: 0,
  updated: 0,
  failed: 0,
  revertFailed: 0,
  reverted: 0,
  notStarted: 0,
});

const COUNT_OF: Record<HostOutcome, Exclude<keyof WaveCounts, 'wave' | 'hosts'>> = {
  updated: 'updated',
  failed: 'failed',
  'revert-failed': 'revertFailed',
  reverted: 'reverted',
  skipped: 'notStarted',
  pending: 'notStarted',
};

/** Adds one host, by its outcome, to `counts`. */
export function countHost(counts: WaveCounts, host: HostRecord): void {
  counts.hosts++;
  counts[COUNT_OF[host.outcome]]++;
}

/**
 * Per-outcome counts of the hosts of wave `index` (1-based, as HostRecord.wave); takes only the host records, so a
 * running rollout can pass its own.
 */
export function waveCounts(report: Pick<RolloutReport, 'hosts'>, index: number): WaveCounts {
  const counts = emptyWaveCounts(index);
  for (const h of report.hosts) if (h.wave === index) countHost(counts, h);
  return counts;
}

/** The log's one line for a wave: `250 host(s): 249 updated, 1 failed` (outcomes with no host left out). */
export function waveCountLine(c: WaveCounts): string {
  const parts: [number, string][] = [
    [c.updated, 'updated'],
    [c.failed, 'failed'],
    [c.revertFailed, 'NOT put back'],
    [c.reverted, 'put back'],
    [c.notStarted, 'not started'],
  ];
  return `${c.hosts} host(s): ${
    parts
      .filter(([n]) => n > 0)
      .map(([n, w]) => `${n} ${w}`)
      .join(', ') || 'none'
  }`;
}

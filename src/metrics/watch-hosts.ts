// Which hosts a watch reads: the canaries, the baseline hosts they are compared with, and the names that
// match one to another (a canary given as `deploy@web1:22` is the metric host `web1:9100`).
import type { Logger } from '../common/logger.js';
import type { Rule, WatchSettings } from './types.js';

/** `web1`, `web1:9100`, `deploy@web1:22`, `[::1]:22` → the host name, for matching canaries to metric hosts. */
export function hostName(host: string): string {
  let h = host.trim().replace(/^[a-z]+:\/\//i, '');
  h = h.slice(h.lastIndexOf('@') + 1);
  const v6 = /^\[([^\]]+)\]/.exec(h);
  if (v6) return v6[1];
  return h.split(/[:/]/)[0];
}

/** A metric host is a canary when it equals a canary entry or has the same host name (ports may differ). */
export function matchHosts(all: readonly string[], wanted: readonly string[]): string[] {
  const exact = new Set(wanted);
  const names = new Set(wanted.map(hostName));
  return all.filter((h) => exact.has(h) || names.has(hostName(h)));
}

/** Whether a rule reads each host on its own (its URL or query names `{host}`), or once for all. */
export function usesHost(settings: WatchSettings, rule: Rule): boolean {
  return settings.url.includes('{host}') || rule.query.includes('{host}');
}

export interface HostSets {
  all: string[];
  canary: string[];
  baseline: string[];
  judged: string[];
}

/** The hosts the options name, else the settings'; see WatchOptions for each. */
export interface HostChoice {
  canaryHosts?: string[];
  hosts?: string[];
  baselineHosts?: string[];
}

export function resolveHosts(
  settings: WatchSettings,
  options: HostChoice,
  logger: Logger,
  comparesHosts: boolean,
): HostSets {
  const canaryWanted = options.canaryHosts ?? settings.canaryHosts;
  const all = [...(settings.hosts.length > 0 ? settings.hosts : (options.hosts ?? []))];
  for (const c of canaryWanted) if (matchHosts(all, [c]).length === 0) all.push(c);
  const canary = matchHosts(all, canaryWanted);
  const baseline = options.baselineHosts
    ? matchHosts(all, options.baselineHosts)
    : all.filter((h) => !canary.includes(h));
  if (comparesHosts && canary.length === 0) {
    throw new Error("baseline 'hosts' needs canary hosts (canary-hosts, or the wave's hosts in ssh-rollout)");
  }
  if (comparesHosts && baseline.length === 0) {
    logger.warning(
      'baseline hosts: every host is a canary, so relative bounds are skipped and only absolute bounds apply',
    );
  }
  return { all, canary, baseline: comparesHosts ? baseline : [], judged: canary.length > 0 ? canary : all };
}

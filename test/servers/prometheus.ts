// Debian's Prometheus on a free port (./child-server.ts) with its own configuration and tmp storage: the one way the
// tests start one. As asked: scraping targets (job `app`), evaluating rule files or a rule file's text, sending
// alerts to an Alertmanager, reloadable over HTTP (--web.enable-lifecycle); scraping and evaluating every second
// unless told otherwise. Ready when it says so, and when what the options make it for is there: a sample of the
// ready query (the first one comes ~6 s after start, NOTES.md), the rule text's groups, an active Alertmanager.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startChild, type ChildAddress, type ChildServer } from './child-server.js';
import { ensurePackages } from './system-packages.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface PrometheusOptions {
  /** host:port targets scraped as job `app` (none: nothing is scraped). */
  targets?: string[];
  /** Rule files (paths or globs, as `rule_files` takes them) to evaluate. */
  ruleFiles?: string[];
  /** A rule file's text, written beside the configuration and evaluated too; ready once its groups are loaded. */
  rules?: string;
  /** host:port of an Alertmanager to send alerts to; ready once it is among the active ones. */
  alertmanager?: string;
  /** --web.enable-lifecycle: POST /-/reload rereads the configuration and the rule files. */
  lifecycle?: boolean;
  /** The host to listen on (default 127.0.0.1). */
  host?: string;
  /** Default 1s. */
  scrapeInterval?: string;
  /** Default the scrape interval. */
  evaluationInterval?: string;
  /** A query that must have a sample before the server counts as ready (default `up` when there are targets). */
  readyQuery?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

/** An instant query's sample. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert as /api/v1/alerts lists it. */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

/** A rule as /api/v1/rules lists it (the fields the tests read). */
export interface LoadedRule {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  /** Alerting rules: inactive, pending or firing, and their active alerts. */
  state?: 'inactive' | 'pending' | 'firing';
  alerts?: { labels: Record<string, string>; state: string; activeAt: string; value: string }[];
}

/** A rule group as /api/v1/rules lists it. */
export interface LoadedGroup {
  name: string;
  file: string;
  rules: LoadedRule[];
}

export interface PrometheusServer extends ChildServer {
  /** Runs an instant query; the vector's samples. */
  query(promql: string): Promise<Sample[]>;
  /** The active (pending or firing) alerts. */
  alerts(): Promise<ActiveAlert[]>;
  /** The rule groups loaded now, with each rule's last evaluation. */
  groups(): Promise<LoadedGroup[]>;
  /** `prometheus_config_last_reload_successful` from its own /metrics: false after a refused reload. */
  lastReloadSuccessful(): Promise<boolean>;
}

async function api<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
  return body.data;
}

const query = async (url: string, promql: string) =>
  (await api<{ result: Sample[] }>(url, `/api/v1/query?query=${encodeURIComponent(promql)}`)).result;
const groups = async (url: string) => (await api<{ groups: LoadedGroup[] }>(url, '/api/v1/rules')).groups;

/** Starts Prometheus as `options` say; resolves once it is ready for them. */
export function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer>;
/** Starts Prometheus scraping `targets` (host:port) each second; resolves once `readyQuery` has a sample. */
export function startPrometheus(targets: string[], readyQuery?: string, timeoutMs?: number): Promise<PrometheusServer>;
export async function startPrometheus(
  first: PrometheusOptions | string[],
  readyQuery?: string,
  timeoutMs?: number,
): Promise<PrometheusServer> {
  const o: PrometheusOptions = Array.isArray(first) ? { targets: first, readyQuery, timeoutMs } : first;
  ensurePackages(['prometheus']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-prom-'));
  const ruleFiles = [...(o.ruleFiles ?? [])];
  if (o.rules !== undefined) {
    ruleFiles.push(join(dir, 'rules.yml'));
    writeFileSync(join(dir, 'rules.yml'), o.rules);
  }
  const scrapeInterval = o.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: scrapeInterval, evaluation_interval: o.evaluationInterval ?? scrapeInterval },
    rule_files: ruleFiles,
    ...(o.alertmanager ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [o.alertmanager] }] }] } } : {}),
    scrape_configs: o.targets ? [{ job_name: 'app', static_configs: [{ targets: o.targets }] }] : [],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const sampleOf = o.readyQuery ?? (o.targets?.length ? 'up' : undefined);
  const readyMeans = [
    '/-/ready',
    ...(sampleOf ? [`a sample of '${sampleOf}'`] : []),
    ...(o.rules !== undefined ? ['its rule groups loaded'] : []),
    ...(o.alertmanager ? [`Alertmanager ${o.alertmanager} active`] : []),
  ].join(', ');
  const ready = async ({ url }: ChildAddress) => {
    if (!(await fetch(`${url}/-/ready`)).ok) return false;
    if (sampleOf && (await query(url, sampleOf)).length === 0) return false;
    if (o.rules !== undefined && (await groups(url)).length === 0) return false;
    if (!o.alertmanager) return true;
    const ams = await api<{ activeAlertmanagers: unknown[] }>(url, '/api/v1/alertmanagers');
    return ams.activeAlertmanagers.length > 0;
  };
  const server = await startChild({
    what: 'Prometheus',
    bin: PROMETHEUS_BIN,
    dir,
    host: o.host,
    args: (at) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${at.address}`,
      ...(o.lifecycle ? ['--web.enable-lifecycle'] : []),
      '--log.level=warn',
    ],
    ready,
    readyMeans,
    timeoutMs: o.timeoutMs ?? 30_000,
  });
  return {
    ...server,
    query: (promql) => query(server.url, promql),
    alerts: async () => (await api<{ alerts: ActiveAlert[] }>(server.url, '/api/v1/alerts')).alerts,
    groups: () => groups(server.url),
    async lastReloadSuccessful() {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const m = /^prometheus_config_last_reload_successful (\S+)$/m.exec(text);
      if (!m) throw new Error('no prometheus_config_last_reload_successful in /metrics');
      return Number(m[1]) === 1;
    },
  };
}

/**
 * Polls until `count_over_time(<series>[window])` holds at least `points` samples for each of at least `seriesCount`
 * series (history for before:, or a full rate window), or `timeoutMs`.
 */
export async function waitForHistory(
  prom: PrometheusServer,
  series: string,
  points: number,
  window = '1m',
  timeoutMs = 15_000,
  seriesCount = 1,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = (await prom.query(`count_over_time(${series}[${window}])`)).map((r) => Number(r.value[1]));
    if ((counts.length >= seriesCount && Math.min(...counts) >= points) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The host side of auto-revert, on the release engine's verbs: one connection per host, up to
// max-parallel at once; per host read state and ledger → plan (pure) → put back, mark bad, health, record.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import type { HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { mapLimit } from '../common/concurrency.js';
import { ReleaseHost } from '../engine/host.js';
import { ReloadFailedError, type StepRecord } from '../engine/steps.js';
import type { DeployLogEntry, ReleaseEnv } from '../release/commands.js';
import type { HealthCheck } from '../release/health.js';
import type { SshSettings } from '../release/ssh-settings.js';
import type { Connector } from '../ssh/types.js';
import { planHost, type HostPlan, type HostRevertOutcome, type PlanOptions } from './plan.js';

export type { HostRevertOutcome } from './plan.js';

export interface HostRevertRecord {
  /** `host:port`. */
  host: string;
  outcome: HostRevertOutcome;
  /** `current` when we looked ('' when unknown or none). */
  from: string;
  /** The release switched to (reverted hosts only). */
  to: string;
  /** The bad release for this host ('' when none is known). */
  bad: string;
  /** Whether this run wrote the bad marker. */
  markedBad: boolean;
  /**
   * Whether the bad release ever reached this host (see HostPlan.reached); undefined when its state
   * could not be read, so nobody can tell.
   */
  reached?: boolean;
  reason: string;
  /** Milliseconds from the start of the revert until this host was healthy on `to`. */
  healthyAfterMs?: number;
  /**
   * A host left alone that was out of rotation on the balancer: whether its health check passed (it goes
   * back in rotation only then). Undefined when not checked.
   */
  healthy?: boolean;
  steps: StepRecord[];
}

export interface HostsRevertReport {
  startedAt: string;
  finishedAt: string;
  /** Start of the revert → last reverted host healthy (undefined when no host was reverted). */
  timeToHealthyMs?: number;
  hosts: HostRevertRecord[];
}

export interface HostsRevertDeps {
  connector: Connector;
  health: HealthCheck;
  logger: Logger;
  runUrl: string;
  reason: string;
  now?: () => number;
  /** `{port}` in health-url: the port of the host's balancer server. */
  appPort?: (host: string) => number | undefined;
  /** Hosts the revert leaves alone whose health is checked all the same (out of rotation: back only if healthy). */
  checkHealthOf?: (host: string) => boolean;
}

type HostsSettings = Pick<SshSettings, 'hosts' | 'credentials' | 'deployPath' | 'maxParallel' | 'reloadCommand' | 'healthCommand' | 'healthUrl'>;

export async function revertHosts(settings: HostsSettings, options: PlanOptions, deps: HostsRevertDeps): Promise<HostsRevertReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const token = randomBytes(12).toString('hex');
  const hosts = await mapLimit(settings.hosts, settings.maxParallel, (spec) => revertHost(spec, { settings, options, deps, token, now, started }));
  const finished = now();
  const healthy = hosts.filter((h) => h.healthyAfterMs !== undefined).map((h) => h.healthyAfterMs!);
  const report: HostsRevertReport = { startedAt: new Date(started).toISOString(), finishedAt: new Date(finished).toISOString(), hosts };
  if (healthy.length) {
    report.timeToHealthyMs = Math.max(...healthy);
    deps.logger.info(`Time from start to the last reverted host healthy: ${(report.timeToHealthyMs / 1000).toFixed(2)} s (${healthy.length} host(s))`);
  }
  return report;
}

interface RevertContext {
  settings: HostsSettings;
  options: PlanOptions;
  deps: HostsRevertDeps;
  token: string;
  now: () => number;
  started: number;
}

async function revertHost(spec: HostSpec, c: RevertContext): Promise<HostRevertRecord> {
  const host = new ReleaseHost(spec, { connector: c.deps.connector, credentials: c.settings.credentials, deployPath: c.settings.deployPath, now: c.now });
  const rec: HostRevertRecord = { host: host.id, outcome: 'failed', from: '', to: '', bad: '', markedBad: false, reason: '', steps: host.steps };
  try {
    await host.connect();
    // The lock is taken so a concurrent rollout notices us, but never waited for: putting a host back
    // must not wait on a rollout that may be dead.
    const lock = await host.tryLock(c.deps.runUrl || 'fivestep auto-revert', c.token);
    if (lock.kind === 'held') c.deps.logger.warning(`${host.id}: deploy lock held by ${lock.holder} (last heartbeat ${lock.ageSec}s ago); reverting anyway`);
    const plan = planHost(await host.readState(), c.options);
    rec.from = plan.current;
    rec.bad = plan.bad;
    rec.reached = plan.reached;
    await (plan.action === 'switch' ? switchBack(host, plan, rec, c) : leaveAlone(host, plan, rec, c));
  } catch (err) {
    rec.outcome = 'failed';
    rec.reason = errorMessage(err);
    c.deps.logger.error(`${host.id}: ${rec.reason}`);
  } finally {
    await host.unlock().catch(() => undefined);
    await host.close();
  }
  return rec;
}

function entry(c: RevertContext, release: string, previous: string, result: string, reason?: string): DeployLogEntry {
  return { time: new Date(c.now()).toISOString(), action: 'revert', release, previous, run: c.deps.runUrl, result, ...(reason ? { reason: reason.slice(0, 1000) } : {}) };
}

async function markBad(host: ReleaseHost, bad: string, rec: HostRevertRecord, c: RevertContext): Promise<void> {
  const marker = `auto-revert ${new Date(c.now()).toISOString()} ${c.deps.runUrl}${c.deps.reason ? `: ${c.deps.reason}` : ''}`.slice(0, 2000);
  await host.markBad(bad, marker, entry(c, bad, '', 'bad', c.deps.reason));
  rec.markedBad = true;
}

/** Not on the bad release (or nothing to go back to): the bad release is still marked, so no later revert lands on it. */
async function leaveAlone(host: ReleaseHost, plan: HostPlan, rec: HostRevertRecord, c: RevertContext): Promise<void> {
  if (plan.markBad) await markBad(host, plan.bad, rec, c);
  rec.outcome = plan.action === 'no-good-release' ? 'no-good-release' : 'nothing-to-do';
  rec.reason = plan.why;
  if (rec.outcome === 'nothing-to-do' && plan.current && c.deps.checkHealthOf?.(host.id)) {
    const env: ReleaseEnv = { deployPath: c.settings.deployPath, releaseId: plan.current, previousReleaseId: '' };
    rec.healthy = await host.health(c.deps.health, env, c.deps.appPort?.(host.id)).then(
      () => true,
      (err: unknown) => {
        c.deps.logger.warning(`${host.id}: out of rotation and not healthy on ${plan.current}: ${errorMessage(err)}`);
        return false;
      },
    );
  }
  const log = plan.action === 'no-good-release' ? c.deps.logger.error.bind(c.deps.logger) : c.deps.logger.info.bind(c.deps.logger);
  log(`${host.id}: ${plan.action === 'no-good-release' ? 'NOT reverted, left as it is: ' : 'nothing to do: '}${plan.why}${rec.markedBad ? `; marked ${plan.bad} bad` : ''}`);
}

/** The same put-back as a failed rollout's (switch, reload), then the bad marker, health, and the ledger. */
async function switchBack(host: ReleaseHost, plan: HostPlan & { action: 'switch' }, rec: HostRevertRecord, c: RevertContext): Promise<void> {
  const { settings } = c;
  const env: ReleaseEnv = { deployPath: settings.deployPath, releaseId: plan.to, previousReleaseId: plan.bad };
  let healthy = '';
  let unhealthy = '';
  /** The switch back happened and only its reload failed (the error says so itself). */
  let reloadFailed = false;
  try {
    await host.putBack(plan.to, entry(c, plan.to, plan.bad, 'switched'), settings.reloadCommand ? { command: settings.reloadCommand, env } : null, 0);
    rec.to = plan.to;
    if (plan.markBad) await markBad(host, plan.bad, rec, c);
    healthy = await host.health(c.deps.health, env, c.deps.appPort?.(host.id));
    rec.healthyAfterMs = c.now() - c.started;
  } catch (err) {
    unhealthy = errorMessage(err);
    // The switch back happened and only the reload after it failed: say exactly that, and still mark the bad release.
    if (err instanceof ReloadFailedError) {
      reloadFailed = true;
      rec.to = plan.to;
      if (plan.markBad) await markBad(host, plan.bad, rec, c).catch(() => undefined);
    }
  }
  if (!rec.to) throw new Error(unhealthy);
  // The ledger records the switch either way: it happened, and the next run must see it.
  await host.record([entry(c, plan.to, plan.bad, unhealthy ? 'failed' : 'healthy', unhealthy || c.deps.reason)]);
  if (unhealthy) throw new Error(reloadFailed ? unhealthy : `switched back to ${plan.to} but not healthy: ${unhealthy}`);
  rec.outcome = 'reverted';
  rec.reason = plan.why;
  c.deps.logger.info(`${host.id}: ${plan.bad} → ${plan.to} (${plan.why})${settings.healthCommand || settings.healthUrl ? `, ${healthy}` : ''}`);
}

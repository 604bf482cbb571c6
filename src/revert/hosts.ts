// The host side of auto-revert: one connection per host, up to max-parallel at once; per host
// read state and log → plan (pure) → switch, mark bad, reload, health, log line.
import { randomBytes } from 'node:crypto';
import { hostId, type HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { mapLimit } from '../common/concurrency.js';
import {
  acquireLockCommand,
  appendLogCommand,
  markBadCommand,
  parseLog,
  parseState,
  readLogCommand,
  readStateCommand,
  releaseLockCommand,
  switchCommand,
  userCommand,
  type ReleaseEnv,
} from '../release/commands.js';
import type { HealthCheck } from '../release/health.js';
import type { SshSettings } from '../release/ssh-settings.js';
import type { Connector, RemoteSession } from '../ssh/types.js';
import { planHost, type HostPlan, type PlanOptions } from './plan.js';

export type HostRevertOutcome = 'reverted' | 'nothing-to-do' | 'no-good-release' | 'failed';

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
  reason: string;
  /** Milliseconds from the start of the revert until this host was healthy on `to`. */
  healthyAfterMs?: number;
  steps: { name: string; ms: number; ok: boolean; detail?: string }[];
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
}

type HostsSettings = Pick<SshSettings, 'hosts' | 'credentials' | 'deployPath' | 'maxParallel' | 'reloadCommand' | 'healthCommand' | 'healthUrl'>;

/** A lock is taken so a concurrent rollout notices us, but only briefly: a dead run must not block a revert. */
const LOCK_TTL_SEC = 300;

class StepFailure extends Error {}

export async function revertHosts(settings: HostsSettings, options: PlanOptions, deps: HostsRevertDeps): Promise<HostsRevertReport> {
  const now = deps.now ?? Date.now;
  const { logger } = deps;
  const started = now();
  const token = randomBytes(8).toString('hex');
  const deployPath = settings.deployPath;

  const hosts = await mapLimit(settings.hosts, settings.maxParallel, (spec) => revertOne(spec));
  const finished = now();
  const healthy = hosts.filter((h) => h.healthyAfterMs !== undefined).map((h) => h.healthyAfterMs!);
  const report: HostsRevertReport = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    hosts,
  };
  if (healthy.length) {
    report.timeToHealthyMs = Math.max(...healthy);
    logger.info(`Time from start to the last reverted host healthy: ${(report.timeToHealthyMs / 1000).toFixed(2)} s (${healthy.length} host(s))`);
  }
  return report;

  async function revertOne(spec: HostSpec): Promise<HostRevertRecord> {
    const rec: HostRevertRecord = { host: hostId(spec), outcome: 'failed', from: '', to: '', bad: '', markedBad: false, reason: '', steps: [] };
    let session: RemoteSession | undefined;
    let locked = false;

    async function step(name: string, command: string, timeoutMs?: number): Promise<string> {
      const t0 = now();
      const r = await session!.exec(command, timeoutMs ? { timeoutMs } : undefined);
      const ok = r.code === 0;
      rec.steps.push({ name, ms: now() - t0, ok, ...(ok ? {} : { detail: (r.stderr || r.stdout).trim() || `exit ${r.code}` }) });
      if (!ok) throw new StepFailure(`${name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim() || 'no output'}`);
      return r.stdout;
    }

    try {
      const t0 = now();
      session = await deps.connector(spec, settings.credentials);
      rec.steps.push({ name: 'connect', ms: now() - t0, ok: true });

      const lock = await session.exec(acquireLockCommand(deployPath, deps.runUrl || 'fivestep auto-revert', token, Math.floor(now() / 1000), LOCK_TTL_SEC));
      locked = lock.code === 0;
      // Putting a host back must not wait for a rollout that may be dead: go on, but say so.
      if (!locked) logger.warning(`${rec.host}: deploy lock held (${lock.stdout.trim() || lock.stderr.trim()}); reverting anyway`);

      const state = parseState(await step('read-state', readStateCommand(deployPath)));
      const log = parseLog(await step('read-log', readLogCommand(deployPath)));
      const plan = planHost(state, log, options);
      rec.from = plan.current;
      rec.bad = plan.bad;
      await act(plan);
    } catch (err) {
      rec.outcome = 'failed';
      rec.reason = err instanceof Error ? err.message : String(err);
      logger.error(`${rec.host}: ${rec.reason}`);
    } finally {
      if (session) {
        if (locked) await session.exec(releaseLockCommand(deployPath, token)).catch(() => undefined);
        await session.close().catch(() => undefined);
      }
    }
    return rec;

    async function act(plan: HostPlan): Promise<void> {
      const markReason = `auto-revert ${new Date(now()).toISOString()} ${deps.runUrl}${deps.reason ? `: ${deps.reason}` : ''}`.slice(0, 2000);
      if (plan.action !== 'switch') {
        // The bad release is marked even where it is no longer current, so no later revert lands on it.
        if (plan.markBad) {
          await step('mark-bad', markBadCommand(deployPath, plan.bad, markReason));
          rec.markedBad = true;
        }
        rec.outcome = plan.action;
        rec.reason = plan.why;
        const log = plan.action === 'no-good-release' ? logger.error.bind(logger) : logger.info.bind(logger);
        log(`${rec.host}: ${plan.action === 'no-good-release' ? 'NOT reverted, left as it is: ' : 'nothing to do: '}${plan.why}${rec.markedBad ? `; marked ${plan.bad} bad` : ''}`);
        return;
      }
      await step('switch', switchCommand(deployPath, plan.to));
      rec.to = plan.to;
      if (plan.markBad) {
        await step('mark-bad', markBadCommand(deployPath, plan.bad, markReason));
        rec.markedBad = true;
      }
      const env: ReleaseEnv = { deployPath, releaseId: plan.to, previousReleaseId: plan.bad };
      let healthy = true;
      let healthDetail = '';
      try {
        if (settings.reloadCommand) await step('reload', userCommand(`${deployPath}/current`, settings.reloadCommand, env));
        const t0 = now();
        const h = await deps.health(session!, spec, env);
        if (settings.healthCommand || settings.healthUrl) rec.steps.push({ name: 'health', ms: now() - t0, ok: h.ok, detail: h.detail });
        healthy = h.ok;
        healthDetail = h.detail;
      } catch (err) {
        healthy = false;
        healthDetail = err instanceof Error ? err.message : String(err);
      }
      if (healthy) rec.healthyAfterMs = now() - started;
      // The log records the switch either way: it happened, and the next run must see it.
      await step(
        'log',
        appendLogCommand(deployPath, {
          time: new Date(now()).toISOString(),
          action: 'revert',
          release: plan.to,
          previous: plan.bad,
          run: deps.runUrl,
          result: healthy ? 'reverted' : 'unhealthy',
          ...(deps.reason ? { reason: deps.reason.slice(0, 1000) } : {}),
        }),
      );
      if (!healthy) throw new StepFailure(`switched back to ${plan.to} but not healthy: ${healthDetail}`);
      rec.outcome = 'reverted';
      rec.reason = plan.why;
      logger.info(`${rec.host}: ${plan.bad} → ${plan.to} (${plan.why})${settings.healthCommand || settings.healthUrl ? ', healthy' : ''}`);
    }
  }
}

// The host side of auto-revert, on the release engine's verbs: one connection per host, up to
// max-parallel at once; per host read state and ledger → plan (pure) → put back, mark bad, health, record.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import type { HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { mapLimit } from '../common/concurrency.js';
import type { Balancer } from '../engine/balancer.js';
import { ReleaseHost } from '../engine/host.js';
import { HostLock } from '../engine/lock.js';
import { revertSteps } from '../engine/plan.js';
import { putBack } from '../engine/put-back.js';
import type { StepRecord } from '../engine/step-record.js';
import { plainStepRun, type LedgerLine, type StepRun } from '../engine/step-input.js';
import { healthProblem, runSteps } from '../engine/steps.js';
import type { DeployLogEntry, ReleaseEnv } from '../release/commands.js';
import type { HealthCheck } from '../release/health.js';
import type { SshSettings } from '../release/ssh-settings.js';
import type { Connector } from '../ssh/types.js';
import { planHost, type HostPlan, type HostRevertOutcome, type PlanOptions } from './plan.js';
import { formatDuration } from '../common/format.js';

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
  /** The balancer, for `{port}` in health-url (the port of the host's balancer server). */
  balancer?: Balancer;
  /** Hosts the revert leaves alone whose health is checked all the same (out of rotation: back only if healthy). */
  checkHealthOf?: (host: string) => boolean;
}

type HostsSettings = Pick<
  SshSettings,
  'hosts' | 'credentials' | 'deployPath' | 'maxParallel' | 'reloadCommand' | 'healthCommand' | 'healthUrl'
>;

export async function revertHosts(
  settings: HostsSettings,
  options: PlanOptions,
  deps: HostsRevertDeps,
): Promise<HostsRevertReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const token = randomBytes(12).toString('hex');
  const hosts = await mapLimit(settings.hosts, settings.maxParallel, (spec) =>
    revertHost(spec, { settings, options, deps, token, now, started }),
  );
  const finished = now();
  const healthy = hosts.filter((h) => h.healthyAfterMs !== undefined).map((h) => h.healthyAfterMs!);
  const report: HostsRevertReport = {
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    hosts,
  };
  if (healthy.length) {
    report.timeToHealthyMs = Math.max(...healthy);
    deps.logger.info(
      `Time from start to the last reverted host healthy: ${formatDuration(report.timeToHealthyMs)} ` +
        `(${healthy.length} host(s))`,
    );
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
  const host = new ReleaseHost(spec, {
    connector: c.deps.connector,
    credentials: c.settings.credentials,
    deployPath: c.settings.deployPath,
    now: c.now,
  });
  const rec: HostRevertRecord = {
    host: host.id,
    outcome: 'failed',
    from: '',
    to: '',
    bad: '',
    markedBad: false,
    reason: '',
    steps: host.steps,
  };
  const lock = new HostLock(host);
  const r = stepRun(host, c);
  try {
    await runSteps(['connect'], r);
    // The lock is taken so a concurrent rollout notices us, but never waited for: putting a host back
    // must not wait on a rollout that may be dead.
    const held = await lock.tryLock(c.deps.runUrl || 'fivestep auto-revert', c.token);
    if (held.kind === 'held')
      c.deps.logger.warning(
        `${host.id}: deploy lock held by ${held.holder} (last heartbeat ${held.ageSec}s ago); reverting anyway`,
      );
    await runSteps(['state'], r);
    const plan = planHost(r.state!, c.options);
    rec.from = plan.current;
    rec.bad = plan.bad;
    rec.reached = plan.reached;
    r.input = {
      ...r.input,
      release: plan.bad,
      previous: plan.current,
      target: plan.action === 'switch' ? plan.to : '',
      badMarker: badMarker(c),
    };
    await (plan.action === 'switch' ? switchBack(r, plan, rec, c) : leaveAlone(r, plan, rec, c));
  } catch (err) {
    rec.outcome = 'failed';
    rec.reason = errorMessage(err);
    c.deps.logger.error(`${host.id}: ${rec.reason}`);
  } finally {
    await lock.release().catch(() => undefined);
    await host.close();
  }
  return rec;
}

/** One host's step run for a revert: the same table as a rollout's, with a revert's ledger lines. */
function stepRun(host: ReleaseHost, c: RevertContext): StepRun {
  const s = c.settings;
  const r: StepRun = plainStepRun(host, c.deps.logger, {
    health: s.healthCommand || s.healthUrl ? c.deps.health : undefined,
    balancer: c.deps.balancer,
    settings: { reloadCommand: s.reloadCommand, healthCommand: s.healthCommand, healthUrl: s.healthUrl },
    input: { ledger: (line) => ledgerLines(r, line, c), runUrl: c.deps.runUrl, token: c.token },
  });
  return r;
}

function entry(c: RevertContext, release: string, previous: string, result: string, reason?: string): DeployLogEntry {
  return {
    time: new Date(c.now()).toISOString(),
    action: 'revert',
    release,
    previous,
    run: c.deps.runUrl,
    result,
    ...(reason ? { reason: reason.slice(0, 1000) } : {}),
  };
}

/**
 * A revert's ledger lines: the switch back, the bad marker, and how it ended (`record`: healthy, or failed with
 * why).
 */
function ledgerLines(r: StepRun, line: LedgerLine, c: RevertContext): DeployLogEntry[] {
  const { release: bad, target: to } = r.input;
  if (line === 'back') return [entry(c, to, bad, 'switched')];
  if (line === 'bad') return [entry(c, bad, '', 'bad', c.deps.reason)];
  if (line === 'record')
    return [r.problem ? entry(c, to, bad, 'failed', r.problem) : entry(c, to, bad, 'healthy', c.deps.reason)];
  return [];
}

function badMarker(c: RevertContext): string {
  const why = c.deps.reason ? `: ${c.deps.reason}` : '';
  return `auto-revert ${new Date(c.now()).toISOString()} ${c.deps.runUrl}${why}`.slice(0, 2000);
}

async function markBad(r: StepRun, rec: HostRevertRecord): Promise<void> {
  await runSteps(['mark-bad'], r);
  rec.markedBad = true;
}

/**
 * Not on the bad release (or nothing to go back to): the bad release is still marked, so no later revert lands on
 * it.
 */
async function leaveAlone(r: StepRun, plan: HostPlan, rec: HostRevertRecord, c: RevertContext): Promise<void> {
  const { host } = r;
  if (plan.markBad) await markBad(r, rec);
  rec.outcome = plan.action === 'no-good-release' ? 'no-good-release' : 'nothing-to-do';
  rec.reason = plan.why;
  if (rec.outcome === 'nothing-to-do' && plan.current && c.deps.checkHealthOf?.(host.id)) {
    const on: ReleaseEnv = { deployPath: c.settings.deployPath, releaseId: plan.current, previousReleaseId: '' };
    const problem = await healthProblem(r, on);
    if (problem) c.deps.logger.warning(`${host.id}: out of rotation and not healthy on ${plan.current}: ${problem}`);
    rec.healthy = !problem;
  }
  const log =
    plan.action === 'no-good-release'
      ? c.deps.logger.error.bind(c.deps.logger)
      : c.deps.logger.info.bind(c.deps.logger);
  const what = plan.action === 'no-good-release' ? 'NOT reverted, left as it is: ' : 'nothing to do: ';
  log(`${host.id}: ${what}${plan.why}${rec.markedBad ? `; marked ${plan.bad} bad` : ''}`);
}

/** The revert plan a failed rollout runs too (switch back and reload, health), with the bad marker; then the ledger. */
async function switchBack(
  r: StepRun,
  plan: HostPlan & { action: 'switch' },
  rec: HostRevertRecord,
  c: RevertContext,
): Promise<void> {
  const result = await putBack(r, [...revertSteps({ markBad: plan.markBad, health: r.health !== undefined })]);
  if (result.kind === 'not-back') throw new Error(result.message);
  rec.to = plan.to;
  rec.markedBad = plan.markBad && r.host.steps.some((s) => s.name === 'mark-bad' && s.ok);
  if (result.kind === 'back') rec.healthyAfterMs = c.now() - c.started;
  r.problem = result.kind === 'back' ? '' : result.message;
  // The ledger records the switch either way: it happened, and the next run must see it.
  await runSteps(['record'], r);
  if (result.kind === 'reload-failed') throw new Error(result.message);
  if (result.kind === 'unhealthy') throw new Error(`switched back to ${plan.to} but not healthy: ${result.message}`);
  rec.outcome = 'reverted';
  rec.reason = plan.why;
  c.deps.logger.info(`${r.host.id}: ${plan.bad} → ${plan.to} (${plan.why})${r.health ? `, ${r.healthDetail}` : ''}`);
}

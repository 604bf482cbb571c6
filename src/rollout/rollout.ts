// The rollout: preflight every host, stage the release everywhere, then switch wave by wave,
// watching health (and metrics during each bake); on too many failures, put every switched host back.
// What each step runs is the step table's (engine/steps.ts); the plan and the go/stop decisions are
// pure (engine/plan.ts, engine/verdict.ts); this file only sequences them.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { mapLimit, sleep as realSleep } from '../common/concurrency.js';
import { Balancer } from '../engine/balancer.js';
import { ReleaseHost } from '../engine/host.js';
import { Heartbeat, type RunStatus } from '../engine/lock.js';
import type { RolloutPlan } from '../engine/plan.js';
import { runSteps } from '../engine/steps.js';
import { judgeProgress } from '../engine/verdict.js';
import type { LoadBalancer } from '../lb/index.js';
import type { HealthCheck } from '../release/health.js';
import type { Connector } from '../ssh/types.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import { bakeWave, type BakeWatch } from './bake.js';
import { printDryRun } from './dry-run.js';
import {
  finishHost,
  newHostRun,
  planOf,
  preflight,
  rolloutEntry,
  stageHost,
  stepSettingsOf,
  type HostRun,
  type RunShared,
} from './host-run.js';
import { backUnswitched, putBackHost, type PutBackContext } from './put-back-host.js';
import { Progress, type WaveProgress } from './progress.js';
import {
  rolloutReport,
  type RolloutReport,
  type RolloutResult,
  type UnhealthyAtStart,
  type WaveRecord,
} from './record.js';
import type { RolloutSettings } from './settings.js';

export type { WatchOutcome } from './bake.js';

export interface RolloutDeps {
  connector: Connector;
  logger: Logger;
  health: HealthCheck;
  /** Link to the run, recorded as the lock owner and in the deploy log. */
  runUrl: string;
  /** Runs the metric watch over a wave's hosts during its bake; `bake` carries the canary's measured traffic. */
  watch?: BakeWatch;
  /** Aborted on SIGINT/SIGTERM: no new step starts, switched hosts are put back. */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** The balancer provider (default: connect to lb-host and pick by `load-balancer`). */
  loadBalancer?: LoadBalancer;
  /** Asks the GitHub API whether a lock holder's run has completed (then its lock is stale at once). */
  runStatus?: (holderUrl: string) => Promise<RunStatus>;
  /** Heartbeat period (default engine/lock.ts LOCK_RENEW_MS). */
  heartbeatMs?: number;
  /** Where each wave stands as it goes (the command line's in-place progress line). */
  onWaveProgress?: (p: WaveProgress) => void;
}

/** How long a put-back waits for a host whose connection was lost (a restarted sshd) to answer again. */
const RECONNECT_WITHIN_MS = 30_000;

export async function rollout(
  settings: RolloutSettings,
  artifact: PreparedArtifact,
  deps: RolloutDeps,
): Promise<RolloutReport> {
  return new RolloutRun(settings, artifact, deps).execute();
}

class RolloutRun {
  private readonly runs: HostRun[];
  private readonly byId: Map<string, HostRun>;
  private plan: RolloutPlan;
  private readonly waveRecords: WaveRecord[];
  private readonly unhealthy: UnhealthyAtStart[] = [];
  private readonly errors: string[] = [];
  private stopReason = '';
  private balancer?: Balancer;
  private readonly heartbeat: Heartbeat;
  private readonly shared: RunShared;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly started: number;
  private readonly log: Logger;
  private readonly progress: Progress;

  constructor(
    private readonly settings: RolloutSettings,
    private readonly artifact: PreparedArtifact,
    private readonly deps: RolloutDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.sleep = deps.sleep ?? realSleep;
    this.log = deps.logger;
    this.started = this.now();
    const ssh = settings.ssh;
    this.shared = {
      settings,
      artifact,
      stepSettings: stepSettingsOf(settings, artifact),
      runUrl: deps.runUrl,
      token: randomBytes(12).toString('hex'),
      log: this.log,
      // No health check configured: no health step is planned, and a put-back checks none.
      health: ssh.healthCommand || ssh.healthUrl ? deps.health : undefined,
      now: this.now,
      stopped: () => !this.decide(),
      deltaTars: new Map(),
      reconnectWithinMs: RECONNECT_WITHIN_MS,
    };
    const ctx = {
      connector: deps.connector,
      credentials: ssh.credentials,
      deployPath: ssh.deployPath,
      now: this.now,
      sleep: this.sleep,
    };
    this.runs = ssh.hosts.map((spec) => newHostRun(new ReleaseHost(spec, ctx), this.shared));
    this.byId = new Map(this.runs.map((r) => [r.host.id, r]));
    this.progress = new Progress(this.log, this.runs.length, deps.onWaveProgress);
    this.plan = this.makePlan();
    this.waveRecords = this.plan.waves.map((w) => ({ index: w.index, hosts: w.hosts }));
    for (const w of this.plan.waves) for (const id of w.hosts) this.run(id).record.wave = w.index;
    this.heartbeat = new Heartbeat(
      () => this.runs.map((r) => r.lock),
      (lock) => this.stop(`${lock.id}: another run took this rollout's lock over (it judged this run dead): stopping`),
      this.log,
      deps.heartbeatMs,
    );
  }

  async execute(): Promise<RolloutReport> {
    const onAbort = () => this.stop('cancelled (a signal: the job was cancelled, or Ctrl-C)');
    this.deps.signal?.addEventListener('abort', onAbort);
    if (this.deps.signal?.aborted) onAbort();
    this.progress.intro(this.settings.releaseId, this.settings.ssh.deployPath, this.plan, this.artifact);
    this.heartbeat.start();
    let report: RolloutReport | undefined;
    try {
      report = await this.runAll();
      return report;
    } finally {
      this.heartbeat.stop();
      this.deps.signal?.removeEventListener('abort', onAbort);
      const lb = await this.balancer?.close();
      if (lb?.error) (report?.errors ?? this.errors).push(lb.error);
      if (report && lb?.out.length) report.outOfRotation = lb.out;
      await mapLimit(this.runs, this.settings.ssh.maxParallel, async ({ host, lock }) => {
        await lock
          .release()
          .catch((err) => this.log.warning(`${host.id}: could not release the lock: ${errorMessage(err)}`));
        await host.close();
      });
    }
  }

  private async runAll(): Promise<RolloutReport> {
    if (this.settings.dryRun) return await this.dryRun();
    if (this.settings.loadBalancer) await this.openBalancer();
    await this.log.group(`Preflight: ${this.runs.length} host(s)`, () =>
      this.eachHost(this.runs, 'preflight', (run) => this.preflightHost(run, true)),
    );
    this.plan = this.makePlan();
    if (this.decide()) await this.stage();
    for (const wave of this.plan.waves) {
      if (!this.decide()) break;
      await this.runWave(wave.index);
    }
    const decision = this.judge();
    if (!decision.go) return await this.stopAndRevert(decision.reason, decision.revert);
    const updated = this.runs.filter((r) => r.record.outcome === 'updated');
    await this.log.group('Record and prune', () =>
      this.eachHost(updated, 'record', async (run) => {
        const error = await finishHost(run, this.shared, this.plan);
        if (error) this.errors.push(error);
      }),
    );
    return this.finish('success');
  }

  private makePlan(): RolloutPlan {
    return planOf(this.runs, this.shared, this.deps.watch !== undefined);
  }

  private async dryRun(): Promise<RolloutReport> {
    // Read-only: host keys verified and state read (no lock), so the plan shows what the run would do.
    await this.log.group('Dry run: host-key checks and state, no lock, no change', () =>
      this.eachHost(this.runs, 'dry run', (run) => this.preflightHost(run, false)),
    );
    this.plan = this.makePlan();
    const hosts = new Map(this.runs.map((r) => [r.host.id, { previous: r.record.previous, revertTo: r.revertTo }]));
    printDryRun(this.log, this.settings, this.artifact, this.plan, hosts);
    for (const run of this.runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
    const decision = this.judge();
    if (!decision.go) this.stopReason = decision.reason;
    return this.finish(decision.go ? 'success' : 'reverted');
  }

  /** The preflight steps of one host (engine/steps.ts); a dry run takes no lock and adopts nothing. */
  private async preflightHost(run: HostRun, lock: boolean): Promise<void> {
    const request = {
      owner: this.deps.runUrl,
      token: this.shared.token,
      timeoutMs: this.settings.lockTimeoutMs,
      logger: this.log,
      now: this.now,
      sleep: this.sleep,
      cancelled: () => this.stopReason !== '',
      runStatus: this.deps.runStatus,
    };
    const steps = lock ? this.plan.preflight : this.plan.preflight.filter((s) => s !== 'lock');
    const unhealthy = await preflight(run, steps, this.shared, lock ? request : null, this.progress);
    if (unhealthy) this.unhealthy.push(unhealthy);
  }

  private async stage(): Promise<void> {
    const start = this.now();
    const runs = this.pending();
    await this.log.group(`Stage release ${this.settings.releaseId}`, () =>
      this.eachHost(runs, 'stage', (run) => stageHost(run, this.plan, this.progress)),
    );
    this.progress.staged(
      runs.map((r) => r.record),
      this.now() - start,
    );
  }

  private async runWave(index: number): Promise<void> {
    const wave = this.plan.waves[index - 1];
    const record = this.waveRecords[index - 1];
    const ready = wave.hosts.map((id) => this.run(id)).filter((r) => r.record.outcome === 'pending');
    record.start = this.now();
    const named = this.progress.eachHost ? wave.hosts.join(', ') : `${wave.hosts.length} host(s)`;
    const count = { wave: index, waves: this.plan.waves.length, hosts: ready.length, updated: 0, failed: 0 };
    this.progress.waveProgress({ ...count, phase: 'switching' });
    await this.log.group(`Wave ${index}/${this.plan.waves.length}: ${named}`, () =>
      mapLimit(ready, this.settings.ssh.maxParallel, async (run) => {
        if (!this.decide()) return;
        await this.switchHost(run);
        if (run.record.outcome !== 'pending') count[run.record.outcome === 'updated' ? 'updated' : 'failed']++;
        this.progress.waveProgress({ ...count, phase: 'switching' });
      }),
    );
    record.end = this.now();
    if (this.balancer) {
      const out = ready.map((r) => r.host.id);
      record.traffic = [this.balancer.split(`wave ${index} switching (each host out while it switches)`, out)];
    }
    this.progress.wave(
      index,
      this.plan.waves.length,
      this.runs.map((r) => r.record),
      record.end - record.start,
    );
    // Runner log groups cannot nest: each host's steps get their own group after its wave's (at scale, only hosts
    // that did not update).
    for (const run of ready)
      if (this.progress.eachHost || run.record.outcome !== 'updated') await this.progress.steps(run.record);
    if (wave.bake && this.decide()) {
      this.progress.waveProgress({ ...count, phase: 'baking', bakeMs: this.settings.waveWaitMs });
      await this.bake(index, record);
    }
    this.progress.waveProgress({ ...count, phase: 'done' });
  }

  /** The plan's switch steps for one host; a failure is judged at once (this host back, or the rollout stopped). */
  private async switchHost(run: HostRun): Promise<void> {
    const { host } = run;
    try {
      if ((await runSteps(this.plan.switch, run)) === 'stopped') return;
      run.record.outcome = 'updated';
      this.progress.host(
        `${host.id}: on ${this.settings.releaseId}${this.plan.switch.includes('health') ? ', healthy' : ''}`,
      );
    } catch (err) {
      this.fail(run, errorMessage(err));
      const decision = this.judge();
      // Within max-failures the rollout goes on, but this host must not stay on a release that failed on it.
      if (decision.go && decision.revert.includes(host.id)) await putBackHost(run, errorMessage(err), this.outcomes());
      // Never switched (its switch failed): still on its release, back in rotation once healthy there.
      else if (!run.switched && this.balancer?.isOut(host)) await backUnswitched(run, this.outcomes());
    }
  }

  private async bake(index: number, record: WaveRecord): Promise<void> {
    const canary = this.plan.waves[index - 1].hosts.filter((id) => this.run(id).record.outcome === 'updated');
    const share = this.settings.loadBalancer?.canaryShare ?? null;
    const weighted = this.balancer && index === 1 && share !== null && canary.length > 0;
    await bakeWave({
      ms: this.settings.waveWaitMs,
      record,
      hosts: canary.map((id) => this.run(id).host.spec),
      bakes: this.plan.waves.filter((w) => w.bake).length,
      canary: weighted ? { balancer: this.balancer!, share: share!, hosts: canary } : null,
      watch: this.deps.watch && this.settings.watch ? this.deps.watch : null,
      log: this.log,
      now: this.now,
      sleep: this.sleep,
      signal: this.deps.signal,
      stop: (reason) => this.stop(reason),
      stopped: () => this.stopReason !== '',
    });
  }

  private async stopAndRevert(reason: string, revert: string[]): Promise<RolloutReport> {
    this.stopReason = reason;
    this.log.error(`Rollout stopped: ${reason}`);
    const switched = revert.map((id) => this.run(id));
    await this.log.group('Revert switched hosts', () =>
      mapLimit(switched, this.settings.ssh.maxParallel, (run) => putBackHost(run, reason, this.outcomes())),
    );
    // Where the release was staged but never ran, the ledger still says how this rollout ended (best effort).
    const unrecorded = this.runs.filter((r) => r.staged && !r.switched && !r.closed && r.host.connected);
    await mapLimit(unrecorded, this.settings.ssh.maxParallel, (run) => {
      const failed = rolloutEntry(this.shared, run.record.previous, 'failed', `rollout stopped: ${reason}`);
      run.input = { ...run.input, ledger: () => [failed], prune: [] };
      return runSteps(['record'], run).catch(() => undefined);
    });
    for (const run of this.runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
    return this.finish(this.runs.some((r) => r.record.outcome === 'revert-failed') ? 'failed' : 'reverted');
  }

  /** What recording a put-back's outcome needs of this run. */
  private outcomes(): PutBackContext {
    return { balancer: this.balancer, log: this.log, plan: this.plan, deployPath: this.settings.ssh.deployPath };
  }

  private async openBalancer(): Promise<void> {
    const { ssh } = this.settings;
    this.balancer = await Balancer.open(this.settings.loadBalancer!, ssh.hosts, {
      connector: this.deps.connector,
      credentials: ssh.credentials,
      logger: this.log,
      provider: this.deps.loadBalancer,
      needPorts: ssh.healthUrl.includes('{port}'),
    });
    for (const run of this.runs) run.balancer = this.balancer;
    if (this.settings.loadBalancer!.canaryShare !== null && !this.plan.waves[0]?.bake) {
      this.log.warning(
        'canary-weight is set but wave 1 has no bake (it needs wave-wait > 0 and a second wave): weights ' +
          'stay as they are',
      );
    }
  }

  /** Runs fn for each host (up to max-parallel), unless the rollout has stopped; a throw fails that host. */
  private eachHost(runs: HostRun[], phase: string, fn: (run: HostRun) => Promise<void>): Promise<void[]> {
    return mapLimit(runs, this.settings.ssh.maxParallel, async (run) => {
      if (!this.decide()) return;
      try {
        await fn(run);
      } catch (err) {
        this.fail(run, `${phase}: ${errorMessage(err)}`);
      }
    });
  }

  private fail(run: HostRun, reason: string): void {
    run.record.outcome = 'failed';
    run.record.reason = reason;
    this.log.error(`${run.host.id}: ${reason}`);
    // A drain waiting for this host to come back may now have to give up (the rollout stops).
    this.balancer?.wake();
  }

  private stop(reason: string): void {
    if (!this.stopReason) this.stopReason = reason;
    this.balancer?.wake();
  }

  private judge() {
    const hosts = this.runs.map((r) => ({ host: r.host.id, outcome: r.record.outcome, switched: r.switched }));
    return judgeProgress(hosts, this.plan.budget, this.stopReason);
  }

  /** Whether the rollout goes on. */
  private decide(): boolean {
    return this.judge().go;
  }

  private pending(): HostRun[] {
    return this.runs.filter((r) => r.record.outcome === 'pending');
  }

  private run(id: string): HostRun {
    return this.byId.get(id)!;
  }

  private finish(result: RolloutResult): RolloutReport {
    return rolloutReport({
      settings: this.settings,
      artifact: this.artifact,
      plan: this.plan,
      result,
      started: this.started,
      finished: this.now(),
      waves: this.waveRecords,
      hosts: this.runs.map((r) => r.record),
      unhealthyAtStart: this.unhealthy,
      stopReason: this.stopReason,
      errors: this.errors,
    });
  }
}

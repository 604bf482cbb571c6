// The rollout: preflight every host, stage the release everywhere, then switch wave by wave,
// watching health (and metrics during each bake); on too many failures, put every switched host back.
// The per-host verbs are the release engine's (engine/host.ts), the plan and the go/stop decisions
// are pure (engine/plan.ts, engine/verdict.ts); this file only sequences them.
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../common/errors.js';
import type { HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { mapLimit, sleep as realSleep } from '../common/concurrency.js';
import { MAX_CONCURRENT_HANDSHAKES, ReleaseHost } from '../engine/host.js';
import { Heartbeat, takeLock, type RunStatus } from '../engine/lock.js';
import { planRollout, type FoundHost, type RolloutPlan } from '../engine/plan.js';
import { adoptId, commandsNeeded, preflightFindings, stateChecks } from '../engine/preflight.js';
import { ReloadFailedError, StepError } from '../engine/steps.js';
import { judgeProgress } from '../engine/verdict.js';
import type { LoadBalancer } from '../lb/index.js';
import { EXIT, type DeployLogEntry, type HostState, type ReleaseEnv, type StateChecks } from '../release/commands.js';
import { filesToSend, type DeltaOffer, type ManifestEntry } from '../release/delta.js';
import type { HealthCheck } from '../release/health.js';
import { neverHealthy, planPrune, readLedger, revertTarget, type Ledger } from '../release/ledger.js';
import type { Connector } from '../ssh/types.js';
import { deltaTar, stagingOf, type PreparedArtifact } from '../artifact/prepare.js';
import { Balancer, type BakeTraffic } from './balancer.js';
import { printDryRun } from './dry-run.js';
import { formatBytes } from '../common/format.js';
import { formatMs, waveCountLine, waveCounts } from './report.js';
import type { RolloutSettings } from './settings.js';
import { ROLLOUT_REPORT_VERSION, STAGED_HOW, type HostRecord, type RolloutReport, type RolloutResult, type UnhealthyAtStart, type WaveRecord } from './record.js';

export type { BakeTraffic } from './balancer.js';

/** What a bake-time watch decided; `fail` stops the rollout and reverts it. */
export interface WatchOutcome {
  verdict: 'pass' | 'fail' | 'inconclusive';
  detail: string;
}

export interface RolloutDeps {
  connector: Connector;
  logger: Logger;
  health: HealthCheck;
  /** Link to the run, recorded as the lock owner and in the deploy log. */
  runUrl: string;
  /** Runs the metric watch over a wave's hosts during its bake; `bake` carries the canary's measured traffic. */
  watch?: (waveHosts: HostSpec[], durationMs: number, signal: AbortSignal, bake?: BakeTraffic) => Promise<WatchOutcome>;
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
}

/** Up to this many hosts the log names each host's steps; above it, one line per wave with counts (failures still by name). */
export const LOG_EACH_HOST_UP_TO = 50;

/** Delta staging failures that sending the whole artifact would not mend: a release-id taken, no room, something refused. */
const NOT_FOR_A_WHOLE_ARTIFACT: ReadonlySet<number> = new Set([EXIT.exists, EXIT.noSpace, EXIT.refused]);

/** How long a put-back waits for a host whose connection was lost (a restarted sshd) to answer again. */
const RECONNECT_WITHIN_MS = 30_000;

interface HostRun {
  host: ReleaseHost;
  record: HostRecord;
  state?: HostState;
  ledger?: Ledger;
  /** Where this host goes back to if the rollout fails. */
  revertTo: string;
  /** The release is unpacked here (by this run or an earlier one). */
  staged: boolean;
  switched: boolean;
  /** The ledger already records how this rollout ended here (a put-back wrote `failed`). */
  closed: boolean;
}

export async function rollout(settings: RolloutSettings, artifact: PreparedArtifact, deps: RolloutDeps): Promise<RolloutReport> {
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
  private readonly token = randomBytes(12).toString('hex');
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly started: number;
  private readonly log: Logger;
  /** Delta tars by the set of files they carry: hosts on the same current release share one. */
  private readonly deltaTars = new Map<string, Promise<Buffer>>();

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
    const ctx = { connector: deps.connector, credentials: ssh.credentials, deployPath: ssh.deployPath, now: this.now, sleep: this.sleep };
    this.runs = ssh.hosts.map((spec) => {
      const host = new ReleaseHost(spec, ctx);
      return { host, record: { host: host.id, wave: 0, previous: '', outcome: 'pending', uploaded: false, steps: host.steps }, revertTo: '', staged: false, switched: false, closed: false };
    });
    this.byId = new Map(this.runs.map((r) => [r.host.id, r]));
    this.plan = this.makePlan();
    this.waveRecords = this.plan.waves.map((w) => ({ index: w.index, hosts: w.hosts }));
    for (const w of this.plan.waves) for (const id of w.hosts) this.run(id).record.wave = w.index;
    this.heartbeat = new Heartbeat(
      () => this.runs.map((r) => r.host),
      (host) => this.stop(`${host.id}: another run took this rollout's lock over (it judged this run dead): stopping`),
      this.log,
      deps.heartbeatMs,
    );
  }

  async execute(): Promise<RolloutReport> {
    const onAbort = () => this.stop('cancelled (the runner sent a signal)');
    this.deps.signal?.addEventListener('abort', onAbort);
    if (this.deps.signal?.aborted) onAbort();
    this.logIntro();
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
      await mapLimit(this.runs, this.settings.ssh.maxParallel, async ({ host }) => {
        await host.unlock().catch((err) => this.log.warning(`${host.id}: could not release the lock: ${errorMessage(err)}`));
        await host.close();
      });
    }
  }

  private async runAll(): Promise<RolloutReport> {
    if (this.settings.dryRun) return await this.dryRun();
    if (this.settings.loadBalancer) await this.openBalancer();
    await this.log.group(`Preflight: ${this.runs.length} host(s)`, () => this.eachHost(this.runs, 'preflight', (run) => this.preflightHost(run)));
    this.plan = this.makePlan();
    if (this.decide()) await this.stage();
    for (const wave of this.plan.waves) {
      if (!this.decide()) break;
      await this.runWave(wave.index);
    }
    const decision = this.judge();
    if (!decision.go) return await this.stopAndRevert(decision.reason, decision.revert);
    await this.log.group('Record and prune', () => this.eachHost(this.runs.filter((r) => r.record.outcome === 'updated'), 'record', (run) => this.recordHealthy(run)));
    return this.finish('success');
  }

  private makePlan(): RolloutPlan {
    const s = this.settings;
    const found = new Map<string, FoundHost>();
    for (const r of this.runs) {
      if (r.state) found.set(r.host.id, { uploaded: this.alreadyStaged(r.state), current: r.state.current !== '' });
    }
    return planRollout(
      this.runs.map((r) => r.host.id),
      {
        release: s.releaseId,
        waves: s.waves,
        maxFailures: s.maxFailures,
        maxParallel: s.ssh.maxParallel,
        sharedPaths: s.sharedPaths.length > 0,
        setup: s.setupCommand !== '',
        reload: s.ssh.reloadCommand !== '',
        health: s.ssh.healthCommand !== '' || s.ssh.healthUrl !== '',
        drain: s.loadBalancer?.drain ?? false,
        canary: (s.loadBalancer?.canaryShare ?? null) !== null,
        waveWaitMs: s.waveWaitMs,
        watch: s.watch !== null && this.deps.watch !== undefined,
        staging: this.artifact.url ? 'url' : this.artifact.delta ? 'delta' : 'upload',
      },
      found,
    );
  }

  private logIntro(): void {
    const { ssh } = this.settings;
    this.log.info(`Release ${this.settings.releaseId} → ${this.runs.length} host(s) at ${ssh.deployPath}`);
    this.log.info(`Waves: ${this.plan.waves.map((w) => `${w.index}: ${this.eachHostLogged ? w.hosts.join(', ') : `${w.hosts.length} host(s)`}`).join(' · ')}`);
    const a = this.artifact;
    const what = a.url ? `artifact downloaded by each host from ${a.url.redacted}` : `artifact ${a.bytes} bytes${a.delta ? `, ${a.delta.entries.length} files, delta staging` : ''}`;
    this.log.info(`max-failures ${this.plan.budget}, max-parallel ${ssh.maxParallel}, ${MAX_CONCURRENT_HANDSHAKES} handshakes at once, ${what}, sha256 ${a.sha256}`);
  }

  private async dryRun(): Promise<RolloutReport> {
    // Read-only: host keys verified and state read (no lock), so the plan shows what the run would do.
    await this.log.group('Dry run: host-key checks and state, no lock, no change', () =>
      this.eachHost(this.runs, 'dry run', async (run) => {
        await run.host.connect();
        const state = await run.host.readState(this.settings.releaseId, this.checks());
        const findings = this.check(run, state);
        this.found(run, state);
        const adopt = findings.adopt ? `; current is a directory: adopt-current would move it to releases/${adoptId(new Date(this.now()))}` : '';
        this.log.info(`${run.host.id}: host key verified, checks passed, current release ${run.record.previous || '(none)'}${adopt}`);
      }),
    );
    this.plan = this.makePlan();
    printDryRun(this.log, this.settings, this.artifact, this.plan, new Map(this.runs.map((r) => [r.host.id, { previous: r.record.previous, revertTo: r.revertTo }])));
    for (const run of this.runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
    const decision = this.judge();
    if (!decision.go) this.stopReason = decision.reason;
    return this.finish(decision.go ? 'success' : 'reverted');
  }

  /**
   * Connect (verifying the host key), take the lock, read the state and ledger and check the host
   * (deploy:check); nothing changes yet, but for adopt-current moving a hand-deployed `current` in.
   */
  private async preflightHost(run: HostRun): Promise<void> {
    await run.host.connect();
    await takeLock(run.host, {
      owner: this.deps.runUrl,
      token: this.token,
      timeoutMs: this.settings.lockTimeoutMs,
      logger: this.log,
      now: this.now,
      sleep: this.sleep,
      cancelled: () => this.stopReason !== '',
      runStatus: this.deps.runStatus,
    });
    let state = await run.host.readState(this.settings.releaseId, this.checks());
    if (this.check(run, state).adopt) {
      const id = adoptId(new Date(this.now()));
      await run.host.adopt(id, { time: new Date(this.now()).toISOString(), action: 'adopt', release: id, previous: '', run: this.deps.runUrl, result: 'healthy', reason: 'adopt-current: the directory current was' });
      this.log.warning(`${run.host.id}: current was a directory: moved to releases/${id} and recorded healthy (adopt-current); a failed rollout goes back to it`);
      state = await run.host.readState(this.settings.releaseId, this.checks());
    }
    this.found(run, state);
    this.hostInfo(`${run.host.id}: connected, locked, checked, current release ${run.record.previous || '(none)'}`);
  }

  /** What preflight asks every host besides its state. */
  private checks(): StateChecks {
    return stateChecks(this.settings.sharedPaths, stagingOf(this.artifact));
  }

  /** The host's preflight findings: warnings logged, problems thrown (the host fails its preflight). */
  private check(run: HostRun, state: HostState) {
    const a = this.artifact;
    const s = this.settings;
    // A host that gets the whole artifact needs room for it and its files; a delta is checked when its size is known.
    const whole = !a.url && !this.alreadyStaged(state) && !(a.delta && state.current);
    const findings = preflightFindings(state, {
      host: run.host.spec,
      deployPath: s.ssh.deployPath,
      shared: s.sharedPaths,
      tree: a.tree,
      adoptCurrent: s.adoptCurrent,
      needBytes: whole && a.unpacked ? a.bytes + a.unpacked.bytes : undefined,
      ...commandsNeeded(stagingOf(this.artifact)),
    });
    for (const w of findings.warnings) this.log.warning(w);
    if (findings.problems.length > 0) throw new Error(findings.problems.join('; '));
    return findings;
  }

  /** This release is on the host already, with the same content. */
  private alreadyStaged(state: HostState): boolean {
    return state.checksum === this.artifact.identity && state.releases.some((x) => x.id === this.settings.releaseId);
  }

  /** What preflight learnt about a host: its release, the ledger's word on it, where a revert goes. */
  private found(run: HostRun, state: HostState): void {
    run.state = state;
    run.ledger = readLedger(state.log, state.bad);
    run.record.previous = state.current;
    run.revertTo = revertTarget(state, run.ledger, this.settings.releaseId);
    const status = run.ledger.status(state.current);
    if (state.current && neverHealthy(status)) {
      this.unhealthy.push({ host: run.host.id, release: state.current, status, revertTo: run.revertTo });
      this.log.warning(
        `${run.host.id}: on ${state.current}, which never became healthy (last recorded: ${status}; a rollout that died midway or failed)` +
          `; if this rollout fails it goes back to ${run.revertTo || '(no release)'}`,
      );
    }
  }

  private async stageHost(run: HostRun): Promise<void> {
    const { host, record } = run;
    const s = this.settings;
    const a = this.artifact;
    const steps = this.plan.stage[host.id];
    const staged = () => this.entry(run, 'staged');
    record.sentBytes = 0;
    const unpack = () => host.unpack(s.releaseId, { identity: a.identity, format: a.format, staged: staged(), unpackedBytes: a.unpacked?.bytes });
    if (steps.includes('download')) {
      await host.download(s.releaseId, a.sha256, a.url!);
      await unpack();
      record.staging = 'url';
    } else if (steps.includes('compare') && (await this.stageDelta(run))) {
      record.staging = 'delta';
    } else if (steps.includes('compare') || steps.includes('upload')) {
      await host.upload(s.releaseId, a.sha256, a.content);
      record.sentBytes += a.content.length;
      await unpack();
      record.staging = 'full';
    } else {
      await unpack();
      record.staging = 'cached';
    }
    record.uploaded = record.sentBytes > 0;
    run.staged = true;
    if (steps.includes('link')) await host.linkShared(s.releaseId, s.sharedPaths);
    if (steps.includes('setup')) await host.setup(s.setupCommand, this.env(run));
    this.hostInfo(`${host.id}: staged (${STAGED_HOW[record.staging]}${record.sentBytes ? `, ${record.sentBytes} bytes sent` : ''})`);
  }

  private async stage(): Promise<void> {
    const start = this.now();
    const runs = this.pending();
    await this.log.group(`Stage release ${this.settings.releaseId}`, () => this.eachHost(runs, 'stage', (run) => this.stageHost(run)));
    const how = new Map<string, number>();
    for (const r of runs) if (r.staged) how.set(STAGED_HOW[r.record.staging!], (how.get(STAGED_HOW[r.record.staging!]) ?? 0) + 1);
    const sent = runs.reduce((sum, r) => sum + (r.record.sentBytes ?? 0), 0);
    const failed = runs.filter((r) => r.record.outcome === 'failed').length;
    this.log.info(
      `Staged on ${runs.filter((r) => r.staged).length} of ${runs.length} host(s)${failed ? ` (${failed} failed)` : ''}: ${[...how].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}; ` +
        `the runner sent ${formatBytes(sent)} of artifact, in ${formatMs(this.now() - start)}`,
    );
  }

  /**
   * Offers the manifest and sends only what the host lacks. False when the host gets the whole
   * artifact instead: nothing to build from, a delta no smaller than the artifact, or a build that
   * failed (a hard link refused, a release edited in place): the host's error is logged.
   */
  private async stageDelta(run: HostRun): Promise<boolean> {
    const { host, record } = run;
    const source = this.artifact.delta!;
    // Built from the release preflight found current (a link into releases/, never anything else).
    const offer = await host.offerDelta(this.settings.releaseId, run.state?.current ?? '', source.manifest, (o: DeltaOffer) =>
      o.usable ? `from ${o.from}: ${filesToSend(source.entries, o.missing).length} of ${source.entries.length} files to send` : `whole artifact: ${o.reason}`,
    );
    record.sentBytes = source.manifest.length;
    if (!offer.usable) return false;
    const files = filesToSend(source.entries, offer.missing);
    const tar = await this.deltaTarOf(files);
    if (tar.length >= this.artifact.content.length) return false;
    // Sent whether or not the build then passes its check.
    record.sentBytes += tar.length;
    try {
      const needBytes = files.reduce((sum, f) => sum + f.size, 0) + tar.length;
      await host.unpackDelta(this.settings.releaseId, this.artifact.identity, needBytes, tar, this.entry(run, 'staged'), `delta from ${offer.from}: ${files.length} of ${source.entries.length} files, ${tar.length} bytes`);
      return true;
    } catch (err) {
      if (err instanceof StepError && NOT_FOR_A_WHOLE_ARTIFACT.has(err.code)) throw err;
      this.log.warning(`${host.id}: delta staging failed, sending the whole artifact: ${errorMessage(err)}`);
      return false;
    }
  }

  private deltaTarOf(files: ManifestEntry[]): Promise<Buffer> {
    const key = files.map((f) => f.path).join('\0');
    let tar = this.deltaTars.get(key);
    if (!tar) {
      tar = deltaTar(this.artifact.delta!, files);
      this.deltaTars.set(key, tar);
    }
    return tar;
  }

  private async runWave(index: number): Promise<void> {
    const wave = this.plan.waves[index - 1];
    const record = this.waveRecords[index - 1];
    const ready = wave.hosts.map((id) => this.run(id)).filter((r) => r.record.outcome === 'pending');
    record.start = this.now();
    await this.log.group(`Wave ${index}/${this.plan.waves.length}: ${this.eachHostLogged ? wave.hosts.join(', ') : `${wave.hosts.length} host(s)`}`, () =>
      mapLimit(ready, this.settings.ssh.maxParallel, async (run) => {
        if (!this.decide()) return;
        await this.switchHost(run);
      }),
    );
    record.end = this.now();
    if (this.balancer) record.traffic = [this.balancer.split(`wave ${index} switching (each host out while it switches)`, ready.map((r) => r.host.id))];
    this.log.info(`Wave ${index}/${this.plan.waves.length}: ${waveCountLine(waveCounts({ hosts: this.runs.map((r) => r.record) }, index))} in ${formatMs(record.end - record.start)}`);
    // Runner log groups cannot nest: each host's steps get their own group after its wave's (at scale, only hosts that did not update).
    for (const run of ready) if (this.eachHostLogged || run.record.outcome !== 'updated') await this.logHostSteps(run);
    if (wave.bake && this.decide()) await this.bake(index, record);
  }

  /** The plan's switch steps for one host; a failure is judged at once (this host back, or the rollout stopped). */
  private async switchHost(run: HostRun): Promise<void> {
    const { host } = run;
    const ssh = this.settings.ssh;
    try {
      for (const step of this.plan.switch) {
        // A rollout that stopped while this host waited for another server to come back leaves it untouched.
        if (step === 'drain' && (await this.balancer!.drain(host, () => !this.decide())) === 'stopped') return;
        else if (step === 'switch') {
          await host.switchTo(this.settings.releaseId, this.entry(run, 'switched'));
          run.switched = true;
        } else if (step === 'reload') await host.reload(ssh.reloadCommand, this.env(run));
        else if (step === 'health') await this.checkHealth(run, this.env(run));
        // Drained only while another server stayed in rotation (Balancer.drain); in rotation only once healthy.
        else if (step === 'rotation' && this.balancer!.isOut(host)) await this.balancer!.enable(host);
      }
      run.record.outcome = 'updated';
      this.hostInfo(`${host.id}: on ${this.settings.releaseId}${this.plan.switch.includes('health') ? ', healthy' : ''}`);
    } catch (err) {
      this.fail(run, errorMessage(err));
      const decision = this.judge();
      // Within max-failures the rollout goes on, but this host must not stay on a release that failed on it.
      if (decision.go && decision.revert.includes(host.id)) await this.putBack(run, errorMessage(err));
      // Never switched (its switch failed): still on its release, back in rotation once healthy there.
      else if (!run.switched && this.balancer?.isOut(host)) await this.backUnswitched(run);
    }
  }

  private async bake(index: number, record: WaveRecord): Promise<void> {
    const ms = this.settings.waveWaitMs;
    const canary = this.plan.waves[index - 1].hosts.filter((id) => this.run(id).record.outcome === 'updated');
    const share = this.settings.loadBalancer?.canaryShare ?? null;
    if (!this.balancer || index !== 1 || share === null || canary.length === 0) return this.bakeFor(ms, record, canary);
    try {
      const splits = await this.balancer.withCanary(canary, share, (traffic) => this.bakeFor(ms, record, canary, traffic));
      (record.traffic ??= []).push(...splits);
    } catch (err) {
      this.stop(`load balancer: canary weight: ${errorMessage(err)}`);
    }
  }

  /** Waits out the bake, or runs the metric watch over the wave's updated hosts; a fail verdict stops the rollout. */
  private async bakeFor(ms: number, record: WaveRecord, hostIds: string[], traffic?: BakeTraffic): Promise<void> {
    const start = this.now();
    const hosts = hostIds.map((id) => this.run(id).host.spec);
    if (!this.deps.watch || !this.settings.watch || hosts.length === 0) {
      this.log.info(`Bake: waiting ${ms / 1000}s before the next wave`);
      const end = start + ms;
      while (this.now() < end && !this.stopReason) await this.sleep(Math.min(250, end - this.now()));
      record.bake = { start, end: this.now() };
      return;
    }
    const controller = new AbortController();
    const relay = () => controller.abort();
    this.deps.signal?.addEventListener('abort', relay);
    try {
      const outcome = await this.log.group(`Bake ${ms / 1000}s, watching metrics of wave ${record.index}`, () => this.deps.watch!(hosts, ms, controller.signal, traffic));
      record.bake = { start, end: this.now(), verdict: outcome.verdict, detail: outcome.detail };
      if (outcome.verdict === 'fail') this.stop(`metric watch failed during the bake of wave ${record.index}: ${outcome.detail}`);
    } catch (err) {
      record.bake = { start, end: this.now(), verdict: 'error', detail: errorMessage(err) };
      this.stop(`metric watch could not run during the bake of wave ${record.index}: ${errorMessage(err)}`);
    } finally {
      this.deps.signal?.removeEventListener('abort', relay);
    }
  }

  private async stopAndRevert(reason: string, revert: string[]): Promise<RolloutReport> {
    this.stopReason = reason;
    this.log.error(`Rollout stopped: ${reason}`);
    await this.log.group('Revert switched hosts', () =>
      mapLimit(revert.map((id) => this.run(id)), this.settings.ssh.maxParallel, (run) => this.putBack(run, reason)),
    );
    // Where the release was staged but never ran, the ledger still says how this rollout ended (best effort).
    const unrecorded = this.runs.filter((r) => r.staged && !r.switched && !r.closed && r.host.connected);
    await mapLimit(unrecorded, this.settings.ssh.maxParallel, (run) => run.host.record([this.entry(run, 'failed', `rollout stopped: ${reason}`)]).catch(() => undefined));
    for (const run of this.runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
    return this.finish(this.runs.some((r) => r.record.outcome === 'revert-failed') ? 'failed' : 'reverted');
  }

  /**
   * Puts a switched host back on its revert target (and reloads it); the ledger records the release
   * failed here. Behind a balancer it is out of rotation meanwhile and back only once its health check
   * passes on the target; a host that is not healthy there stays out (revert-failed, named in failed-hosts).
   */
  private async putBack(run: HostRun, reason: string): Promise<void> {
    const { host } = run;
    const target = run.revertTo;
    const ssh = this.settings.ssh;
    const back: ReleaseEnv = { deployPath: ssh.deployPath, releaseId: target, previousReleaseId: this.settings.releaseId };
    try {
      // The balancer never blocks a revert: a drain that fails is a warning.
      if (this.balancer?.settings.drain && !this.balancer.isOut(host)) await this.balancer.drain(host).catch((e) => this.log.warning(`${host.id}: ${errorMessage(e)}`));
      await host.putBack(target, this.entry(run, 'failed', reason), ssh.reloadCommand ? { command: ssh.reloadCommand, env: back } : null, RECONNECT_WITHIN_MS);
      run.switched = false;
      run.closed = true;
    } catch (err) {
      if (err instanceof ReloadFailedError) {
        // `current` is back on the target (its ledger line says so); the app may not serve it.
        run.switched = false;
        run.closed = true;
        this.revertFailed(run, errorMessage(err));
        return;
      }
      this.revertFailed(run, `could not be put back on ${target || '(no release)'}: ${errorMessage(err)}`, `COULD NOT BE REVERTED to ${target || '(no release)'}: ${errorMessage(err)}`);
      return;
    }
    if (this.balancer?.isOut(host)) {
      if (!target) {
        this.balancer.keepOut(host, 'no release left to serve');
      } else {
        const unhealthy = await this.healthProblem(run, back);
        if (unhealthy) {
          this.revertFailed(run, `back on ${target} but not healthy: ${unhealthy}`);
          return;
        }
        await this.balancer.enable(host).catch((e) => this.log.warning(`${host.id}: ${errorMessage(e)}`));
      }
    }
    // A host that failed stays 'failed' (with its reason), so `failed-hosts` names it; only hosts
    // reverted because of another host's failure become 'reverted'.
    if (run.record.outcome !== 'failed') run.record.outcome = 'reverted';
    this.log.info(`${host.id}: reverted to ${target || '(no release)'}`);
  }

  /** A host drained for a switch that did not happen: in rotation again once healthy on the release it kept. */
  private async backUnswitched(run: HostRun): Promise<void> {
    const kept: ReleaseEnv = { deployPath: this.settings.ssh.deployPath, releaseId: run.record.previous, previousReleaseId: '' };
    const unhealthy = run.record.previous ? await this.healthProblem(run, kept) : 'no release to serve';
    if (unhealthy) this.balancer!.keepOut(run.host, `not switched, and not healthy on ${run.record.previous || '(no release)'}: ${unhealthy}`);
    else await this.balancer!.enable(run.host).catch((e) => this.log.warning(`${run.host.id}: ${errorMessage(e)}`));
  }

  /** A put-back that did not leave the host healthy: the reason recorded, the host out of rotation. */
  private revertFailed(run: HostRun, why: string, logged = why): void {
    run.record.outcome = 'revert-failed';
    run.record.reason = `${run.record.reason ? `${run.record.reason}; ` : ''}${why}`;
    this.log.error(`${run.host.id}: ${logged}`);
    if (this.balancer?.isOut(run.host)) this.balancer.keepOut(run.host, why);
  }

  /** Why the host is not healthy on `env`'s release ('' when it is, or when no health check is configured). */
  private healthProblem(run: HostRun, env: ReleaseEnv): Promise<string> {
    if (!this.plan.switch.includes('health')) return Promise.resolve('');
    return this.checkHealth(run, env).then(
      () => '',
      (e: unknown) => errorMessage(e),
    );
  }

  /** The health check, with `{port}` the port of the host's balancer server. */
  private checkHealth(run: HostRun, env: ReleaseEnv): Promise<string> {
    return run.host.health(this.deps.health, env, this.balancer?.appPort(run.host.id));
  }

  /** The rollout succeeded: `healthy` in the ledger and the prune, in one command. */
  private async recordHealthy(run: HostRun): Promise<void> {
    const s = this.settings;
    const healthy = this.entry(run, 'healthy');
    const state: HostState = {
      ...run.state!,
      current: s.releaseId,
      releases: run.state!.releases.some((r) => r.id === s.releaseId) ? run.state!.releases : [...run.state!.releases, { id: s.releaseId, mtime: Number.MAX_SAFE_INTEGER }],
    };
    const prune = planPrune(state, readLedger([...state.log, healthy], state.bad), s.keepReleases, [run.record.previous]);
    try {
      await run.host.record([healthy], prune);
      if (prune.length > 0) this.log.info(`${run.host.id}: pruned ${prune.join(', ')}`);
    } catch (err) {
      this.errors.push(`${run.host.id}: record/prune: ${errorMessage(err)}`);
      this.log.warning(`${run.host.id}: could not record or prune: ${errorMessage(err)}`);
    }
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
    if (this.settings.loadBalancer!.canaryShare !== null && !this.plan.waves[0]?.bake) {
      this.log.warning('canary-weight is set but wave 1 has no bake (it needs wave-wait > 0 and a second wave): weights stay as they are');
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

  private async logHostSteps(run: HostRun): Promise<void> {
    const r = run.record;
    const total = r.steps.length ? Math.max(...r.steps.map((x) => x.end)) - Math.min(...r.steps.map((x) => x.start)) : 0;
    await this.log.group(`${r.host} · wave ${r.wave} · ${r.outcome} · ${total} ms`, async () => {
      for (const x of r.steps) this.log.info(`${x.ok ? 'ok ' : 'ERR'} ${x.name.padEnd(8)} ${String(x.end - x.start).padStart(6)} ms${x.detail ? `  ${x.detail}` : ''}`);
    });
  }

  /** Small fleets: every host is named in the log. */
  private get eachHostLogged(): boolean {
    return this.runs.length <= LOG_EACH_HOST_UP_TO;
  }

  /** A host's progress: a log line on small fleets, a debug line at scale (the wave's count line says it). */
  private hostInfo(message: string): void {
    if (this.eachHostLogged) this.log.info(message);
    else this.log.debug(message);
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
    return judgeProgress(
      this.runs.map((r) => ({ host: r.host.id, outcome: r.record.outcome, switched: r.switched })),
      this.plan.budget,
      this.stopReason,
    );
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

  private env(run: HostRun): ReleaseEnv {
    return { deployPath: this.settings.ssh.deployPath, releaseId: this.settings.releaseId, previousReleaseId: run.record.previous };
  }

  private entry(run: HostRun, result: 'staged' | 'switched' | 'healthy' | 'failed', reason?: string): DeployLogEntry {
    return {
      time: new Date(this.now()).toISOString(),
      action: 'rollout',
      release: this.settings.releaseId,
      previous: run.record.previous,
      run: this.deps.runUrl,
      result,
      ...(reason ? { reason: reason.slice(0, 1000) } : {}),
    };
  }

  private finish(result: RolloutResult): RolloutReport {
    const finished = this.now();
    return {
      tool: 'fivestep/ssh-rollout',
      version: ROLLOUT_REPORT_VERSION,
      release: this.settings.releaseId,
      deployPath: this.settings.ssh.deployPath,
      dryRun: this.settings.dryRun,
      result,
      startedAt: new Date(this.started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - this.started,
      artifact: {
        file: this.artifact.file,
        sha256: this.artifact.sha256,
        identity: this.artifact.identity,
        bytes: this.artifact.bytes,
        ...(this.artifact.url ? { url: this.artifact.url.redacted } : {}),
        ...(this.artifact.delta ? { files: this.artifact.delta.entries.length } : {}),
      },
      sentBytes: this.runs.reduce((sum, r) => sum + (r.record.sentBytes ?? 0), 0),
      plan: {
        waves: this.plan.waves.map((w) => w.hosts),
        maxFailures: this.plan.budget,
        maxParallel: this.plan.maxParallel,
        steps: { stage: this.plan.stage, switch: this.plan.switch, finish: this.plan.finish, revert: this.plan.revert },
      },
      waves: this.waveRecords,
      hosts: this.runs.map((r) => r.record),
      unhealthyAtStart: this.unhealthy,
      stopReason: this.stopReason,
      errors: this.errors,
    };
  }
}

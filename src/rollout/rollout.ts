// The rollout: preflight every host, stage the release everywhere, then switch wave by wave,
// watching health (and metrics during each bake); on too many failures, put every switched host back.
import { randomBytes } from 'node:crypto';
import { hostId, resolveCount, type HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { Semaphore, mapLimit, sleep as realSleep } from '../common/concurrency.js';
import { connectLoadBalancer, sharesBetween, splitOf, type LoadBalancer, type TrafficSplit } from '../lb/index.js';
import {
  EXIT,
  acquireLockCommand,
  appendLogCommand,
  linkSharedCommand,
  parseState,
  planPrune,
  readStateCommand,
  receiveArtifactCommand,
  refreshLockCommand,
  releaseLockCommand,
  removeReleasesCommand,
  switchCommand,
  unpackCommand,
  unsetCurrentCommand,
  userCommand,
  type HostState,
  type ReleaseEnv,
} from '../release/commands.js';
import { releasePath } from '../release/layout.js';
import type { Connector, RemoteSession } from '../ssh/types.js';
import type { PreparedArtifact } from './artifact.js';
import type { RolloutSettings } from './settings.js';
import { planWaves } from './waves.js';

export type StepName = 'connect' | 'lock' | 'upload' | 'unpack' | 'setup' | 'drain' | 'switch' | 'reload' | 'health' | 'rotation' | 'bake' | 'revert' | 'prune';

export interface StepRecord {
  name: StepName;
  start: number;
  end: number;
  ok: boolean;
  detail?: string;
}

export type HostOutcome = 'pending' | 'updated' | 'failed' | 'reverted' | 'revert-failed' | 'skipped';

export interface HostRecord {
  host: string;
  wave: number;
  previous: string;
  outcome: HostOutcome;
  reason?: string;
  uploaded: boolean;
  steps: StepRecord[];
}

export interface WaveRecord {
  index: number;
  hosts: string[];
  start?: number;
  end?: number;
  bake?: { start: number; end: number; verdict?: string; detail?: string };
  /** Share of requests per host on the load balancer: while this wave switched, and during a canary bake. */
  traffic?: TrafficSplit[];
}

export type RolloutResult = 'success' | 'reverted' | 'failed';

export interface RolloutReport {
  tool: 'fivestep/ssh-rollout';
  release: string;
  deployPath: string;
  dryRun: boolean;
  result: RolloutResult;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  artifact: { file: string; sha256: string; bytes: number };
  plan: { waves: string[][]; maxFailures: number; maxParallel: number };
  waves: WaveRecord[];
  hosts: HostRecord[];
  /** Why the rollout stopped early ('' when it did not). */
  stopReason: string;
  errors: string[];
}

/** During a canary bake: each host's share (0..1) of the requests the balancer sent since the bake began, by host id. */
export interface BakeTraffic {
  trafficShares: () => Promise<ReadonlyMap<string, number> | null>;
}

/** What a bake-time watch decided; `fail` stops the rollout and reverts it. */
export interface WatchOutcome {
  verdict: 'pass' | 'fail' | 'inconclusive';
  detail: string;
}

export interface HealthChecker {
  /** Retries until healthy or the timeout; resolves with ok=false and a reason otherwise. */
  (session: RemoteSession, host: HostSpec, env: ReleaseEnv): Promise<{ ok: boolean; detail: string }>;
}

export interface RolloutDeps {
  connector: Connector;
  logger: Logger;
  health: HealthChecker;
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
}

/** Host locks outlive one step, not a dead runner: renewed at each wave. */
const LOCK_TTL_SEC = 3600;

interface HostRun {
  spec: HostSpec;
  record: HostRecord;
  session?: RemoteSession;
  state?: HostState;
  locked: boolean;
  switched: boolean;
  /** Drained on the load balancer by this run and not yet put back. */
  outOfRotation?: boolean;
}

class StopSignal {
  reason = '';
  get stopped(): boolean {
    return this.reason !== '';
  }
  stop(reason: string): void {
    if (!this.reason) this.reason = reason;
  }
}

export async function rollout(settings: RolloutSettings, artifact: PreparedArtifact, deps: RolloutDeps): Promise<RolloutReport> {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? realSleep;
  const ssh = settings.ssh;
  const deployPath = ssh.deployPath;
  const release = settings.releaseId;
  const started = now();
  const token = `${deps.runUrl} ${randomBytes(8).toString('hex')}`;

  const runs: HostRun[] = ssh.hosts.map((spec) => ({
    spec,
    record: { host: hostId(spec), wave: 0, previous: '', outcome: 'pending', uploaded: false, steps: [] },
    locked: false,
    switched: false,
  }));
  const waves = planWaves(runs, settings.waves);
  waves.forEach((wave, i) => wave.forEach((r) => (r.record.wave = i + 1)));
  const allowedFailures = settings.maxFailures.kind === 'count' ? settings.maxFailures.value : resolveCount(settings.maxFailures, runs.length, 0);
  const stop = new StopSignal();
  const errors: string[] = [];
  const waveRecords: WaveRecord[] = waves.map((w, i) => ({ index: i + 1, hosts: w.map((r) => r.record.host) }));
  const onAbort = () => stop.stop('cancelled (the runner sent a signal)');
  deps.signal?.addEventListener('abort', onAbort);
  if (deps.signal?.aborted) onAbort();

  const lbSettings = settings.loadBalancer ?? null;
  let lb: LoadBalancer | undefined;
  let closeLb: (() => Promise<void>) | undefined;
  /** At most all-but-one in-rotation hosts drained at once, so the backend never empties. */
  let drainSlots: Semaphore | undefined;

  const failures = () => runs.filter((r) => r.record.outcome === 'failed' || r.record.outcome === 'revert-failed').length;
  const fail = (run: HostRun, reason: string) => {
    run.record.outcome = 'failed';
    run.record.reason = reason;
    logger.error(`${run.record.host}: ${reason}`);
    if (failures() > allowedFailures) {
      stop.stop(`${failures()} host(s) failed, more than max-failures (${allowedFailures})`);
    }
  };

  /** Runs one remote step, timing it; a non-zero exit throws with the step's stderr. */
  const step = async (run: HostRun, name: StepName, command: string, stdin?: Buffer): Promise<string> => {
    const start = now();
    const result = await run.session!.exec(command, stdin ? { stdin } : {});
    const ok = result.code === 0;
    const detail = ok ? undefined : (result.stderr.trim() || result.stdout.trim() || `exit ${result.code}`).split('\n').slice(-3).join(' | ');
    run.record.steps.push({ name, start, end: now(), ok, detail });
    if (!ok) throw new StepError(name, result.code, detail ?? '');
    return result.stdout;
  };

  const env = (run: HostRun): ReleaseEnv => ({ deployPath, releaseId: release, previousReleaseId: run.record.previous });

  logger.info(`Release ${release} → ${runs.length} host(s) at ${deployPath}`);
  logger.info(`Waves: ${waves.map((w, i) => `${i + 1}: ${w.map((r) => r.record.host).join(', ')}`).join(' · ')}`);
  logger.info(`max-failures ${allowedFailures}, max-parallel ${ssh.maxParallel}, artifact ${artifact.bytes} bytes sha256 ${artifact.sha256}`);

  const connect = async (run: HostRun) => {
    const start = now();
    try {
      run.session = await deps.connector(run.spec, ssh.credentials);
      run.record.steps.push({ name: 'connect', start, end: now(), ok: true });
    } catch (err) {
      const message = errorMessage(err);
      run.record.steps.push({ name: 'connect', start, end: now(), ok: false, detail: message });
      throw new StepError('connect', -1, message);
    }
  };

  try {
    if (settings.dryRun) {
      await logger.group('Dry run: host-key checks only', async () => {
        await mapLimit(runs, ssh.maxParallel, async (run) => {
          try {
            await connect(run);
            logger.info(`${run.record.host}: host key verified`);
          } catch (err) {
            fail(run, errorMessage(err));
          } finally {
            await run.session?.close();
            run.session = undefined;
          }
        });
      });
      printDryRunPlan(logger, settings, artifact, waves.map((w) => w.map((r) => r.record.host)));
      for (const run of runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
      return finish(failures() > allowedFailures ? 'reverted' : 'success');
    }

    // The balancer first: a host it does not know is an error before anything changes anywhere.
    if (lbSettings) await openBalancer();

    // Preflight: connect (verifying the host key), take the lock, read the state; nothing changes yet.
    await logger.group(`Preflight: ${runs.length} host(s)`, () =>
      mapLimit(runs, ssh.maxParallel, async (run) => {
        if (stop.stopped) return;
        try {
          await connect(run);
          await takeLock(run);
          run.state = parseState(await step(run, 'lock', readStateCommand(deployPath, release)));
          run.record.previous = run.state.current;
          logger.info(`${run.record.host}: connected, locked, current release ${run.record.previous || '(none)'}`);
        } catch (err) {
          fail(run, `preflight: ${errorMessage(err)}`);
        }
      }),
    );

    // Stage everywhere before any switch: a host whose release already holds the same content is not uploaded to again.
    if (!stop.stopped) {
      await logger.group(`Stage release ${release}`, () =>
        mapLimit(
          runs.filter((r) => r.record.outcome === 'pending'),
          ssh.maxParallel,
          async (run) => {
            if (stop.stopped) return;
            try {
              const present = run.state!.checksum === artifact.sha256 && run.state!.releases.some((r) => r.id === release);
              if (!present) {
                await step(run, 'upload', receiveArtifactCommand(deployPath, release, artifact.sha256), artifact.content);
                run.record.uploaded = true;
              }
              await step(run, 'unpack', unpackCommand(deployPath, release, artifact.sha256, artifact.format));
              if (settings.sharedPaths.length > 0) await step(run, 'unpack', linkSharedCommand(deployPath, release, settings.sharedPaths));
              if (settings.setupCommand) await step(run, 'setup', userCommand(releasePath(deployPath, release), settings.setupCommand, env(run)));
              logger.info(`${run.record.host}: staged${present ? ' (already uploaded)' : ''}`);
            } catch (err) {
              fail(run, `stage: ${errorMessage(err)}`);
            }
          },
        ),
      );
    }

    for (const [i, wave] of waves.entries()) {
      if (stop.stopped) break;
      const record = waveRecords[i];
      record.start = now();
      const ready = wave.filter((r) => r.record.outcome === 'pending');
      await logger.group(`Wave ${i + 1}/${waves.length}: ${wave.map((r) => r.record.host).join(', ')}`, async () => {
        await mapLimit(ready, ssh.maxParallel, async (run) => {
          if (stop.stopped) return;
          await (drainSlots ? drainSlots.run(() => switchHost(run)) : switchHost(run));
        });
      });
      record.end = now();
      if (lb) record.traffic = [lb.split(`wave ${i + 1} switching (each host out while it switches)`, ready.map((r) => r.record.host))];
      // Runner log groups cannot nest: each host's steps get their own group after its wave's.
      for (const run of ready) await logHostSteps(run, i + 1);
      if (stop.stopped || i === waves.length - 1 || settings.waveWaitMs <= 0) continue;
      await bakeWithCanary(i, record, wave);
    }

    if (stop.stopped) {
      logger.error(`Rollout stopped: ${stop.reason}`);
      await logger.group('Revert switched hosts', () =>
        mapLimit(
          runs.filter((r) => r.switched),
          ssh.maxParallel,
          (run) => revertHost(run, stop.reason),
        ),
      );
      for (const run of runs) if (run.record.outcome === 'pending') run.record.outcome = 'skipped';
      const stuck = runs.filter((r) => r.record.outcome === 'revert-failed');
      return finish(stuck.length > 0 ? 'failed' : 'reverted');
    }

    await logger.group('Record and prune', () =>
      mapLimit(
        runs.filter((r) => r.record.outcome === 'updated'),
        ssh.maxParallel,
        async (run) => {
          try {
            await step(run, 'prune', appendLogCommand(deployPath, logEntry(run, 'success')));
            const after = parseState(await step(run, 'prune', readStateCommand(deployPath)));
            const prune = planPrune(after, settings.keepReleases, [release, run.record.previous]);
            if (prune.length > 0) {
              await step(run, 'prune', removeReleasesCommand(deployPath, prune));
              logger.info(`${run.record.host}: pruned ${prune.join(', ')}`);
            }
          } catch (err) {
            errors.push(`${run.record.host}: record/prune: ${errorMessage(err)}`);
            logger.warning(`${run.record.host}: could not record or prune: ${errorMessage(err)}`);
          }
        },
      ),
    );
    return finish('success');
  } finally {
    deps.signal?.removeEventListener('abort', onAbort);
    await closeBalancer();
    await mapLimit(runs, ssh.maxParallel, async (run) => {
      if (run.session && run.locked) {
        await run.session.exec(releaseLockCommand(deployPath, token)).catch((err) => {
          logger.warning(`${run.record.host}: could not release the lock: ${errorMessage(err)}`);
        });
      }
      await run.session?.close().catch(() => undefined);
    });
  }

  async function takeLock(run: HostRun): Promise<void> {
    const deadline = now() + settings.lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const nowSec = Math.floor(now() / 1000);
      const result = await run.session!.exec(acquireLockCommand(deployPath, deps.runUrl, token, nowSec, LOCK_TTL_SEC));
      const out = result.stdout.trim();
      if (result.code === 0) {
        run.locked = true;
        if (out.startsWith('took-over')) logger.warning(`${run.record.host}: took over an expired lock held by ${out.slice(10) || 'an unknown run'}`);
        return;
      }
      if (result.code !== EXIT.lockHeld) throw new StepError('lock', result.code, result.stderr.trim() || out);
      const [, holder = 'unknown', expires = ''] = /^held (\S*) ?(\S*)/.exec(out) ?? [];
      if (now() >= deadline || stop.stopped) {
        const until = Number(expires) ? ` until ${new Date(Number(expires) * 1000).toISOString()}` : '';
        throw new StepError('lock', result.code, `locked by another rollout: ${holder}${until} (lock-timeout ${settings.lockTimeoutMs / 1000}s)`);
      }
      if (attempt === 0) logger.info(`${run.record.host}: waiting for the lock held by ${holder}`);
      await sleep(Math.min(1000, Math.max(50, deadline - now())));
    }
  }

  async function logHostSteps(run: HostRun, wave: number): Promise<void> {
    const r = run.record;
    const total = r.steps.length ? Math.max(...r.steps.map((x) => x.end)) - Math.min(...r.steps.map((x) => x.start)) : 0;
    await logger.group(`${r.host} · wave ${wave} · ${r.outcome} · ${total} ms`, async () => {
      for (const x of r.steps) logger.info(`${x.ok ? 'ok ' : 'ERR'} ${x.name.padEnd(7)} ${String(x.end - x.start).padStart(6)} ms${x.detail ? `  ${x.detail}` : ''}`);
    });
  }

  async function switchHost(run: HostRun): Promise<void> {
    try {
      if (lb && lbSettings?.drain) await lbOut(run);
      await step(run, 'switch', switchCommand(deployPath, release));
      run.switched = true;
      // Logged at once so auto-revert finds this release even if the runner dies before the end.
      await step(run, 'switch', appendLogCommand(deployPath, logEntry(run, 'switched')));
      if (ssh.reloadCommand) await step(run, 'reload', userCommand(`${deployPath}/current`, ssh.reloadCommand, env(run)));
      if (ssh.healthCommand || ssh.healthUrl) {
        const start = now();
        const health = await deps.health(run.session!, run.spec, env(run));
        run.record.steps.push({ name: 'health', start, end: now(), ok: health.ok, detail: health.detail });
        if (!health.ok) throw new StepError('health', -1, health.detail);
      }
      if (run.outOfRotation) await lbIn(run);
      run.record.outcome = 'updated';
      logger.info(`${run.record.host}: on ${release}${ssh.healthCommand || ssh.healthUrl ? ', healthy' : ''}`);
    } catch (err) {
      fail(run, errorMessage(err));
      // Within max-failures the rollout goes on, but this host must not stay on a release that failed on it.
      if (run.switched && !stop.stopped) await revertHost(run, errorMessage(err), true);
    }
  }

  async function bake(record: WaveRecord, wave: HostRun[], traffic?: BakeTraffic): Promise<void> {
    const start = now();
    const hosts = wave.filter((r) => r.record.outcome === 'updated').map((r) => r.spec);
    if (deps.watch && settings.watch && hosts.length > 0) {
      const controller = new AbortController();
      const relay = () => controller.abort();
      deps.signal?.addEventListener('abort', relay);
      try {
        const outcome = await logger.group(`Bake ${settings.waveWaitMs / 1000}s, watching metrics of wave ${record.index}`, () =>
          deps.watch!(hosts, settings.waveWaitMs, controller.signal, traffic),
        );
        record.bake = { start, end: now(), verdict: outcome.verdict, detail: outcome.detail };
        if (outcome.verdict === 'fail') stop.stop(`metric watch failed during the bake of wave ${record.index}: ${outcome.detail}`);
      } catch (err) {
        record.bake = { start, end: now(), verdict: 'error', detail: errorMessage(err) };
        stop.stop(`metric watch could not run during the bake of wave ${record.index}: ${errorMessage(err)}`);
      } finally {
        deps.signal?.removeEventListener('abort', relay);
      }
      return;
    }
    logger.info(`Bake: waiting ${settings.waveWaitMs / 1000}s before the next wave`);
    const end = start + settings.waveWaitMs;
    while (now() < end && !stop.stopped) await sleep(Math.min(250, end - now()));
    record.bake = { start, end: now() };
    for (const run of runs.filter((r) => r.locked && r.session)) {
      await run.session!.exec(refreshLockCommand(deployPath, token, deps.runUrl, Math.floor(now() / 1000) + LOCK_TTL_SEC)).catch(() => undefined);
    }
  }

  /** Puts a switched host back on its previous release and reloads it. */
  async function revertHost(run: HostRun, reason: string, keepOutcome = false): Promise<void> {
    const start = now();
    const previous = run.record.previous;
    try {
      // The balancer never blocks a revert: a drain that fails is a warning.
      if (lb && lbSettings?.drain && !run.outOfRotation) await lbOut(run).catch((e) => logger.warning(`${run.record.host}: ${errorMessage(e)}`));
      const command = previous ? switchCommand(deployPath, previous) : unsetCurrentCommand(deployPath);
      const result = await run.session!.exec(command);
      if (result.code !== 0) throw new Error(result.stderr.trim() || `exit ${result.code}`);
      run.switched = false;
      if (previous && ssh.reloadCommand) {
        const back: ReleaseEnv = { deployPath, releaseId: previous, previousReleaseId: release };
        const reload = await run.session!.exec(userCommand(`${deployPath}/current`, ssh.reloadCommand, back));
        if (reload.code !== 0) throw new Error(`reload after revert: ${reload.stderr.trim() || `exit ${reload.code}`}`);
      }
      await run.session!.exec(appendLogCommand(deployPath, { ...logEntry(run, 'reverted'), reason }));
      // Back in rotation on the release it served before (a host with no release left stays out).
      if (run.outOfRotation && previous) await lbIn(run).catch((e) => logger.warning(`${run.record.host}: ${errorMessage(e)}`));
      run.record.steps.push({ name: 'revert', start, end: now(), ok: true, detail: `back on ${previous || '(no release)'}` });
      // A host that failed stays 'failed' (with its reason) after being put back, so `failed-hosts` names
      // it; only hosts reverted because of another host's failure become 'reverted'.
      if (!keepOutcome && run.record.outcome !== 'failed') run.record.outcome = 'reverted';
      logger.info(`${run.record.host}: reverted to ${previous || '(no release)'}`);
    } catch (err) {
      const message = errorMessage(err);
      run.record.steps.push({ name: 'revert', start, end: now(), ok: false, detail: message });
      run.record.outcome = 'revert-failed';
      run.record.reason = `${run.record.reason ? run.record.reason + '; ' : ''}could not be put back on ${previous || '(no release)'}: ${message}`;
      logger.error(`${run.record.host}: COULD NOT BE REVERTED to ${previous || '(no release)'}: ${message}`);
    }
  }

  async function openBalancer(): Promise<void> {
    const s = lbSettings!;
    if (deps.loadBalancer) lb = deps.loadBalancer;
    else {
      const opened = await connectLoadBalancer(s, deps.connector, ssh.credentials);
      lb = opened.lb;
      closeLb = opened.close;
    }
    await lb.inspect(ssh.hosts);
    const before = lb.split('before the rollout');
    const inRotation = Object.values(before.share).filter((x) => x > 0).length;
    if (s.drain) drainSlots = new Semaphore(Math.max(1, inRotation - 1));
    logger.info(
      `Load balancer ${s.kind} ${hostId(s.host)} '${s.backend}': ${Object.entries(before.share).map(([h, x]) => `${h} ${x}%`).join(', ')}` +
        `${s.drain ? `; drain on (timeout ${s.drainTimeoutMs / 1000}s, at most ${Math.max(1, inRotation - 1)} host(s) out at once)` : '; drain off'}` +
        `${s.canaryShare !== null ? `; canary weight ${Math.round(s.canaryShare * 1000) / 10}% during wave 1's bake` : ''}`,
    );
    if (s.canaryShare !== null && (waves.length < 2 || settings.waveWaitMs <= 0)) {
      logger.warning('canary-weight is set but wave 1 has no bake (it needs wave-wait > 0 and a second wave): weights stay as they are');
    }
  }

  /** Weights and states back as captured, whatever happened; then the session closes. */
  async function closeBalancer(): Promise<void> {
    if (!lb) return;
    try {
      await lb.restore();
      logger.info('Load balancer: weights and states restored');
    } catch (err) {
      errors.push(`load balancer: could not restore weights and states: ${errorMessage(err)}`);
      logger.error(errors[errors.length - 1]);
    }
    await closeLb?.().catch(() => undefined);
  }

  async function lbOut(run: HostRun): Promise<void> {
    const start = now();
    try {
      run.outOfRotation = true;
      const { left } = await lb!.drain(run.record.host, lbSettings!.drainTimeoutMs);
      const detail = left > 0 ? `drain-timeout reached with ${left} request(s) in flight` : 'out of rotation, no request in flight';
      run.record.steps.push({ name: 'drain', start, end: now(), ok: true, detail });
      if (left > 0) logger.warning(`${run.record.host}: ${detail}`);
    } catch (err) {
      run.record.steps.push({ name: 'drain', start, end: now(), ok: false, detail: errorMessage(err) });
      throw new StepError('drain', -1, errorMessage(err));
    }
  }

  async function lbIn(run: HostRun): Promise<void> {
    const start = now();
    try {
      await lb!.enable(run.record.host);
      run.outOfRotation = false;
      run.record.steps.push({ name: 'rotation', start, end: now(), ok: true, detail: 'back in rotation' });
    } catch (err) {
      run.record.steps.push({ name: 'rotation', start, end: now(), ok: false, detail: errorMessage(err) });
      throw new StepError('rotation', -1, errorMessage(err));
    }
  }

  /** Wave 1 bakes with its canary weight on the balancer; weights go back before anything else happens. */
  async function bakeWithCanary(index: number, record: WaveRecord, wave: HostRun[]): Promise<void> {
    const share = lbSettings?.canaryShare ?? null;
    const canary = wave.filter((r) => r.record.outcome === 'updated').map((r) => r.record.host);
    if (!lb || index !== 0 || share === null || canary.length === 0) return bake(record, wave);
    try {
      const split = await lb.setCanary(canary, share);
      (record.traffic ??= []).push(split);
      logger.info(`Canary: ${Object.entries(split.share).map(([h, x]) => `${h} ${x}%`).join(', ')}`);
    } catch (err) {
      stop.stop(`load balancer: could not set the canary weight: ${errorMessage(err)}`);
      return;
    }
    // The balancer's request counters from here on give each host's measured share during the bake.
    const counted = await lb.requestCounts().catch((err) => {
      logger.warning(`load balancer: cannot count requests per host (${errorMessage(err)}): volume rules are compared unscaled`);
      return null;
    });
    const measure = async () => (counted ? sharesBetween(counted, await lb!.requestCounts()) : null);
    const traffic: BakeTraffic = {
      trafficShares: async () => {
        const measured = await measure().catch(() => null);
        return measured ? new Map(Object.entries(measured.share)) : null;
      },
    };
    try {
      await bake(record, wave, traffic);
      const measured = await measure().catch(() => null);
      if (measured) {
        const split = splitOf(`${measured.measured ? 'measured' : 'configured'} during the bake (${measured.total} ${measured.measured ? 'requests' : 'weight'})`, measured.share);
        record.traffic!.push(split);
        logger.info(`Canary traffic ${split.label}: ${Object.entries(split.share).map(([h, x]) => `${h} ${x}%`).join(', ')}`);
      }
    } finally {
      try {
        await lb.endCanary();
        logger.info('Canary weights back to normal');
      } catch (err) {
        stop.stop(`load balancer: could not end the canary weight: ${errorMessage(err)}`);
      }
    }
  }

  function logEntry(run: HostRun, result: string) {
    return { time: new Date(now()).toISOString(), action: 'rollout' as const, release, previous: run.record.previous, run: deps.runUrl, result };
  }

  function finish(result: RolloutResult): RolloutReport {
    const finished = now();
    return {
      tool: 'fivestep/ssh-rollout',
      release,
      deployPath,
      dryRun: settings.dryRun,
      result,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      artifact: { file: artifact.file, sha256: artifact.sha256, bytes: artifact.bytes },
      plan: { waves: waves.map((w) => w.map((r) => r.record.host)), maxFailures: allowedFailures, maxParallel: ssh.maxParallel },
      waves: waveRecords,
      hosts: runs.map((r) => r.record),
      stopReason: stop.reason,
      errors,
    };
  }
}

export class StepError extends Error {
  constructor(
    readonly step: StepName,
    readonly code: number,
    detail: string,
  ) {
    super(`${step} failed${code >= 0 ? ` (exit ${code})` : ''}: ${detail}`);
    this.name = 'StepError';
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function printDryRunPlan(logger: Logger, settings: RolloutSettings, artifact: PreparedArtifact, waves: string[][]): void {
  const ssh = settings.ssh;
  const env: ReleaseEnv = { deployPath: ssh.deployPath, releaseId: settings.releaseId, previousReleaseId: '<current>' };
  logger.info(`Dry run: nothing will change. Release ${settings.releaseId}, artifact ${artifact.bytes} bytes, sha256 ${artifact.sha256}`);
  waves.forEach((w, i) => logger.info(`  wave ${i + 1}: ${w.join(', ')}`));
  logger.info('Commands each host would run, in order:');
  const commands: [string, string][] = [
    ['upload (artifact on stdin)', receiveArtifactCommand(ssh.deployPath, settings.releaseId, artifact.sha256)],
    ['unpack', unpackCommand(ssh.deployPath, settings.releaseId, artifact.sha256, artifact.format)],
  ];
  if (settings.sharedPaths.length) commands.push(['link shared paths', linkSharedCommand(ssh.deployPath, settings.releaseId, settings.sharedPaths)]);
  if (settings.setupCommand) commands.push(['setup', userCommand(releasePath(ssh.deployPath, settings.releaseId), settings.setupCommand, env)]);
  commands.push(['switch', switchCommand(ssh.deployPath, settings.releaseId)]);
  if (ssh.reloadCommand) commands.push(['reload', userCommand(`${ssh.deployPath}/current`, ssh.reloadCommand, env)]);
  if (ssh.healthCommand) commands.push(['health', userCommand(`${ssh.deployPath}/current`, ssh.healthCommand, env)]);
  if (ssh.healthUrl) commands.push(['health (from the runner)', `GET ${ssh.healthUrl}`]);
  for (const [name, command] of commands) logger.info(`  # ${name}\n${command.replace(/^/gm, '    ')}`);
}

// The release engine's side of the load balancer, for a rollout and a revert alike: open it, take a
// host out of rotation while it switches (never the last server in rotation), put it back once healthy
// (an unhealthy host stays out, also after the run), hold wave 1's canary weight during its bake, and
// at the end restore it (a rollout) or settle it on who is healthy (a revert).
import { errorMessage } from '../common/errors.js';
import { hostId, type HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import type { ReleaseHost } from './host.js';
import {
  appPorts,
  connectLoadBalancer,
  RequestSeries,
  sharesBetween,
  splitOf,
  type LoadBalancer,
  type RolloutLbSettings,
  type TimedCounts,
  type TimeWindow,
  type TrafficShares,
  type TrafficSplit,
} from '../lb/index.js';
import type { Connector, SshCredentials } from '../ssh/types.js';
import { settleOf, type SettledHost } from './settle.js';
import { formatDurationInput } from '../common/format.js';

/** During a canary bake: each host's share (0..1) of the requests the balancer sent, by host id. */
export interface BakeTraffic {
  /**
   * Over `window` (ms), e.g. the span a volume rule's rate covers, which may start before the bake and before
   * the canary's drain; without one, since the bake began.
   */
  trafficShares: (window?: TimeWindow) => Promise<ReadonlyMap<string, number> | null>;
}

/**
 * Why a host is out of rotation: `switching` (drained for its switch or its revert; it comes back once
 * healthy) or `unhealthy` (not healthy after its revert: it stays out, also after the run).
 */
type OutOfRotation = 'switching' | 'unhealthy';

export class Balancer {
  private readonly out = new Map<string, OutOfRotation>();
  /** Drains waiting for another server to come back (see drain). */
  private waiting: (() => void)[] = [];
  /**
   * With canary-weight, the request counters read from open until wave 1's bake ends: before each change and at
   * each reading of the bake, so a share can be taken over a rate's window that starts before the drain.
   */
  private requests: RequestSeries | null = null;
  /** The read of the counters in flight, and when it began: rules read at one instant share it. */
  private reading?: { start: number; done: Promise<unknown> };

  private constructor(
    readonly settings: RolloutLbSettings,
    private readonly lb: LoadBalancer,
    private readonly closeSession: () => Promise<void>,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Connects and matches every host to its server; a host the balancer does not know, or a mapping that is
   * not one server per host and one host per server, fails here, before anything changes.
   */
  static async open(
    settings: RolloutLbSettings,
    hosts: HostSpec[],
    io: {
      connector: Connector;
      credentials: SshCredentials;
      logger: Logger;
      provider?: LoadBalancer;
      needPorts?: boolean;
      /** The clock of the counters' readings: the metric watch's (Date.now). */
      now?: () => number;
    },
  ): Promise<Balancer> {
    const opened = io.provider
      ? { lb: io.provider, close: async () => undefined }
      : await connectLoadBalancer(settings, io.connector, io.credentials);
    const balancer = new Balancer(settings, opened.lb, opened.close, io.logger, io.now ?? Date.now);
    try {
      await opened.lb.inspect(hosts, settings.servers);
      if (io.needPorts) appPorts(opened.lb, hosts);
    } catch (err) {
      await opened.close().catch(() => undefined);
      throw err;
    }
    const before = opened.lb.split('before the rollout');
    const drain = settings.drain
      ? `; drain on (timeout ${formatDurationInput(settings.drainTimeoutMs)}; ` +
        'a host is drained only while another server stays in rotation)'
      : '; drain off';
    const canary =
      settings.canaryShare !== null
        ? `; canary weight ${Math.round(settings.canaryShare * 1000) / 10}% during wave 1's bake`
        : '';
    const where = `${settings.kind} ${hostId(settings.host)} '${settings.backend}'`;
    io.logger.info(`Load balancer ${where}: ${formatShares(before)}${drain}${canary}`);
    if (settings.canaryShare !== null) {
      // The first reading, before anything changes: a window reaching back past it takes the balancer as found.
      balancer.requests = new RequestSeries();
      await balancer.beforeChange();
    }
    return balancer;
  }

  /** The port of the host's server (`{port}` in health-url); undefined for a Unix-socket server. */
  appPort(host: string): number | undefined {
    return this.lb.serverOf(host).port || undefined;
  }

  /** The balancer has the host's server in rotation. */
  inRotation(host: string): boolean {
    return this.lb.serverOf(host).state === 'ready';
  }

  isOut(host: ReleaseHost): boolean {
    return this.out.has(host.id);
  }

  /**
   * Out of rotation, waiting for in-flight requests up to drain-timeout; but never the last server in
   * rotation (at least one healthy server stays in rotation at every moment). While the others are
   * out switching, this waits for one to come back; when none will (the others are out for good), the
   * host switches in rotation, undrained, and the log says so. `stopped` (checked while waiting, and
   * on wake()): the rollout has stopped, so the host is left as it is and nothing is drained.
   */
  async drain(host: ReleaseHost, stopped: () => boolean = () => false): Promise<'drained' | 'in-rotation' | 'stopped'> {
    for (;;) {
      const others = this.lb.inRotation([...this.out.keys(), host.id]);
      if (others > 0) break;
      if (stopped()) return 'stopped';
      const comingBack = [...this.out].some(([id, why]) => id !== host.id && why === 'switching');
      if (!comingBack) {
        this.logger.warning(
          `${host.id}: not drained: it is the last server of '${this.settings.backend}' in rotation, so it ` +
            `switches while serving`,
        );
        return 'in-rotation';
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.out.set(host.id, 'switching');
    await this.beforeChange();
    const { left } = await host.timed(
      'drain',
      () => this.lb.drain(host.id, this.settings.drainTimeoutMs),
      (r) =>
        r.left > 0
          ? `drain-timeout reached with ${r.left} request(s) in flight`
          : 'out of rotation, no request in flight',
    );
    if (left > 0) this.logger.warning(`${host.id}: drain-timeout reached with ${left} request(s) in flight`);
    return 'drained';
  }

  /** Back in rotation: only ever called once the host's health check has passed. */
  async enable(host: ReleaseHost): Promise<void> {
    await this.beforeChange();
    await host.timed(
      'rotation',
      () => this.lb.enable(host.id),
      () => 'back in rotation',
    );
    this.out.delete(host.id);
    this.wake();
  }

  /** Not healthy: stays out of rotation, now and after the run. */
  keepOut(host: ReleaseHost, why: string): void {
    this.out.set(host.id, 'unhealthy');
    this.logger.error(`${host.id}: stays out of rotation: ${why}`);
    this.wake();
  }

  /** Drains waiting for a server to come back look again (a host failed, or the rollout stopped). */
  wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  split(label: string, out: string[]): TrafficSplit {
    return this.lb.split(label, out);
  }

  /**
   * Runs wave 1's bake with the canary weight set; weights go back before anything else happens.
   * Returns the splits to record (set, and measured during the bake), or throws when the weight cannot be set.
   */
  async withCanary(
    canary: string[],
    share: number,
    bake: (traffic: BakeTraffic) => Promise<void>,
  ): Promise<TrafficSplit[]> {
    await this.beforeChange();
    const splits = [await this.lb.setCanary(canary, share)];
    this.logger.info(`Canary: ${formatShares(splits[0])}`);
    const requests = (this.requests ??= new RequestSeries());
    try {
      // The balancer's request counters from here on give each host's measured share during the bake.
      const counted = await this.readCounts().catch((err) => {
        this.logger.warning(
          `load balancer: cannot count requests per host (${errorMessage(err)}): volume rules are compared unscaled`,
        );
        return null;
      });
      if (counted) requests.add(counted);
      const measure = async () => (counted ? sharesBetween(counted.counts, await this.lb.requestCounts()) : null);
      const over = async (w: TimeWindow): Promise<TrafficShares | null> => {
        if (!counted) return null;
        await this.readingSince(w.to);
        return requests.sharesOver(w.from, w.to);
      };
      await bake({
        trafficShares: async (window) => {
          const measured = await (window ? over(window) : measure()).catch(() => null);
          return measured ? new Map(Object.entries(measured.share)) : null;
        },
      });
      const measured = await measure().catch(() => null);
      if (measured) {
        const split = splitOf(
          `${measured.measured ? 'measured' : 'configured'} during the bake (${measured.total} ` +
            `${measured.measured ? 'requests' : 'weight'})`,
          measured.share,
        );
        splits.push(split);
        this.logger.info(`Canary traffic ${split.label}: ${formatShares(split)}`);
      }
    } finally {
      this.requests = null;
      await this.lb.endCanary();
      this.logger.info('Canary weights back to normal');
    }
    return splits;
  }

  /** The counters, timed at the middle of their read. */
  private async readCounts(): Promise<TimedCounts> {
    const start = this.now();
    const counts = await this.lb.requestCounts();
    return { t: (start + this.now()) / 2, counts };
  }

  /**
   * While recording: the counters just before a change of the balancer, where the traffic's split changes (a
   * drained canary gets nothing until it is back). Best effort: a window is then interpolated over a longer span.
   */
  private async beforeChange(): Promise<void> {
    const requests = this.requests;
    if (!requests || requests.full) return;
    const reading = await this.readCounts().catch(() => null);
    if (reading) requests.add(reading);
  }

  /** A reading taken at `to` or later, so a window ending at `to` is measured, not extrapolated. */
  private async readingSince(to: number): Promise<void> {
    const requests = this.requests;
    if (!requests || (requests.latest?.t ?? -Infinity) >= to) return;
    if (!this.reading || this.reading.start < to) {
      const start = this.now();
      const done = this.readCounts().then((r) => requests.add(r));
      this.reading = { start, done: done.catch(() => undefined) };
    }
    await this.reading.done;
  }

  /**
   * After a revert: hosts healthy on their release in rotation with their configured weight, the others
   * out, but never the last server in rotation (settleOf); then the session closes. Returns an error text or ''.
   */
  async settle(report: { hosts: readonly SettledHost[] }): Promise<string> {
    try {
      const { ready, out, kept } = settleOf(report, this.lb);
      await this.lb.settle(ready, out);
      const outText = out.length ? `; out of rotation (not healthy): ${out.join(', ')}` : '';
      this.logger.info(`Load balancer: ${ready.length} host(s) in rotation with their configured weight${outText}`);
      if (kept.length) {
        this.logger.error(
          `Load balancer: ${kept.join(', ')} not healthy but left as they are: ` +
            `taking them out would leave no server of '${this.settings.backend}' in rotation`,
        );
      }
      return '';
    } catch (err) {
      const error = `load balancer: ${errorMessage(err)}`;
      this.logger.error(error);
      return error;
    } finally {
      await this.closeSession().catch(() => undefined);
    }
  }

  /** Closes the session and changes nothing. */
  async leave(): Promise<void> {
    await this.closeSession().catch(() => undefined);
  }

  /**
   * Weights and states back as captured, whatever happened, but a host still out of rotation (not healthy,
   * or never back) stays out; then the session closes. Returns an error text or '', and who stays out.
   */
  async close(): Promise<{ error: string; out: string[] }> {
    let error = '';
    const keepOut = [...this.out.keys()];
    try {
      await this.lb.restore(keepOut);
      this.logger.info(
        `Load balancer: weights and states ` +
          `restored${keepOut.length ? `; ${keepOut.join(', ')} left out of rotation (not healthy)` : ''}`,
      );
    } catch (err) {
      error = `load balancer: could not restore weights and states: ${errorMessage(err)}`;
      this.logger.error(error);
    }
    await this.closeSession().catch(() => undefined);
    return { error, out: keepOut };
  }
}

function formatShares(split: TrafficSplit): string {
  return Object.entries(split.share)
    .map(([h, x]) => `${h} ${x}%`)
    .join(', ');
}

// The rollout's side of the load balancer: open and restore it, take a host out of rotation while
// it switches (never emptying the backend), put it back, and hold wave 1's canary weight during its bake.
import { errorMessage } from '../common/errors.js';
import { hostId, type HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { Semaphore } from '../common/concurrency.js';
import type { ReleaseHost } from '../engine/host.js';
import { connectLoadBalancer, sharesBetween, splitOf, type LoadBalancer, type RolloutLbSettings, type TrafficSplit } from '../lb/index.js';
import type { Connector, SshCredentials } from '../ssh/types.js';

/** During a canary bake: each host's share (0..1) of the requests the balancer sent since the bake began, by host id. */
export interface BakeTraffic {
  trafficShares: () => Promise<ReadonlyMap<string, number> | null>;
}

export class Balancer {
  /** At most all-but-one in-rotation hosts drained at once, so the backend never empties. */
  private drainSlots?: Semaphore;
  private readonly out = new Set<string>();

  private constructor(
    readonly settings: RolloutLbSettings,
    private readonly lb: LoadBalancer,
    private readonly closeSession: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Connects and matches every host; a host the balancer does not know fails here, before anything changes. */
  static async open(settings: RolloutLbSettings, hosts: HostSpec[], io: { connector: Connector; credentials: SshCredentials; logger: Logger; provider?: LoadBalancer }): Promise<Balancer> {
    const opened = io.provider ? { lb: io.provider, close: async () => undefined } : await connectLoadBalancer(settings, io.connector, io.credentials);
    const balancer = new Balancer(settings, opened.lb, opened.close, io.logger);
    try {
      await opened.lb.inspect(hosts);
    } catch (err) {
      await opened.close().catch(() => undefined);
      throw err;
    }
    const before = opened.lb.split('before the rollout');
    const inRotation = Object.values(before.share).filter((x) => x > 0).length;
    if (settings.drain) balancer.drainSlots = new Semaphore(Math.max(1, inRotation - 1));
    io.logger.info(
      `Load balancer ${settings.kind} ${hostId(settings.host)} '${settings.backend}': ${formatShares(before)}` +
        `${settings.drain ? `; drain on (timeout ${settings.drainTimeoutMs / 1000}s, at most ${Math.max(1, inRotation - 1)} host(s) out at once)` : '; drain off'}` +
        `${settings.canaryShare !== null ? `; canary weight ${Math.round(settings.canaryShare * 1000) / 10}% during wave 1's bake` : ''}`,
    );
    return balancer;
  }

  /** Runs a host's switch inside a drain slot. */
  inSlot<T>(fn: () => Promise<T>): Promise<T> {
    return this.drainSlots ? this.drainSlots.run(fn) : fn();
  }

  isOut(host: ReleaseHost): boolean {
    return this.out.has(host.id);
  }

  /** Out of rotation, waiting for in-flight requests up to drain-timeout. */
  async drain(host: ReleaseHost): Promise<void> {
    this.out.add(host.id);
    const { left } = await host.timedStep(
      'drain',
      () => this.lb.drain(host.id, this.settings.drainTimeoutMs),
      (r) => (r.left > 0 ? `drain-timeout reached with ${r.left} request(s) in flight` : 'out of rotation, no request in flight'),
    );
    if (left > 0) this.logger.warning(`${host.id}: drain-timeout reached with ${left} request(s) in flight`);
  }

  async enable(host: ReleaseHost): Promise<void> {
    await host.timedStep('rotation', () => this.lb.enable(host.id), () => 'back in rotation');
    this.out.delete(host.id);
  }

  split(label: string, out: string[]): TrafficSplit {
    return this.lb.split(label, out);
  }

  /**
   * Runs wave 1's bake with the canary weight set; weights go back before anything else happens.
   * Returns the splits to record (set, and measured during the bake), or throws when the weight cannot be set.
   */
  async withCanary(canary: string[], share: number, bake: (traffic: BakeTraffic) => Promise<void>): Promise<TrafficSplit[]> {
    const splits = [await this.lb.setCanary(canary, share)];
    this.logger.info(`Canary: ${formatShares(splits[0])}`);
    try {
      // The balancer's request counters from here on give each host's measured share during the bake.
      const counted = await this.lb.requestCounts().catch((err) => {
        this.logger.warning(`load balancer: cannot count requests per host (${errorMessage(err)}): volume rules are compared unscaled`);
        return null;
      });
      const measure = async () => (counted ? sharesBetween(counted, await this.lb.requestCounts()) : null);
      await bake({
        trafficShares: async () => {
          const measured = await measure().catch(() => null);
          return measured ? new Map(Object.entries(measured.share)) : null;
        },
      });
      const measured = await measure().catch(() => null);
      if (measured) {
        const split = splitOf(`${measured.measured ? 'measured' : 'configured'} during the bake (${measured.total} ${measured.measured ? 'requests' : 'weight'})`, measured.share);
        splits.push(split);
        this.logger.info(`Canary traffic ${split.label}: ${formatShares(split)}`);
      }
    } finally {
      await this.lb.endCanary();
      this.logger.info('Canary weights back to normal');
    }
    return splits;
  }

  /** Weights and states back as captured, whatever happened; then the session closes. Returns an error text or ''. */
  async close(): Promise<string> {
    let error = '';
    try {
      await this.lb.restore();
      this.logger.info('Load balancer: weights and states restored');
    } catch (err) {
      error = `load balancer: could not restore weights and states: ${errorMessage(err)}`;
      this.logger.error(error);
    }
    await this.closeSession().catch(() => undefined);
    return error;
  }
}

function formatShares(split: TrafficSplit): string {
  return Object.entries(split.share)
    .map(([h, x]) => `${h} ${x}%`)
    .join(', ');
}

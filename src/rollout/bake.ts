// A wave's bake: wait it out, or run the metric watch over the wave's updated hosts, at the canary
// weight when one is set (wave 1 behind a balancer). A fail verdict stops the rollout.
import { errorMessage } from '../common/errors.js';
import type { HostSpec } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import type { BakeTraffic, Balancer } from '../engine/balancer.js';
import type { WaveRecord } from './record.js';
import { formatDurationInput } from '../common/format.js';

/** What a bake-time watch decided; `fail` stops the rollout and reverts it. */
export interface WatchOutcome {
  verdict: 'pass' | 'fail' | 'inconclusive';
  detail: string;
}

/**
 * Runs the metric watch over a wave's hosts during its bake; `bake` carries the canary's measured traffic and
 * how many bakes the rollout plans (the judge splits its false-fail budget over them).
 */
export type BakeWatch = (
  waveHosts: HostSpec[],
  durationMs: number,
  signal: AbortSignal,
  bake?: Partial<BakeTraffic> & { bakes?: number },
) => Promise<WatchOutcome>;

export interface Bake {
  ms: number;
  record: WaveRecord;
  /** The wave's updated hosts. */
  hosts: HostSpec[];
  /** How many bakes the rollout plans. */
  bakes: number;
  /** Wave 1 behind a balancer with canary-weight: its share of requests during the bake. */
  canary: { balancer: Balancer; share: number; hosts: string[] } | null;
  watch: BakeWatch | null;
  log: Logger;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  /** Stops the rollout, with why. */
  stop: (reason: string) => void;
  stopped: () => boolean;
}

export async function bakeWave(b: Bake): Promise<void> {
  if (!b.canary) return bakeFor(b);
  try {
    const { balancer, share, hosts } = b.canary;
    const splits = await balancer.withCanary(hosts, share, (traffic) => bakeFor(b, traffic));
    (b.record.traffic ??= []).push(...splits);
  } catch (err) {
    b.stop(`load balancer: canary weight: ${errorMessage(err)}`);
  }
}

/** Waits out the bake, or runs the metric watch over the wave's updated hosts. */
async function bakeFor(b: Bake, traffic?: BakeTraffic): Promise<void> {
  const { ms, record } = b;
  const start = b.now();
  if (!b.watch || b.hosts.length === 0) {
    b.log.info(`Bake: waiting ${formatDurationInput(ms)} before the next wave`);
    const end = start + ms;
    while (b.now() < end && !b.stopped()) await b.sleep(Math.min(250, end - b.now()));
    record.bake = { start, end: b.now() };
    return;
  }
  const controller = new AbortController();
  const relay = () => controller.abort();
  b.signal?.addEventListener('abort', relay);
  try {
    const watch = b.watch;
    const outcome = await b.log.group(`Bake ${formatDurationInput(ms)}, watching metrics of wave ${record.index}`, () =>
      watch(b.hosts, ms, controller.signal, { ...traffic, bakes: b.bakes }),
    );
    record.bake = { start, end: b.now(), verdict: outcome.verdict, detail: outcome.detail };
    if (outcome.verdict === 'fail')
      b.stop(`metric watch failed during the bake of wave ${record.index}: ${outcome.detail}`);
  } catch (err) {
    record.bake = { start, end: b.now(), verdict: 'error', detail: errorMessage(err) };
    b.stop(`metric watch could not run during the bake of wave ${record.index}: ${errorMessage(err)}`);
  } finally {
    b.signal?.removeEventListener('abort', relay);
  }
}

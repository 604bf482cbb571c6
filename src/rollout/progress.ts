// What the rollout says in the log as it goes: the intro, the staging line, a wave's count line, each
// host's steps. Small fleets name every host; above SMALL_FLEET, counts per wave (failures still by name).
import { SMALL_FLEET, formatBytes, formatDuration } from '../common/format.js';
import type { Logger } from '../common/logger.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import { MAX_HANDSHAKES_PER_SERVER } from '../engine/host.js';
import type { RolloutPlan } from '../engine/plan.js';
import { STAGED_HOW } from '../engine/step-input.js';
import type { HostRecord } from './record.js';
import { waveCountLine, waveCounts } from './outputs.js';

/** Where a wave stands, for a view that redraws it in place (the command line on a terminal). */
export interface WaveProgress {
  wave: number;
  waves: number;
  /** `switching`: its hosts are being switched; `baking`: it is watched for `bakeMs`; `done`: over. */
  phase: 'switching' | 'baking' | 'done';
  hosts: number;
  updated: number;
  failed: number;
  bakeMs?: number;
}

export class Progress {
  constructor(
    private readonly log: Logger,
    private readonly hosts: number,
    private readonly onWave?: (p: WaveProgress) => void,
  ) {}

  /** Tells the view where a wave stands (nothing when no view listens). */
  waveProgress(p: WaveProgress): void {
    this.onWave?.(p);
  }

  /** Small fleets: every host is named in the log. */
  get eachHost(): boolean {
    return this.hosts <= SMALL_FLEET;
  }

  /** A host's progress: a log line on small fleets, a debug line at scale (the wave's count line says it). */
  host(message: string): void {
    if (this.eachHost) this.log.info(message);
    else this.log.debug(message);
  }

  intro(release: string, deployPath: string, plan: RolloutPlan, a: PreparedArtifact): void {
    this.log.info(`Release ${release} → ${this.hosts} host(s) at ${deployPath}`);
    const waves = plan.waves.map(
      (w) => `${w.index}: ${this.eachHost ? w.hosts.join(', ') : `${w.hosts.length} host(s)`}`,
    );
    this.log.info(`Waves: ${waves.join(' · ')}`);
    const what = a.url
      ? `artifact downloaded by each host from ${a.url.redacted}`
      : `artifact ${a.bytes} bytes${a.delta ? `, ${a.delta.entries.length} files, delta staging` : ''}`;
    this.log.info(
      `max-failures ${plan.budget}, max-parallel ${plan.maxParallel}, ${MAX_HANDSHAKES_PER_SERVER} handshakes ` +
        `at once a server, ` +
        `${what}, sha256 ${a.sha256}`,
    );
  }

  /** The staging line: how many hosts, how the release reached them, bytes sent, time taken. */
  staged(records: readonly HostRecord[], ms: number): void {
    const how = new Map<string, number>();
    const stagedHosts = records.filter((r) => r.staging).length;
    for (const r of records) if (r.staging) how.set(STAGED_HOW[r.staging], (how.get(STAGED_HOW[r.staging]) ?? 0) + 1);
    const sent = records.reduce((sum, r) => sum + (r.sentBytes ?? 0), 0);
    const failed = records.filter((r) => r.outcome === 'failed').length;
    const ways = [...how].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
    this.log.info(
      `Staged on ${stagedHosts} of ${records.length} host(s)${failed ? ` (${failed} failed)` : ''}: ${ways}; ` +
        `the runner sent ${formatBytes(sent)} of artifact, in ${formatDuration(ms)}`,
    );
  }

  wave(index: number, waves: number, records: HostRecord[], ms: number): void {
    this.log.info(
      `Wave ${index}/${waves}: ${waveCountLine(waveCounts({ hosts: records }, index))} in ${formatDuration(ms)}`,
    );
  }

  /** One group per host with its steps and their times. */
  async steps(r: HostRecord): Promise<void> {
    const total = r.steps.length
      ? Math.max(...r.steps.map((x) => x.end)) - Math.min(...r.steps.map((x) => x.start))
      : 0;
    await this.log.group(`${r.host} · wave ${r.wave} · ${r.outcome} · ${total} ms`, async () => {
      for (const x of r.steps) {
        const took = String(x.end - x.start).padStart(6);
        this.log.info(`${x.ok ? 'ok ' : 'ERR'} ${x.name.padEnd(8)} ${took} ms${x.detail ? `  ${x.detail}` : ''}`);
      }
    });
  }
}

// The dry run prints the plan the run would execute (engine/plan.ts), step by step with the exact
// remote command of each: the same builders the engine's verbs call.
import type { Logger } from '../common/logger.js';
import type { RolloutPlan } from '../engine/plan.js';
import type { StepName } from '../engine/step-record.js';
import type { LedgerLine, StepInput } from '../engine/step-input.js';
import { STEPS } from '../engine/steps.js';
import type { DeployLogEntry } from '../release/commands.js';
import { releaseLockCommand } from '../release/lock-commands.js';
import type { PreparedArtifact } from '../artifact/prepare.js';
import { stepSettingsOf } from './host-run.js';
import type { RolloutSettings } from './settings.js';
import { formatDurationInput } from '../common/format.js';

export interface DryRunHost {
  previous: string;
  revertTo: string;
}

export function printDryRun(
  logger: Logger,
  settings: RolloutSettings,
  artifact: PreparedArtifact,
  plan: RolloutPlan,
  hosts: ReadonlyMap<string, DryRunHost>,
): void {
  logger.info(
    `Dry run: nothing will change. Release ${plan.release}, artifact ${artifact.bytes} bytes, sha256 ` +
      `${artifact.sha256}`,
  );
  logger.info(
    `Failure budget: ${plan.budget} host(s) (max-failures); ${plan.maxParallel} host(s) at once (max-parallel)`,
  );
  for (const w of plan.waves) {
    const watching = w.bake?.watch ? ' watching metrics' : '';
    const weighted = w.bake?.canary ? ' at the canary weight' : '';
    const bake = w.bake ? `; then bake ${formatDurationInput(w.bake.ms)}${watching}${weighted}` : '';
    const each = w.hosts.map((h) => {
      const now = hosts.get(h)?.previous || 'none';
      return `${h} (now ${now}, back to ${hosts.get(h)?.revertTo || 'none'} on failure)`;
    });
    logger.info(`  wave ${w.index}: ${each.join(', ')}${bake}`);
  }
  const stages = new Map<string, string[]>();
  for (const [host, steps] of Object.entries(plan.stage))
    stages.set(steps.join(' → '), [...(stages.get(steps.join(' → ')) ?? []), host]);
  logger.info('Steps per host, in order:');
  logger.info(`  preflight: ${plan.preflight.join(' → ')}`);
  for (const [steps, list] of stages)
    logger.info(
      `  stage (${list.length === Object.keys(plan.stage).length ? 'every host' : list.join(', ')}): ${steps}`,
    );
  logger.info(`  switch, wave by wave: ${plan.switch.join(' → ')}`);
  logger.info(`  after the last wave: ${plan.finish.join(' → ')} → unlock`);
  logger.info(`  on a stop, every switched host: ${plan.revert.join(' → ')}`);
  logger.info('Commands (previous release shown as <current>):');
  const input = placeholderInput(settings, artifact);
  const steps: StepName[] = [
    'lock',
    'state',
    ...new Set(Object.values(plan.stage).flat()),
    ...plan.switch,
    ...plan.finish,
    ...plan.revert,
  ];
  for (const step of new Set(steps)) logger.info(`  # ${step}\n${describeStep(step, input).replace(/^/gm, '    ')}`);
  logger.info(
    `  # unlock (a host not updated; an updated host releases it in its record command)\n` +
      `    ${releaseLockCommand(settings.ssh.deployPath, '<token>')}`,
  );
}

/** A step as the dry run shows it: the table's command and note, from placeholder input. */
export function describeStep(step: StepName, input: StepInput): string {
  const def = STEPS[step];
  return [def.command(input), def.note?.(input) ?? ''].filter((line) => line !== '').join('\n') || `# ${step}`;
}

/** The steps' input with placeholders where the run knows more: the host's current release, the time, the token. */
export function placeholderInput(settings: RolloutSettings, artifact: PreparedArtifact): StepInput {
  const { releaseId } = settings;
  const entry = (result: string, reason?: string): DeployLogEntry => ({
    time: '<now>',
    action: 'rollout',
    release: releaseId,
    previous: '<current>',
    run: '<run url>',
    result,
    ...(reason ? { reason } : {}),
  });
  const lines: Record<LedgerLine, DeployLogEntry[]> = {
    staged: [entry('staged')],
    switched: [entry('switched')],
    back: [entry('failed', '<why>')],
    record: [entry('healthy')],
    bad: [],
    adopt: [],
  };
  return {
    settings: stepSettingsOf(settings, artifact),
    artifact,
    release: releaseId,
    previous: '<current>',
    target: '<previous healthy release>',
    ledger: (line) => lines[line],
    prune: null,
    badMarker: '',
    runUrl: '<run url>',
    token: '<token>',
    unlock: true,
    adoptId: '',
    delta: null,
  };
}

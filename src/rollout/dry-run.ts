// The dry run prints the plan the run would execute (engine/plan.ts), step by step with the exact
// remote command of each: the same builders the engine's verbs call.
import { hostId } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import type { RolloutPlan } from '../engine/plan.js';
import type { StepName } from '../engine/steps.js';
import {
  acquireLockCommand,
  appendLogCommand,
  linkSharedCommand,
  readStateCommand,
  receiveArtifactCommand,
  releaseLockCommand,
  switchCommand,
  unpackCommand,
  userCommand,
  type DeployLogEntry,
  type ReleaseEnv,
} from '../release/commands.js';
import { deltaOfferCommand, deltaUnpackCommand } from '../release/delta.js';
import { downloadArtifactCommand } from '../release/download.js';
import { releasePath } from '../release/layout.js';
import { stagingOf, type PreparedArtifact } from '../artifact/prepare.js';
import { stateChecks } from '../engine/preflight.js';
import type { RolloutSettings } from './settings.js';

export interface DryRunHost {
  previous: string;
  revertTo: string;
}

export function printDryRun(logger: Logger, settings: RolloutSettings, artifact: PreparedArtifact, plan: RolloutPlan, hosts: ReadonlyMap<string, DryRunHost>): void {
  logger.info(`Dry run: nothing will change. Release ${plan.release}, artifact ${artifact.bytes} bytes, sha256 ${artifact.sha256}`);
  logger.info(`Failure budget: ${plan.budget} host(s) (max-failures); ${plan.maxParallel} host(s) at once (max-parallel)`);
  for (const w of plan.waves) {
    const bake = w.bake ? `; then bake ${w.bake.ms / 1000}s${w.bake.watch ? ' watching metrics' : ''}${w.bake.canary ? ' at the canary weight' : ''}` : '';
    logger.info(`  wave ${w.index}: ${w.hosts.map((h) => `${h} (now ${hosts.get(h)?.previous || 'none'}, back to ${hosts.get(h)?.revertTo || 'none'} on failure)`).join(', ')}${bake}`);
  }
  const stages = new Map<string, string[]>();
  for (const [host, steps] of Object.entries(plan.stage)) stages.set(steps.join(' → '), [...(stages.get(steps.join(' → ')) ?? []), host]);
  logger.info('Steps per host, in order:');
  logger.info(`  preflight: connect → lock → state`);
  for (const [steps, list] of stages) logger.info(`  stage (${list.length === Object.keys(plan.stage).length ? 'every host' : list.join(', ')}): ${steps}`);
  logger.info(`  switch, wave by wave: ${plan.switch.join(' → ')}`);
  logger.info(`  after the last wave: ${plan.finish.join(' → ')} → unlock`);
  logger.info(`  on a stop, every switched host: ${plan.revert.join(' → ')}`);
  logger.info('Commands (previous release shown as <current>):');
  const steps: StepName[] = ['lock', 'state', ...new Set(Object.values(plan.stage).flat()), ...plan.switch, ...plan.finish];
  for (const step of steps) logger.info(`  # ${step}\n${commandOf(step, settings, artifact).replace(/^/gm, '    ')}`);
  logger.info(`  # unlock\n    ${releaseLockCommand(settings.ssh.deployPath, '<token>')}`);
}

function commandOf(step: StepName, settings: RolloutSettings, artifact: PreparedArtifact): string {
  const { ssh, releaseId } = settings;
  const d = ssh.deployPath;
  const env: ReleaseEnv = { deployPath: d, releaseId, previousReleaseId: '<current>' };
  const entry = (result: string): DeployLogEntry => ({ time: '<now>', action: 'rollout', release: releaseId, previous: '<current>', run: '<run url>', result });
  const lb = settings.loadBalancer;
  switch (step) {
    case 'lock':
      return acquireLockCommand(d, '<run url>', '<token>');
    case 'state':
      return readStateCommand(d, releaseId, stateChecks(settings.sharedPaths, stagingOf(artifact)));
    case 'compare':
      return `${deltaOfferCommand(d, releaseId, '<current>')}\n# (the manifest on stdin: sha256, mode, size, mtime and path of ${artifact.delta?.entries.length ?? 0} files)`;
    case 'download':
      // The URL is shown redacted (its query string may carry a token); the host reads it from stdin.
      return `${downloadArtifactCommand(d, releaseId, artifact.url!.href, artifact.sha256, artifact.url!.redacted, { urlOnStdin: true })}\n# (the URL on stdin: ${artifact.url!.redacted})`;
    case 'upload':
      return `${receiveArtifactCommand(d, releaseId, artifact.sha256)}\n# (the artifact on stdin)`;
    case 'unpack':
      return [
        unpackCommand(d, releaseId, { identity: artifact.identity, format: artifact.format, staged: entry('staged'), unpackedBytes: artifact.unpacked?.bytes }),
        ...(artifact.delta
          ? [
              '# after a compare, instead (the tar of missing files, directories and symlinks on stdin; the space needed is what it holds, here at most the whole release):',
              deltaUnpackCommand(d, releaseId, artifact.identity, artifact.unpacked?.bytes ?? 0, entry('staged')),
            ]
          : []),
      ].join('\n');
    case 'link':
      return linkSharedCommand(d, releaseId, settings.sharedPaths);
    case 'setup':
      return userCommand(releasePath(d, releaseId), settings.setupCommand, env);
    case 'drain':
      return `# on the balancer ${lb ? `${lb.kind} ${hostId(lb.host)} '${lb.backend}'` : ''}: out of rotation, wait up to ${(lb?.drainTimeoutMs ?? 0) / 1000}s for in-flight requests`;
    case 'switch':
      return switchCommand(d, releaseId, entry('switched'));
    case 'reload':
      return userCommand(`${d}/current`, ssh.reloadCommand, env);
    case 'health':
      return [
        ...(ssh.healthCommand ? [userCommand(`${d}/current`, ssh.healthCommand, env)] : []),
        ...(ssh.healthUrl ? [`# from the runner: GET ${ssh.healthUrl}${ssh.healthExpect ? `, the body must contain "${ssh.healthExpect}"` : ''}, until 2xx or ${ssh.healthTimeoutMs / 1000}s`] : []),
      ].join('\n');
    case 'rotation':
      return '# on the balancer: back in rotation with its weight';
    case 'record':
      return `${appendLogCommand(d, entry('healthy'))} && rm -rf -- <releases beyond keep-releases ${settings.keepReleases}, never the current, previous or newest healthy one>`;
    default:
      return `# ${step}`;
  }
}

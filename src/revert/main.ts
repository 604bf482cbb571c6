// auto-revert's logic, runner-free: hosts first (they serve users), then git, then the RCA issue.
import type { ActionResult } from '../common/action.js';
import type { InputSource } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { createClient as realCreateClient, type GitHubClient } from '../github/client.js';
import { readContext } from '../github/context.js';
import { failReleaseDeployments } from '../github/deployments.js';
import { appPorts, connectLoadBalancer, type LoadBalancer } from '../lb/index.js';
import { createHealthCheck } from '../release/health.js';
import type { Connector } from '../ssh/types.js';
import { revertCommits, tokenWarning, type GitRevertResult } from './git.js';
import { revertHosts, type HostsRevertReport } from './hosts.js';
import { settleOf } from './plan.js';
import { publishRca, type RcaResult } from './rca.js';
import { parseReason, readReports } from './reports.js';
import { readRevertSettings } from './settings.js';
import { revertOutputs, summaryMarkdown, type RevertOutcome } from './summary.js';
import { errorMessage } from '../common/errors.js';

export interface AutoRevertDeps {
  connector: Connector;
  logger: Logger;
  mask: (secret: string) => void;
  env?: NodeJS.ProcessEnv;
  /** The checked-out repository (default GITHUB_WORKSPACE, then the current directory). */
  cwd?: string;
  createClient?: (token: string, apiUrl: string) => GitHubClient;
  writeSummary?: (markdown: string) => Promise<void>;
  fetch?: typeof fetch;
  now?: () => number;
}

export async function autoRevert(source: InputSource, deps: AutoRevertDeps): Promise<ActionResult> {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const { logger } = deps;
  const started = now();
  const ctx = readContext(env);
  const settings = readRevertSettings(source, { sha: ctx.sha, runId: ctx.runId, mask: deps.mask });
  // The ledger's `run` of this workflow run (every attempt shares it); outside a run there is none.
  const run = ctx.runId ? ctx.runUrl : '';
  const reason = parseReason(settings.reason);
  const client = settings.githubToken ? (deps.createClient ?? realCreateClient)(settings.githubToken, ctx.apiUrl) : undefined;
  const errors: string[] = [];

  let hosts: HostsRevertReport | null = null;
  /** Set when the bad release reached none of the hosts: nothing is done anywhere, and this says why. */
  let unreached = '';
  if (settings.ssh) {
    const ssh = settings.ssh;
    for (const w of ssh.warnings) logger.warning(w);
    logger.info(
      settings.badRelease
        ? `Bad release: ${settings.badRelease} (bad-release)`
        : `Bad release: on each host, the release an ssh-rollout of this workflow run (${run}) put there (bad-release is empty)`,
    );
    // The balancer is settled after the hosts are back (see docs/load-balancer.md: a host in rotation
    // only once healthy); it never blocks the revert itself.
    let balancer: { lb: LoadBalancer; close: () => Promise<void> } | undefined;
    if (settings.loadBalancer) {
      try {
        balancer = await connectLoadBalancer(settings.loadBalancer, deps.connector, ssh.credentials);
        await balancer.lb.inspect(ssh.hosts, settings.loadBalancer.servers);
        if (ssh.healthUrl.includes('{port}')) appPorts(balancer.lb, ssh.hosts);
      } catch (err) {
        logger.warning(`load balancer ${settings.loadBalancer.kind}: ${errorMessage(err)}; weights and states are not reset`);
        await balancer?.close().catch(() => undefined);
        balancer = undefined;
      }
    }
    const lb = balancer?.lb;
    hosts = await logger.group(`Reverting ${ssh.hosts.length} host(s) in ${ssh.deployPath}`, () =>
      revertHosts(ssh, { badRelease: settings.badRelease, toRelease: settings.toRelease, run }, {
        connector: deps.connector,
        health: createHealthCheck(ssh, deps.fetch ? { fetch: deps.fetch } : {}),
        logger,
        runUrl: ctx.runUrl,
        reason: reason.text,
        now,
        appPort: lb ? (id) => lb.serverOf(id).port || undefined : undefined,
        checkHealthOf: lb ? (id) => lb.serverOf(id).state !== 'ready' : undefined,
      }),
    );
    const reach = reachOf(hosts);
    if (reach === 'none') {
      unreached = settings.badRelease
        ? `release ${settings.badRelease} is on none of the ${ssh.hosts.length} host(s) (not current, not on disk, not marked bad, in no deploy log): no host was touched`
        : `no ssh-rollout of this workflow run (${run}) reached any of the ${ssh.hosts.length} host(s): no host was touched (a release an earlier run put there is only taken off when bad-release names it)`;
      logger.info(`Nothing to do: ${unreached}`);
    } else if (reach === 'unknown' && settings.revertCommit) {
      const unread = hosts.hosts.filter((h) => h.reached === undefined).length;
      logger.warning(`${unread} of ${ssh.hosts.length} host(s) could not be read and the bad release is on none of the others: it is not known whether it reached a host, so the commit is reverted as asked`);
    }
    if (balancer && reach === 'none') {
      logger.info('Load balancer: left as it is (the release reached no host, so no rollout of it drained one)');
      await balancer.close().catch(() => undefined);
    } else if (balancer) {
      try {
        const { ready, out, kept } = settleOf(hosts, balancer.lb);
        await balancer.lb.settle(ready, out);
        logger.info(`Load balancer: ${ready.length} host(s) in rotation with their configured weight${out.length ? `; out of rotation (not healthy): ${out.join(', ')}` : ''}`);
        if (kept.length) logger.error(`Load balancer: ${kept.join(', ')} not healthy but left as they are: taking them out would leave no server of '${settings.loadBalancer!.backend}' in rotation`);
      } catch (err) {
        errors.push(`load balancer: ${errorMessage(err)}`);
        logger.error(errors[errors.length - 1]);
      } finally {
        await balancer.close().catch(() => undefined);
      }
    }
  } else {
    logger.info('hosts is empty: no host is touched');
  }

  let git: GitRevertResult | null = null;
  if (settings.revertCommit && unreached) {
    // The commits never ran anywhere: reverting them would undo work that broke nothing.
    logger.info(`Git: ${settings.commits.join(', ')} not reverted: the release reached no host, so these commits did not break production`);
  } else if (settings.revertCommit) {
    const warning = tokenWarning(settings.githubToken, settings.revertMode);
    if (warning) logger.warning(warning);
    try {
      git = await logger.group(`Reverting ${settings.commits.join(', ')} in git (${settings.revertMode})`, () =>
        revertCommits(
          {
            cwd: deps.cwd ?? env.GITHUB_WORKSPACE ?? process.cwd(),
            commits: settings.commits,
            reason: reason.text,
            runUrl: ctx.runUrl,
            mode: settings.revertMode,
            branch: ctx.ref.startsWith('refs/heads/') ? ctx.ref.slice('refs/heads/'.length) : '',
            maxRevertsPerDay: settings.maxRevertsPerDay,
            token: settings.githubToken,
            serverUrl: ctx.serverUrl,
            owner: ctx.owner,
            repo: ctx.repo,
          },
          { logger, github: client, now },
        ),
      );
      // Guard rails are decisions, not failures: loud, but the hosts are what matter.
      if (git.status === 'refused' || git.status === 'rate-limited') logger.warning(git.message);
      else logger.info(git.message);
    } catch (err) {
      errors.push(`git revert: ${errorMessage(err)}`);
      logger.error(errors[errors.length - 1]);
    }
  }

  const notes = unreached ? [`Nothing done: ${unreached}.${settings.revertCommit ? ' The commit is not reverted: it never ran on a host.' : ''}`] : [];
  const outcome: RevertOutcome = { hosts, git, errors, rca: null, badReleases: badReleases(hosts, settings.badRelease), notes };
  const changed = (hosts?.hosts.some((h) => h.outcome === 'reverted' || h.markedBad) ?? false) || git?.status === 'pushed' || git?.status === 'pull-request';
  const problems = errors.length > 0 || (hosts?.hosts.some((h) => h.outcome === 'failed' || h.outcome === 'no-good-release') ?? false);
  // The environments page must stop showing the reverted release as what runs.
  if (client && hosts?.hosts.some((h) => h.outcome === 'reverted')) {
    await failReleaseDeployments(client, ctx, { releases: outcome.badReleases, description: `reverted by auto-revert: ${reason.text}`, logger });
  }
  // A second run that changes nothing must not add noise to the incident either.
  if (settings.rcaIssue && client && (changed || problems)) {
    const reports = readReports(settings.reports);
    for (const s of reports.skipped) logger.warning(`report not used: ${s}`);
    try {
      const rca: RcaResult = await publishRca(
        client,
        { owner: ctx.owner, repo: ctx.repo, labels: settings.rcaLabels },
        {
          repository: ctx.repository,
          serverUrl: ctx.serverUrl,
          runUrl: ctx.runUrl,
          badReleases: outcome.badReleases,
          reasonText: reason.text,
          reasonBreaches: reason.breaches,
          commits: git?.commits.length ? git.commits : settings.commits,
          hosts,
          git,
          reports,
          startedAt: started,
        },
      );
      outcome.rca = rca;
      logger.info(`${rca.commented ? 'Commented on' : 'Opened'} RCA issue #${rca.number}: ${rca.url}`);
    } catch (err) {
      // The fleet is already back: a failed issue is reported, it does not fail the revert.
      logger.warning(`could not open the RCA issue: ${errorMessage(err)}`);
    }
  }

  const outputs = revertOutputs(outcome);
  if (deps.writeSummary) await deps.writeSummary(summaryMarkdown(outcome)).catch((e) => logger.warning(`job summary: ${String(e)}`));
  const result: ActionResult = { outputs: { ...outputs } };
  if (outputs.result === 'failed') {
    const failed = hosts?.hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'no-good-release') ?? [];
    result.failure = [...failed.map((h) => `${h.host}: ${h.outcome}: ${h.reason}`), ...errors].join('\n') || 'auto-revert failed';
  }
  return result;
}

/** some: the bad release reached a host; none: every host was read and it reached none; unknown: the rest. */
function reachOf(report: HostsRevertReport): 'some' | 'none' | 'unknown' {
  if (report.hosts.some((h) => h.reached === true)) return 'some';
  return report.hosts.every((h) => h.reached === false) ? 'none' : 'unknown';
}

function badReleases(hosts: HostsRevertReport | null, explicit: string): string[] {
  if (explicit) return [explicit];
  const set = new Set((hosts?.hosts ?? []).filter((h) => h.bad && (h.outcome !== 'nothing-to-do' || h.markedBad)).map((h) => h.bad));
  return [...set].sort();
}

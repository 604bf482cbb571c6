// auto-revert's logic, runner-free: hosts first (they serve users), then git, then the RCA issue.
import type { ActionResult } from '../common/action.js';
import type { InputSource } from '../common/inputs.js';
import type { Logger } from '../common/logger.js';
import { createClient as realCreateClient, type GitHubClient } from '../github/client.js';
import { readContext, type RunContext } from '../github/context.js';
import { failReleaseDeployments } from '../github/deployments.js';
import { Balancer } from '../engine/balancer.js';
import type { LoadBalancerSettings } from '../lb/index.js';
import type { SshSettings } from '../release/ssh-settings.js';
import { createHealthCheck } from '../release/health.js';
import type { Connector } from '../ssh/types.js';
import { revertCommits, tokenWarning, type GitRevertResult } from './git.js';
import { revertHosts, type HostsRevertReport } from './hosts.js';
import { publishRca, type RcaResult } from './rca.js';
import { parseReason, readReports } from './reports.js';
import { readRevertSettings, type RevertSettings } from './settings.js';
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

/** What every phase of a revert reads: settings, context, and where errors go. */
interface Revert {
  settings: RevertSettings;
  ctx: RunContext;
  deps: AutoRevertDeps;
  logger: Logger;
  now: () => number;
  /** The ledger's `run` of this workflow run (every attempt shares it); outside a run there is none. */
  run: string;
  reason: ReturnType<typeof parseReason>;
  client?: GitHubClient;
  errors: string[];
}

export async function autoRevert(source: InputSource, deps: AutoRevertDeps): Promise<ActionResult> {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const started = now();
  const ctx = readContext(env);
  const settings = readRevertSettings(source, { sha: ctx.sha, runId: ctx.runId, mask: deps.mask });
  const client = settings.githubToken
    ? (deps.createClient ?? realCreateClient)(settings.githubToken, ctx.apiUrl)
    : undefined;
  const r: Revert = {
    settings,
    ctx,
    deps,
    logger: deps.logger,
    now,
    run: ctx.runId ? ctx.runUrl : '',
    reason: parseReason(settings.reason),
    client,
    errors: [],
  };

  const { hosts, unreached } = settings.ssh ? await revertFleet(r, settings.ssh) : { hosts: null, unreached: '' };
  if (!settings.ssh) r.logger.info('hosts is empty: no host is touched');
  let git: GitRevertResult | null = null;
  if (settings.revertCommit && unreached) {
    // The commits never ran anywhere: reverting them would undo work that broke nothing.
    r.logger.info(
      `Git: ${settings.commits.join(', ')} not reverted: the release reached no host, so these commits did ` +
        `not break production`,
    );
  } else if (settings.revertCommit) {
    git = await revertGit(r, env);
  }

  const notReverted = settings.revertCommit ? ' The commit is not reverted: it never ran on a host.' : '';
  const notes = unreached ? [`Nothing done: ${unreached}.${notReverted}`] : [];
  const outcome: RevertOutcome = {
    hosts,
    git,
    errors: r.errors,
    rca: null,
    badReleases: badReleases(hosts, settings.badRelease),
    ...(settings.planned ? { rollbackTo: settings.toRelease } : {}),
    notes,
  };
  await reportIncident(r, outcome, started);
  return finish(r, outcome);
}

/** The hosts first (they serve users), then the balancer settled on who is healthy. */
async function revertFleet(r: Revert, ssh: SshSettings): Promise<{ hosts: HostsRevertReport; unreached: string }> {
  const { settings, logger, run } = r;
  for (const w of ssh.warnings) logger.warning(w);
  logger.info(whatComesOff(settings, run));
  // The balancer is settled after the hosts are back (see docs/load-balancer.md: a host in rotation
  // only once healthy); it never blocks the revert itself.
  const balancer = settings.loadBalancer ? await openBalancer(settings.loadBalancer, ssh, r.deps) : undefined;
  const hosts = await logger.group(`Reverting ${ssh.hosts.length} host(s) in ${ssh.deployPath}`, () =>
    revertHosts(
      ssh,
      {
        badRelease: settings.badRelease,
        toRelease: settings.toRelease,
        run,
        markBad: settings.markBad,
        planned: settings.planned,
      },
      {
        connector: r.deps.connector,
        health: createHealthCheck(ssh, r.deps.fetch ? { fetch: r.deps.fetch } : {}),
        logger,
        runUrl: r.ctx.runUrl,
        reason: r.reason.text,
        now: r.now,
        balancer,
        checkHealthOf: balancer ? (id) => !balancer.inRotation(id) : undefined,
      },
    ),
  );
  const reach = reachOf(hosts);
  let unreached = '';
  if (reach === 'none') {
    unreached = settings.planned
      ? `every one of the ${ssh.hosts.length} host(s) is on ${settings.toRelease} already, or has no release: no ` +
        `host was touched`
      : settings.badRelease
        ? `release ${settings.badRelease} is on none of the ${ssh.hosts.length} host(s) (not current, not on ` +
          `disk, not marked bad, in no deploy log): no host was touched`
        : `no ssh-rollout of this workflow run (${run}) reached any of the ${ssh.hosts.length} host(s): no ` +
          `host was touched (a release an earlier run put there is only taken off when bad-release names it)`;
    logger.info(`Nothing to do: ${unreached}`);
  } else if (reach === 'unknown' && settings.revertCommit) {
    const unread = hosts.hosts.filter((h) => h.reached === undefined).length;
    logger.warning(
      `${unread} of ${ssh.hosts.length} host(s) could not be read and the bad release is on none of the others: ` +
        'it is not known whether it reached a host, so the commit is reverted as asked',
    );
  }
  if (balancer && reach === 'none') {
    logger.info('Load balancer: left as it is (the release reached no host, so no rollout of it drained one)');
    await balancer.leave();
  } else if (balancer) {
    const error = await balancer.settle(hosts);
    if (error) r.errors.push(error);
  }
  return { hosts, unreached };
}

async function revertGit(r: Revert, env: NodeJS.ProcessEnv): Promise<GitRevertResult | null> {
  const { settings, ctx, logger } = r;
  const warning = tokenWarning(settings.githubToken, settings.revertMode);
  if (warning) logger.warning(warning);
  try {
    const git = await logger.group(`Reverting ${settings.commits.join(', ')} in git (${settings.revertMode})`, () =>
      revertCommits(
        {
          cwd: r.deps.cwd ?? env.GITHUB_WORKSPACE ?? process.cwd(),
          commits: settings.commits,
          reason: r.reason.text,
          runUrl: ctx.runUrl,
          mode: settings.revertMode,
          branch: ctx.ref.startsWith('refs/heads/') ? ctx.ref.slice('refs/heads/'.length) : '',
          maxRevertsPerDay: settings.maxRevertsPerDay,
          token: settings.githubToken,
          serverUrl: ctx.serverUrl,
          owner: ctx.owner,
          repo: ctx.repo,
        },
        { logger, github: r.client, now: r.now },
      ),
    );
    // Guard rails are decisions, not failures: loud, but the hosts are what matter.
    if (git.status === 'refused' || git.status === 'rate-limited') logger.warning(git.message);
    else logger.info(git.message);
    return git;
  } catch (err) {
    r.errors.push(`git revert: ${errorMessage(err)}`);
    logger.error(r.errors[r.errors.length - 1]);
    return null;
  }
}

/** The environments page stops showing the reverted release, and the RCA issue gets the timeline. */
async function reportIncident(r: Revert, outcome: RevertOutcome, started: number): Promise<void> {
  const { settings, ctx, logger, client } = r;
  const { hosts, git } = outcome;
  const changed =
    (hosts?.hosts.some((h) => h.outcome === 'reverted' || h.markedBad) ?? false) ||
    git?.status === 'pushed' ||
    git?.status === 'pull-request';
  const problems =
    r.errors.length > 0 ||
    (hosts?.hosts.some((h) => h.outcome === 'failed' || h.outcome === 'no-good-release') ?? false);
  // A rollback on purpose marks nothing failed: the release it took off did nothing wrong.
  if (client && settings.markBad && hosts?.hosts.some((h) => h.outcome === 'reverted')) {
    await failReleaseDeployments(client, ctx, {
      releases: outcome.badReleases,
      description: `reverted by auto-revert: ${r.reason.text}`,
      logger,
    });
  }
  // A second run that changes nothing must not add noise to the incident either.
  if (!settings.rcaIssue || !client || !(changed || problems)) return;
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
        reasonText: r.reason.text,
        reasonBreaches: r.reason.breaches,
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

async function finish(r: Revert, outcome: RevertOutcome): Promise<ActionResult> {
  const outputs = revertOutputs(outcome);
  if (r.deps.writeSummary)
    await r.deps.writeSummary(summaryMarkdown(outcome)).catch((e) => r.logger.warning(`job summary: ${String(e)}`));
  const result: ActionResult = { outputs: { ...outputs } };
  if (outputs.result === 'failed') {
    const failed = outcome.hosts?.hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'no-good-release') ?? [];
    result.failure =
      [...failed.map((h) => `${h.host}: ${h.outcome}: ${h.reason}`), ...r.errors].join('\n') || 'auto-revert failed';
  }
  return result;
}

/** The log's first word on what this revert takes off the hosts. */
function whatComesOff(settings: RevertSettings, run: string): string {
  if (settings.planned)
    return (
      `Rollback on purpose: every host onto ${settings.toRelease} (to-release); nothing is marked bad ` +
      `(mark-bad false)`
    );
  const marked = settings.markBad ? '' : '; it is not marked bad (mark-bad false)';
  return settings.badRelease
    ? `Bad release: ${settings.badRelease} (bad-release)${marked}`
    : `Bad release: on each host, the release an ssh-rollout of this workflow run (${run}) put there ` +
        `(bad-release is empty)${marked}`;
}

/** some: the bad release reached a host; none: every host was read and it reached none; unknown: the rest. */
function reachOf(report: HostsRevertReport): 'some' | 'none' | 'unknown' {
  if (report.hosts.some((h) => h.reached === true)) return 'some';
  return report.hosts.every((h) => h.reached === false) ? 'none' : 'unknown';
}

function badReleases(hosts: HostsRevertReport | null, explicit: string): string[] {
  if (explicit) return [explicit];
  const set = new Set(
    (hosts?.hosts ?? []).filter((h) => h.bad && (h.outcome !== 'nothing-to-do' || h.markedBad)).map((h) => h.bad),
  );
  return [...set].sort();
}

/** The one Balancer, without drain or canary (a revert takes no host out; it settles the balancer after). */
async function openBalancer(
  lb: LoadBalancerSettings,
  ssh: SshSettings,
  deps: AutoRevertDeps,
): Promise<Balancer | undefined> {
  try {
    return await Balancer.open({ ...lb, drain: false, drainTimeoutMs: 0, canaryShare: null }, ssh.hosts, {
      connector: deps.connector,
      credentials: ssh.credentials,
      logger: deps.logger,
      needPorts: ssh.healthUrl.includes('{port}'),
    });
  } catch (err) {
    deps.logger.warning(`load balancer ${lb.kind}: ${errorMessage(err)}; weights and states are not reset`);
    return undefined;
  }
}

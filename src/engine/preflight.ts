// The preflight's judgement, like Capistrano's `deploy:check`: from what one
// host's state read found, what stops the rollout there before anything is staged, each problem said
// with what fixes it. Pure; the dry run prints the same findings.
import { formatBytes } from '../common/format.js';
import { hostId, InputError, type HostSpec } from '../common/inputs.js';
import { quote } from '../common/shell.js';
import type { MemberKind } from '../artifact/members.js';
import { SPARE_SHARE, fits } from '../release/commands.js';
import { type HostState, type StateChecks } from '../release/state-command.js';
import { parentPaths, type SharedPath } from '../release/layout.js';

/** Commands every rollout's steps run on a host. */
export const BASE_COMMANDS = [
  'tar',
  'gzip',
  'sha256sum',
  'mv',
  'ln',
  'cp',
  'chmod',
  'touch',
  'df',
  'awk',
  'sed',
] as const;
/** Delta staging's besides (`cp -l` is cp's). */
export const DELTA_COMMANDS = ['find', 'xargs', 'sort', 'cut'] as const;
/** artifact-url: one of the two. */
export const DOWNLOAD_COMMANDS = ['curl', 'wget'] as const;

/** The commands a rollout needs on every host; with `eitherOf`, at least one of those. */
export function commandsNeeded(staging: { delta: boolean; url: boolean }): {
  commands: string[];
  eitherOf?: readonly string[];
} {
  return {
    commands: [...BASE_COMMANDS, ...(staging.delta ? DELTA_COMMANDS : [])],
    ...(staging.url ? { eitherOf: DOWNLOAD_COMMANDS } : {}),
  };
}

/** What preflight asks a host besides its state (read in the same command). */
export function stateChecks(shared: readonly SharedPath[], staging: { delta: boolean; url: boolean }): StateChecks {
  const { commands, eitherOf } = commandsNeeded(staging);
  return { shared, commands: [...commands, ...(eitherOf ?? [])] };
}

export function noSpaceMessage(deployPath: string, host: string, need: number, free: number, what: string): string {
  return (
    `not enough space in ${deployPath} on ${host}: the release needs ${formatBytes(need)} (${what}), ` +
    `plus ${formatBytes(free * SPARE_SHARE)} to spare (10% of the free space); ${formatBytes(free)} is free`
  );
}

/** The message for a deploy path the login user cannot write, with the command that fixes it. */
export function unwritableMessage(path: string, host: HostSpec, deployPath: string): string {
  const inside = path !== deployPath && path.startsWith(`${deployPath}/`);
  const fix = inside
    ? `sudo chown -R ${quote(host.user)} ${quote(deployPath)}`
    : `sudo install -d -o ${quote(host.user)} ${quote(deployPath)}`;
  return `cannot write ${path} on ${hostId(host)}: permission denied for '${host.user}'. Fix it on the host: ${fix}`;
}

export interface PreflightRequest {
  host: HostSpec;
  deployPath: string;
  shared: readonly SharedPath[];
  /** The release's paths and their kinds; undefined with artifact-url (checked on the host while linking). */
  tree?: ReadonlyMap<string, MemberKind>;
  adoptCurrent: boolean;
  /**
   * Bytes the host needs free before staging (the upload and the files unpacked); undefined = checked while staging.
   */
  needBytes?: number;
  /** Commands the steps need; with `eitherOf`, at least one of those. */
  commands: readonly string[];
  eitherOf?: readonly string[];
}

export interface PreflightFindings {
  /** Each stops the rollout on this host. */
  problems: string[];
  /** `current` is a real directory and adopt-current is on: move it in before staging. */
  adopt: boolean;
  warnings: string[];
}

const KIND_WORDS: Partial<Record<MemberKind, string>> = { file: 'a file', symlink: 'a symlink', hardlink: 'a file' };

export function preflightFindings(state: HostState, req: PreflightRequest): PreflightFindings {
  const id = hostId(req.host);
  const dp = req.deployPath;
  const problems: string[] = [];
  const warnings: string[] = [];
  let adopt = false;

  if (state.unwritable) problems.push(unwritableMessage(state.unwritable, req.host, dp));
  for (const n of state.layoutLinks) {
    problems.push(
      `${dp}/${n} on ${id} is a symlink: fivestep writes nothing outside the deploy path, so ${n}/ must be ` +
        `a directory there (mount another disk at it rather than link it)`,
    );
  }
  if (state.currentIsDirectory && req.adoptCurrent) adopt = true;
  else if (state.currentIsDirectory) {
    problems.push(
      `${dp}/current on ${id} is a directory, not a symlink (an app deployed by hand?): set adopt-current: ` +
        `true to move it to ${dp}/releases/pre-fivestep-<time> as the first healthy release (the one a ` +
        `revert goes back to), or move it away yourself`,
    );
  } else if (state.currentProblem) {
    problems.push(
      `${dp}/current on ${id} ${state.currentProblem}: fivestep switches current only between the entries ` +
        `of releases/; remove it, or point it at one of them, by hand`,
    );
  }
  for (const n of state.releaseLinks)
    warnings.push(
      `${id}: ${dp}/releases/${n} is a symlink: fivestep never builds from it, switches to it or prunes through it`,
    );

  const missing = req.commands.filter((c) => state.missingCommands.includes(c));
  if (missing.length > 0)
    problems.push(
      `${id} lacks ${missing.join(', ')}: the steps run them on the host (install them, e.g. with the ` +
        `coreutils, tar, gzip and gawk or mawk packages)`,
    );
  if (req.eitherOf && req.eitherOf.every((c) => state.missingCommands.includes(c))) {
    problems.push(
      `${id} has neither ${req.eitherOf.join(' nor ')}: artifact-url needs one of them to download the artifact`,
    );
  }

  for (const sp of req.shared) {
    const name = `shared path '${sp.path}${sp.dir ? '/' : ''}'`;
    const through = state.sharedThroughLink.get(sp.path);
    if (through !== undefined && through !== '.') {
      problems.push(
        `${name}: ${dp}/shared/${through} on ${id} is a symlink: a shared path cannot go through one (it ` +
          `would be written outside the deploy path)`,
      );
      continue;
    }
    // A deploy path not made yet has nothing in shared/.
    const inShared = state.exists ? state.shared.get(sp.path) : 'absent';
    const inRelease = req.tree?.get(sp.path);
    if (sp.dir && inShared === 'file')
      problems.push(`${name} declares a directory, but ${dp}/shared/${sp.path} on ${id} is a file`);
    else if (sp.dir && inRelease !== undefined && inRelease !== 'dir')
      problems.push(
        `${name} declares a directory, but the artifact holds '${sp.path}' as ${KIND_WORDS[inRelease] ?? inRelease}`,
      );
    else if (inShared === 'absent' && req.tree && inRelease === undefined && !sp.dir) {
      problems.push(
        `${name} is in neither ${dp}/shared/ on ${id} nor the artifact: create ${dp}/shared/${sp.path} on ` +
          `each host first, or write '${sp.path}/' in shared-paths to declare a directory that starts empty`,
      );
    }
  }

  if (req.needBytes !== undefined && state.freeKb !== null && !fits(req.needBytes, state.freeKb * 1024)) {
    problems.push(noSpaceMessage(dp, id, req.needBytes, state.freeKb * 1024, 'the upload and its files unpacked'));
  }
  return { problems, adopt, warnings };
}

/**
 * shared-paths against the artifact, before anything connects: a shared path whose parent is a
 * symlink (or a file) in the artifact would be linked through it, out of the release. InputError.
 */
export function checkSharedPathsInArtifact(shared: readonly SharedPath[], tree: ReadonlyMap<string, MemberKind>): void {
  for (const sp of shared) {
    for (const p of parentPaths(sp.path)) {
      const kind = tree.get(p);
      if (kind === 'symlink') {
        throw new InputError(
          'shared-paths',
          `'${sp.path}': '${p}' is a symlink in the artifact; a shared path cannot go through a symlink ` +
            `(it could lead outside the deploy path). Share '${p}' itself, or make it a directory`,
        );
      }
      if (kind !== undefined && kind !== 'dir')
        throw new InputError('shared-paths', `'${sp.path}': '${p}' is a file in the artifact, not a directory`);
    }
  }
}

/** `pre-fivestep-<UTC yyyymmddHHMMSS>`: the release id a hand-deployed `current` is moved in as. */
export function adoptId(now: Date): string {
  return `pre-fivestep-${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
}

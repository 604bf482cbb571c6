// The input-helper of ssh-rollout: every input read and validated once into typed settings.
// Nothing changes on any host before this has succeeded.
import {
  InputError,
  optional,
  parseBool,
  parseCount,
  parseDuration,
  parseInteger,
  parseList,
  required,
  type Count,
  type InputSource,
} from '../common/inputs.js';
import { readRolloutLbSettings, type RolloutLbSettings } from '../lb/index.js';
import { parseRolloutWatch, type WatchSettings } from '../metrics/index.js';
import { planWaves } from '../engine/plan.js';
import { validateArtifactUrl, validateSha256 } from '../release/download.js';
import { validateReleaseId, validateSharedPath, type SharedPath } from '../release/layout.js';
import { readSshSettings, type SshSettings } from '../release/ssh-settings.js';
import { artifactKind } from '../artifact/prepare.js';
import { redactUrl } from '../common/url.js';
import { parseWaves } from './waves.js';

export interface RolloutSettings {
  ssh: SshSettings;
  /** '' when hosts download the artifact themselves (artifactUrl). */
  artifact: string;
  /** artifact-url: every host downloads the artifact; the runner sends no artifact bytes. */
  artifactUrl: { href: string; redacted: string; sha256: string } | null;
  /** Send only the files the host's current release lacks (default true). */
  delta: boolean;
  releaseId: string;
  waves: Count[];
  maxFailures: Count;
  setupCommand: string;
  waveWaitMs: number;
  /** metric-watch settings evaluated during each bake (null = none), validated with the other inputs. */
  watch: WatchSettings | null;
  keepReleases: number;
  /** shared-paths, each with whether it was declared a directory (`log/`). */
  sharedPaths: SharedPath[];
  /** Globs left out of a directory artifact (default `.git`). */
  exclude: string[];
  /** Move a `current` that is a real directory into releases/ as the first healthy release. */
  adoptCurrent: boolean;
  lockTimeoutMs: number;
  dryRun: boolean;
  environment: string;
  githubToken: string;
  /** The balancer in front of the hosts (null = none: no drain, no canary weight). */
  loadBalancer?: RolloutLbSettings | null;
}

/** `<UTC yyyymmddHHMMSS>-<sha7>`, or without the suffix when no commit is known. */
export function defaultReleaseId(now: Date, sha: string): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const sha7 = sha.slice(0, 7);
  return /^[0-9a-f]{7}$/i.test(sha7) ? `${stamp}-${sha7}` : stamp;
}

export interface RolloutSettingsContext {
  now: Date;
  sha: string;
  /** Registers a secret so the runner masks it in logs. */
  mask: (secret: string) => void;
  /** For the watch's FIVESTEP_PAGERDUTY_URL. */
  env?: NodeJS.ProcessEnv;
}

export function readRolloutSettings(source: InputSource, ctx: RolloutSettingsContext): RolloutSettings {
  const ssh = readSshSettings(source, { mask: ctx.mask });
  const artifactUrl = readArtifactUrl(source, ctx.mask);
  const artifact = artifactUrl ? optional(source, 'artifact') : required(source, 'artifact');
  if (artifactUrl && artifact)
    throw new InputError(
      'artifact',
      'and artifact-url are both set: set one (artifact uploads from the runner, artifact-url lets every ' +
        'host download)',
    );
  if (artifact) artifactKind('artifact', artifact);
  const releaseId = validateReleaseId('release-id', optional(source, 'release-id', defaultReleaseId(ctx.now, ctx.sha)));
  const waves = parseWaves('waves', optional(source, 'waves', '1, 25%, 100%'));
  const waveWaitMs = parseDuration('wave-wait', optional(source, 'wave-wait', '0'));
  const watchText = source('watch').trim();
  const watch = watchText ? parseRolloutWatch(watchText, ctx.env ?? process.env, ctx.mask) : null;
  if (watch) checkWatchHasBake(waveWaitMs, planWaves(ssh.hosts, waves).length, ssh.hosts.length);
  return {
    ssh,
    artifact,
    artifactUrl,
    delta: parseBool('delta', source('delta'), true),
    releaseId,
    waves,
    maxFailures: parseCount('max-failures', optional(source, 'max-failures', '0')),
    setupCommand: optional(source, 'setup-command'),
    waveWaitMs,
    watch,
    keepReleases: parseInteger('keep-releases', optional(source, 'keep-releases', '5'), { min: 1 }),
    sharedPaths: readSharedPaths(source),
    exclude: parseList(optional(source, 'exclude', '.git'), { commas: false }),
    adoptCurrent: parseBool('adopt-current', source('adopt-current'), false),
    lockTimeoutMs: parseDuration('lock-timeout', optional(source, 'lock-timeout', '0')),
    dryRun: parseBool('dry-run', source('dry-run'), false),
    environment: optional(source, 'environment'),
    githubToken: optional(source, 'github-token'),
    loadBalancer: readRolloutLbSettings(source),
  };
}

/** A watch runs during the bakes between waves; a watch with no bake to run in would gate nothing: an input error. */
function checkWatchHasBake(waveWaitMs: number, waveCount: number, hostCount: number): void {
  if (waveWaitMs === 0) {
    throw new InputError(
      'wave-wait',
      'is 0, so the watch never runs: it is evaluated during the bake after each wave but the last. Set ' +
        'wave-wait (e.g. 5m)',
    );
  }
  if (waveCount < 2) {
    throw new InputError(
      'wave-wait',
      `has no bake to run in: ${hostCount} host(s) make a single wave, and the watch runs during the bake ` +
        `after each wave but the last. Use more waves (e.g. waves: 1, 100%)`,
    );
  }
}

/** shared-paths: one a line; none inside another (the outer link would lead the inner one through a symlink). */
function readSharedPaths(source: InputSource): SharedPath[] {
  const paths = parseList(optional(source, 'shared-paths')).map((p) => validateSharedPath('shared-paths', p));
  for (const a of paths) {
    for (const b of paths) {
      if (a !== b && a.path === b.path) throw new InputError('shared-paths', `'${a.path}' is listed twice`);
      if (a !== b && b.path.startsWith(`${a.path}/`))
        throw new InputError(
          'shared-paths',
          `'${b.path}' lies inside '${a.path}', which is itself shared: list only '${a.path}'`,
        );
    }
  }
  return paths;
}

/** artifact-url with its required artifact-sha256; the URL's query string (a token, a signature) is masked. */
function readArtifactUrl(source: InputSource, mask: (secret: string) => void): RolloutSettings['artifactUrl'] {
  const raw = optional(source, 'artifact-url');
  const sha = optional(source, 'artifact-sha256');
  if (!raw) {
    if (sha)
      throw new InputError(
        'artifact-sha256',
        'is set but artifact-url is empty (the checksum is of the file hosts download)',
      );
    return null;
  }
  const href = validateArtifactUrl('artifact-url', raw);
  if (!sha)
    throw new InputError(
      'artifact-sha256',
      'is required with artifact-url: every host checks the download against it before unpacking',
    );
  const url = new URL(href);
  if (url.search.length > 1) mask(url.search.slice(1));
  if (url.password) mask(decodeURIComponent(url.password));
  return { href, redacted: redactUrl(href), sha256: validateSha256('artifact-sha256', sha) };
}

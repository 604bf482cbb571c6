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
import { redactUrl, validateArtifactUrl, validateSha256 } from '../release/download.js';
import { validateReleaseId, validateSharedPath } from '../release/layout.js';
import { readSshSettings, type SshSettings } from '../release/ssh-settings.js';
import { artifactKind } from './artifact.js';
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
  /** Raw YAML of metric-watch settings evaluated during each bake ('' = none). */
  watch: string;
  keepReleases: number;
  sharedPaths: string[];
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
}

export function readRolloutSettings(source: InputSource, ctx: RolloutSettingsContext): RolloutSettings {
  const ssh = readSshSettings(source, { mask: ctx.mask });
  const artifactUrl = readArtifactUrl(source, ctx.mask);
  const artifact = artifactUrl ? optional(source, 'artifact') : required(source, 'artifact');
  if (artifactUrl && artifact) throw new InputError('artifact', 'and artifact-url are both set: set one (artifact uploads from the runner, artifact-url lets every host download)');
  if (artifact) artifactKind('artifact', artifact);
  const releaseId = validateReleaseId('release-id', optional(source, 'release-id', defaultReleaseId(ctx.now, ctx.sha)));
  return {
    ssh,
    artifact,
    artifactUrl,
    delta: parseBool('delta', source('delta'), true),
    releaseId,
    waves: parseWaves('waves', optional(source, 'waves', '1, 25%, 100%')),
    maxFailures: parseCount('max-failures', optional(source, 'max-failures', '0')),
    setupCommand: optional(source, 'setup-command'),
    waveWaitMs: parseDuration('wave-wait', optional(source, 'wave-wait', '0')),
    watch: source('watch').trim(),
    keepReleases: parseInteger('keep-releases', optional(source, 'keep-releases', '5'), { min: 1 }),
    sharedPaths: parseList(optional(source, 'shared-paths')).map((p) => validateSharedPath('shared-paths', p)),
    lockTimeoutMs: parseDuration('lock-timeout', optional(source, 'lock-timeout', '0')),
    dryRun: parseBool('dry-run', source('dry-run'), false),
    environment: optional(source, 'environment'),
    githubToken: optional(source, 'github-token'),
    loadBalancer: readRolloutLbSettings(source),
  };
}

/** artifact-url with its required artifact-sha256; the URL's query string (a token, a signature) is masked. */
function readArtifactUrl(source: InputSource, mask: (secret: string) => void): RolloutSettings['artifactUrl'] {
  const raw = optional(source, 'artifact-url');
  const sha = optional(source, 'artifact-sha256');
  if (!raw) {
    if (sha) throw new InputError('artifact-sha256', 'is set but artifact-url is empty (the checksum is of the file hosts download)');
    return null;
  }
  const href = validateArtifactUrl('artifact-url', raw);
  if (!sha) throw new InputError('artifact-sha256', 'is required with artifact-url: every host checks the download against it before unpacking');
  const url = new URL(href);
  if (url.search.length > 1) mask(url.search.slice(1));
  if (url.password) mask(decodeURIComponent(url.password));
  return { href, redacted: redactUrl(href), sha256: validateSha256('artifact-sha256', sha) };
}

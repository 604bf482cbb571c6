// The on-host layout every host keeps: releases/, current, shared/, .fivestep/ under the deploy path.
import { InputError } from '../common/inputs.js';

export const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function validateReleaseId(input: string, id: string): string {
  if (!RELEASE_ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw new InputError(input, `'${id}' is not a valid release id (must match ${RELEASE_ID_PATTERN.source})`);
  }
  return id;
}

/**
 * An absolute, normalised path without `..`, control characters or backslashes: sha256sum and tar
 * escape a backslash in the names they print, so checks against such a path would never match.
 */
export function validateDeployPath(input: string, path: string): string {
  if (!path.startsWith('/')) throw new InputError(input, `'${path}' must be an absolute path`);
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\0-\x1f\x7f]/.test(path)) throw new InputError(input, 'must not contain control characters');
  if (path.includes('\\'))
    throw new InputError(
      input,
      `'${path}' must not contain a backslash (sha256sum and tar escape it in the names they print, so the ` +
        `upload's checks could never pass)`,
    );
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new InputError(input, `'${path}' must not contain '..'`);
  if (parts.length === 0) throw new InputError(input, 'must not be /');
  return '/' + parts.join('/');
}

/**
 * A shared-paths entry: a path inside the release; `dir` when written with a trailing `/` (created empty when
 * missing).
 */
export interface SharedPath {
  path: string;
  dir: boolean;
}

/** A shared path: relative, inside the release, no `..`; a trailing `/` declares a directory. */
export function validateSharedPath(input: string, path: string): SharedPath {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (path.startsWith('/') || parts.length === 0 || parts.includes('..') || /[\0-\x1f\x7f]/.test(path)) {
    throw new InputError(input, `'${path}' must be a relative path inside the release without '..'`);
  }
  return { path: parts.join('/'), dir: path.endsWith('/') };
}

/**
 * The proper prefixes of a relative path: `a/b/c` → `a`, `a/b` (each checked for a symlink before anything goes
 * through it).
 */
export function parentPaths(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

export interface Layout {
  deployPath: string;
  releases: string;
  current: string;
  shared: string;
  state: string;
  lock: string;
  log: string;
  bad: string;
  checksums: string;
  /** Each release's manifest (path, mode, size, sha256 of every file): what delta staging builds from. */
  manifests: string;
  incoming: string;
}

export function layout(deployPath: string): Layout {
  const state = `${deployPath}/.fivestep`;
  return {
    deployPath,
    releases: `${deployPath}/releases`,
    current: `${deployPath}/current`,
    shared: `${deployPath}/shared`,
    state,
    lock: `${state}/lock`,
    log: `${state}/deploy.log`,
    bad: `${state}/bad`,
    checksums: `${state}/checksums`,
    manifests: `${state}/manifests`,
    incoming: `${state}/incoming`,
  };
}

export const releasePath = (deployPath: string, id: string): string => `${deployPath}/releases/${id}`;

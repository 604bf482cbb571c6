// Host states as preflight reads them, for the pure ledger and revert-plan tests.
import { type DeployLogEntry } from '../../src/release/commands.js';
import { emptyState, type HostState } from '../../src/release/state-command.js';

/** A host on `current`, with these releases on disk (oldest first), this deploy log and these marked bad. */
export const hostState = (
  current: string,
  releases: string[],
  log: DeployLogEntry[] = [],
  bad: string[] = [],
): HostState => ({
  ...emptyState(),
  current,
  releases: releases.map((id, i) => ({ id, mtime: 1000 + i })),
  bad,
  checksum: '',
  log,
});

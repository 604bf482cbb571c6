// Jest's global setup: before any suite starts, install every Debian package some test needs where it
// is missing (one apt run, not one per worker), so `npm ci && npm test` passes on a fresh machine.
import { TEST_PACKAGES, ensurePackages } from './servers/system-packages.js';

export default function globalSetup(): void {
  ensurePackages(TEST_PACKAGES);
}

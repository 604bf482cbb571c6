// Jest's global setup: before any suite starts, install every Debian package some test needs where it
// is missing (one apt run, not one per worker), so `npm ci && npm test` passes on a fresh machine.
// Jest loads this file with Node itself (no moduleNameMapper), so the TypeScript list is read through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { TEST_PACKAGES, ensurePackages } = await tsImport('./servers/system-packages.ts', import.meta.url);
  ensurePackages(TEST_PACKAGES);
}

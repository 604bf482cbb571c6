// One way to run test-gate in tests: a real shell in a scratch checkout, the real Octokit client against
// the GitHub API stand-in, and the run's log, output and summary read back.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Zip, ZipDeflate } from 'fflate';
import { objectInputs } from '../../src/common/inputs.js';
import { MemoryLogger } from '../../src/common/logger.js';
import { createClient, type GitHubClient } from '../../src/github/client.js';
import type { RunContext } from '../../src/github/context.js';
import { runGate } from '../../src/gate/gate.js';
import { readSettings } from '../../src/gate/settings.js';
import { startGitHubApi, type GitHubApiStandIn, type StandInOptions } from '../servers/github-api.js';

export const REPO = 'acme/shop';
export const FIXTURES = new URL('../fixtures/junit/', import.meta.url).pathname;

export interface EventOptions {
  sha?: string;
  ref?: string;
  payload?: object;
  /** The run's id (its URL is https://github.com/acme/shop/actions/runs/<id>). */
  runId?: number;
}

export function context(apiUrl: string, eventName: string, o: EventOptions = {}): RunContext {
  const runId = String(o.runId ?? 77);
  return {
    repository: REPO,
    owner: 'acme',
    repo: 'shop',
    sha: o.sha ?? 'f'.repeat(40),
    ref: o.ref ?? 'refs/heads/main',
    eventName,
    serverUrl: 'https://github.com',
    apiUrl,
    runId,
    runAttempt: '1',
    workflow: 'ci',
    actor: 'ann',
    runUrl: `https://github.com/acme/shop/actions/runs/${runId}`,
    payload: o.payload ?? { repository: { default_branch: 'main' } },
  };
}

/** A stand-in, a client for `token`, and a scratch checkout with a reports/ directory, per test. */
export class GateHarness {
  gh!: GitHubApiStandIn;
  client!: GitHubClient;
  dir = '';
  /** The runner's RUNNER_TEMP, where mode save writes its results by default. */
  runnerTemp = '';

  constructor(private readonly options: StandInOptions & { token?: string } = {}) {}

  async setUp(): Promise<void> {
    this.gh = await startGitHubApi(this.options);
    this.client = createClient(this.options.token ?? 't0ken', this.gh.url);
    this.dir = mkdtempSync(join(tmpdir(), 'gate-'));
    this.runnerTemp = mkdtempSync(join(tmpdir(), 'gate-runner-temp-'));
    mkdirSync(join(this.dir, 'reports'));
  }

  /** Where mode save writes by default. */
  get resultsDir(): string {
    return join(this.runnerTemp, 'test-gate-results');
  }

  async tearDown(): Promise<void> {
    await this.gh.close();
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.runnerTemp, { recursive: true, force: true });
  }

  /** Runs the gate with these inputs on this event; `client: null` posts nothing (no token). */
  async gate(
    eventName: string,
    inputs: Record<string, string>,
    o: EventOptions & { client?: GitHubClient | null; env?: NodeJS.ProcessEnv } = {},
  ) {
    const logger = new MemoryLogger();
    let output = '';
    let summaryText = '';
    const result = await runGate({
      settings: readSettings(
        objectInputs({ 'github-token': 't0ken', ...inputs }),
        o.env ?? { RUNNER_TEMP: this.runnerTemp },
      ),
      context: context(this.gh.url, eventName, o),
      logger,
      client: o.client === undefined ? this.client : o.client,
      cwd: this.dir,
      onOutput: (c) => (output += c),
      writeSummary: async (md) => void (summaryText = md),
    });
    return { ...result, log: logger.text(), output, summary: summaryText };
  }
}

export const prPayload = (number: number, headSha: string, o: { fork?: string } = {}) => ({
  pull_request: {
    number,
    head: { sha: headSha, ref: `pr-${number}`, repo: { full_name: o.fork ?? REPO } },
    base: { ref: 'main' },
  },
  repository: { default_branch: 'main', full_name: REPO },
});
export const copyFixture = (name: string): string => `cp ${join(FIXTURES, name)} reports/${name}`;

/** The directory's files in a zip, as actions/upload-artifact builds it: paths relative to the directory. */
export async function zipDirectory(dir: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const zip = new Zip((err, chunk, final) => {
      if (err) return reject(err);
      chunks.push(chunk);
      if (final) resolve();
    });
    const walk = (d: string): void => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else {
          const entry = new ZipDeflate(relative(dir, p), { level: 6 });
          zip.add(entry);
          entry.push(readFileSync(p), true);
        }
      }
    };
    walk(dir);
    zip.end();
  });
  await done;
  return Buffer.concat(chunks);
}

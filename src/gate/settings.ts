// test-gate's inputs → typed settings (the input-helper of actions/checkout). Logic never reads inputs itself.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InputError,
  optional,
  parseBool,
  parseInteger,
  parseList,
  required,
  type InputSource,
} from '../common/inputs.js';

/**
 * `run`: run the tests and post everything (the token can write).
 * `save`: run the tests and write the result for a later `publish` (a fork's pull request: read-only token).
 * `publish`: in a `workflow_run` workflow, post the saved result of the run that triggered it; runs no code.
 */
export type GateMode = 'run' | 'save' | 'publish';
export const GATE_MODES: readonly GateMode[] = ['run', 'save', 'publish'];

export interface GateSettings {
  mode: GateMode;
  /** The test command; empty in mode `publish`, which runs nothing. */
  command: string;
  /** Globs of JUnit XML reports; empty means the exit code alone decides. */
  junit: string[];
  githubToken: string;
  checkName: string;
  tree: boolean;
  treeOverrideLabel: string;
  requireTestForBug: boolean;
  bugLabels: string[];
  testPaths: string[];
  retries: number;
  /** Mode `save`: the directory the result and reports are written to (for actions/upload-artifact). */
  resultsPath: string;
  /** Mode `publish`: the artifact of the triggering run that holds the saved result. */
  artifactName: string;
}

export const DEFAULT_ARTIFACT_NAME = 'test-gate-results';

/** Where tests live in the usual layouts: JS/TS, Python, Go, Java/Kotlin, Ruby, Rust, C#. */
export const DEFAULT_TEST_PATHS = [
  '**/test/**',
  '**/tests/**',
  '**/__tests__/**',
  '**/spec/**',
  '**/*.test.*',
  '**/*.spec.*',
  '**/*_test.*',
  '**/test_*.py',
  '**/*Test.java',
  '**/*Test.kt',
  '**/*Tests.cs',
];

const MAX_RETRIES = 10;

export function readSettings(inputs: InputSource, env: NodeJS.ProcessEnv = process.env): GateSettings {
  const mode = optional(inputs, 'mode', 'run') as GateMode;
  if (!GATE_MODES.includes(mode))
    throw new InputError('mode', `expected run, save or publish, got '${inputs('mode')}'`);
  const checkName = optional(inputs, 'check-name', 'test-gate');
  // The tree status is `<check-name>/tree`; a slash-free, short name keeps both readable in branch protection.
  if (checkName.length > 100) throw new InputError('check-name', 'must be at most 100 characters');
  const testPaths = parseGlobs(inputs('test-paths'));
  const bugLabels = parseList(optional(inputs, 'bug-labels', 'bug'));
  const settings: GateSettings = {
    mode,
    command: mode === 'publish' ? '' : required(inputs, 'command'),
    junit: parseGlobs(inputs('junit')),
    githubToken: inputs('github-token').trim(),
    checkName,
    tree: parseBool('tree', inputs('tree'), true),
    treeOverrideLabel: optional(inputs, 'tree-override-label', 'fixes-tree'),
    requireTestForBug: parseBool('require-test-for-bug', inputs('require-test-for-bug'), true),
    bugLabels,
    testPaths: testPaths.length > 0 ? testPaths : DEFAULT_TEST_PATHS,
    retries: parseInteger('retries', optional(inputs, 'retries', '0'), { min: 0, max: MAX_RETRIES }),
    resultsPath: optional(inputs, 'results-path', join(env.RUNNER_TEMP || tmpdir(), DEFAULT_ARTIFACT_NAME)),
    artifactName: optional(inputs, 'artifact-name', DEFAULT_ARTIFACT_NAME),
  };
  // The publishing half holds a write token and must run no pull-request code: a command there is a mistake.
  if (mode === 'publish' && inputs('command').trim() !== '') {
    throw new InputError(
      'command',
      "is not run in mode publish: the workflow_run half posts the saved result of the pull request's run " +
        'and runs no code; remove it',
    );
  }
  if (mode === 'publish' && inputs('junit').trim() !== '') {
    throw new InputError(
      'junit',
      'is not read in mode publish: the reports come from the saved result; set junit on the mode save step',
    );
  }
  if (settings.requireTestForBug && settings.bugLabels.length === 0) {
    throw new InputError(
      'bug-labels',
      'is empty while require-test-for-bug is true; name at least one label or turn the rule off',
    );
  }
  return settings;
}

/** One glob a line, or comma-separated; a comma inside `{a,b}` belongs to the glob. */
export function parseGlobs(text: string): string[] {
  const out: string[] = [];
  for (const line of parseList(text, { commas: false })) {
    let depth = 0;
    let current = '';
    for (const ch of line) {
      if (ch === '{') depth++;
      if (ch === '}') depth = Math.max(0, depth - 1);
      if (ch === ',' && depth === 0) {
        if (current.trim()) out.push(current.trim());
        current = '';
      } else current += ch;
    }
    if (current.trim()) out.push(current.trim());
  }
  return out;
}

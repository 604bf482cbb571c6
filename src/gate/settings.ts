// test-gate's inputs → typed settings (the input-helper of actions/checkout). Logic never reads inputs itself.
import { InputError, optional, parseBool, parseInteger, parseList, required, type InputSource } from '../common/inputs.js';

export interface GateSettings {
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
}

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

export function readSettings(inputs: InputSource): GateSettings {
  const checkName = optional(inputs, 'check-name', 'test-gate');
  // The tree status is `<check-name>/tree`; a slash-free, short name keeps both readable in branch protection.
  if (checkName.length > 100) throw new InputError('check-name', 'must be at most 100 characters');
  const testPaths = parseGlobs(inputs('test-paths'));
  const bugLabels = parseList(optional(inputs, 'bug-labels', 'bug'));
  const settings: GateSettings = {
    command: required(inputs, 'command'),
    junit: parseGlobs(inputs('junit')),
    githubToken: inputs('github-token').trim(),
    checkName,
    tree: parseBool('tree', inputs('tree'), true),
    treeOverrideLabel: optional(inputs, 'tree-override-label', 'fixes-tree'),
    requireTestForBug: parseBool('require-test-for-bug', inputs('require-test-for-bug'), true),
    bugLabels,
    testPaths: testPaths.length > 0 ? testPaths : DEFAULT_TEST_PATHS,
    retries: parseInteger('retries', optional(inputs, 'retries', '0'), { min: 0, max: MAX_RETRIES }),
  };
  if (settings.requireTestForBug && settings.bugLabels.length === 0) {
    throw new InputError('bug-labels', 'is empty while require-test-for-bug is true; name at least one label or turn the rule off');
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

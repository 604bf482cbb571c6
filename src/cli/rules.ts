// `fivestep rules`: the watch rules as the monitoring stack's own files. The generators are pure (src/alerting);
// this shell reads the inputs, writes the file (or compares it with a committed one) and says what was skipped.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { alertmanagerConfig } from '../alerting/alertmanager-config.js';
import { prometheusRules } from '../alerting/prometheus-rules.js';
import { promtoolTests } from '../alerting/promtool-tests.js';
import type { GeneratedFile, SecretFiles } from '../alerting/types.js';
import { InputError, type InputSource } from '../common/inputs.js';
import { parseWatchSettings } from '../metrics/settings.js';
import type { WatchSettings } from '../metrics/types.js';
import type { CliArgs } from './args.js';
import type { Terminal } from './terminal.js';

export const RULE_FORMATS = ['prometheus', 'promtool-tests', 'alertmanager'] as const;
export type RuleFormat = (typeof RULE_FORMATS)[number];

/** The rule file promtool tests load when --rule-file is not given. */
export const DEFAULT_RULE_FILE = 'fivestep.rules.yml';

export interface RulesIo {
  stdout: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  /** Inputs read from a file (`NAME-file: PATH`) and their paths. */
  files: ReadonlyMap<string, string>;
}

/** The file the format asks for, from the watch's settings. */
export function generate(
  format: RuleFormat,
  settings: WatchSettings,
  options: { ruleFile: string; files: SecretFiles },
): GeneratedFile {
  if (format === 'prometheus') return prometheusRules(settings);
  if (format === 'promtool-tests') return promtoolTests(settings, options.ruleFile);
  return alertmanagerConfig(settings, options.files);
}

/** The first line where two texts differ (1-based), with both sides, for a message. */
export function firstDifference(expected: string, actual: string): { line: number; expected: string; actual: string } {
  const a = expected.split('\n');
  const b = actual.split('\n');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return { line: i + 1, expected: a[i] ?? '(end of file)', actual: b[i] ?? '(end of file)' };
}

function formatOf(args: CliArgs): RuleFormat {
  const format = args.options.get('--format');
  if (!format) throw new InputError('--format', `is required: one of ${RULE_FORMATS.join(', ')}`);
  if (!(RULE_FORMATS as readonly string[]).includes(format))
    throw new InputError('--format', `'${format}' is not one of ${RULE_FORMATS.join(', ')}`);
  return format as RuleFormat;
}

/**
 * Secrets that an Alertmanager configuration refers to by file: `NAME-file: PATH` is written as that path and never
 * read (it is on the Alertmanager host, not where the rules are generated). Meanwhile the settings read these
 * stand-ins, which the configuration never holds (it holds the path).
 */
export const SECRET_FILE_STAND_INS = {
  'pagerduty-routing-key': 'given-as-a-file',
  'alert-webhook': 'https://given-as-a-file.invalid/',
  'smtp-password': 'given-as-a-file',
} as const satisfies Record<keyof SecretFiles, string>;

const SECRET_FILE_INPUTS = Object.keys(SECRET_FILE_STAND_INS) as (keyof SecretFiles)[];

export async function rulesCommand(args: CliArgs, source: InputSource, term: Terminal, io: RulesIo): Promise<number> {
  const format = formatOf(args);
  // A rollout's watch names no hosts (each wave gives them): {host} then matches every instance.
  const settings = parseWatchSettings(source, { env: io.env, hostsAtRunTime: true });
  const files: SecretFiles = {};
  for (const name of SECRET_FILE_INPUTS) {
    const path = io.files.get(name);
    if (path) files[name] = path;
  }
  const ruleFile = args.options.get('--rule-file') ?? DEFAULT_RULE_FILE;
  const out = generate(format, settings, { ruleFile, files });
  for (const s of out.skipped) term.warning(`rule '${s.rule}' skipped: ${s.reason}`);
  for (const w of out.warnings) term.warning(w);

  const check = args.options.get('--check');
  if (check !== undefined) return checkFile(check, out.text, regenerate(args, format, check), term);
  const output = args.options.get('--output');
  if (output === undefined) {
    io.stdout.write(out.text);
    return 0;
  }
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, out.text);
  term.info(`Wrote ${output} (${format}${out.skipped.length ? `; ${out.skipped.length} skipped` : ''})`);
  return 0;
}

/** The command that writes FILE from the same rules: what a stale file's message says to run. */
function regenerate(args: CliArgs, format: RuleFormat, path: string): string {
  const ruleFile = args.options.get('--rule-file');
  return [
    'fivestep rules',
    ...args.configs.map((c) => `--config ${c}`),
    ...(args.sets.length ? ['(with the same --set options)'] : []),
    `--format ${format}`,
    ...(ruleFile !== undefined ? [`--rule-file ${ruleFile}`] : []),
    `--output ${path}`,
  ].join(' ');
}

/** `--check FILE`: 0 when the committed file is what the rules give, else 1 with where they part. */
function checkFile(path: string, text: string, command: string, term: Terminal): number {
  let committed: string;
  try {
    committed = readFileSync(path, 'utf8');
  } catch (err) {
    term.error(
      `${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); generate it: ${command}`,
    );
    return 1;
  }
  if (committed === text) {
    term.info(`${path} is up to date with the rules`);
    return 0;
  }
  const d = firstDifference(text, committed);
  term.error(
    `${path} differs from what the rules give, from line ${d.line}: expected ${JSON.stringify(d.expected)}, ` +
      `found ${JSON.stringify(d.actual)}. Regenerate it: ${command}`,
  );
  return 1;
}

// The command line, parsed (pure): which command, its flags, and where inputs come from. Nothing here reads a file.

/** The commands that work; `--help` lists exactly these. */
export const COMMANDS = {
  rollout: 'what ssh-rollout does, with the same inputs',
  revert: 'put hosts back (--to RELEASE, or --bad RELEASE); nothing is marked bad unless --mark-bad',
  watch: 'what metric-watch does; --once evaluates every rule once and exits',
  status: 'per host: current and its ledger status, the previous healthy release, releases on disk, the lock',
  unlock: 'remove stale deploy locks; a live one only with --force',
  check: 'a Nagios/Icinga/Naemon plugin: evaluate the watch rules once; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
  rules: 'write the watch rules as Prometheus alerting rules, promtool unit tests or an Alertmanager configuration',
} as const;

export type CommandName = keyof typeof COMMANDS;

/** Options each command takes besides the common ones (--config, --set, --json, --verbose, --help). */
const OPTIONS: Record<CommandName, Record<string, 'value' | 'flag'>> = {
  rollout: {},
  revert: { '--to': 'value', '--bad': 'value', '--mark-bad': 'flag' },
  watch: { '--once': 'flag' },
  status: {},
  unlock: { '--force': 'flag' },
  check: { '--timeout': 'value' },
  rules: { '--format': 'value', '--output': 'value', '--check': 'value', '--rule-file': 'value' },
};

const COMMON: Record<string, 'value' | 'flag'> = {
  '--config': 'value',
  '--set': 'value',
  '--json': 'flag',
  '--verbose': 'flag',
};

export interface CliArgs {
  command: CommandName;
  /** Config files in the order given (later ones win). */
  configs: string[];
  /** `--set NAME=VALUE`, in order (later ones win). */
  sets: [string, string][];
  json: boolean;
  verbose: boolean;
  /** The command's own options: `--to` → its value, a flag → 'true'. */
  options: Map<string, string>;
}

export type Parsed =
  | { kind: 'run'; args: CliArgs }
  | { kind: 'help'; command?: CommandName }
  | { kind: 'version' }
  /** A usage error: the message, and the command whose help to point at. */
  | { kind: 'usage'; message: string; command?: CommandName };

const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMANDS, name);

export function parseArgs(argv: readonly string[]): Parsed {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help')
    return { kind: 'help', command: rest[0] && isCommand(rest[0]) ? rest[0] : undefined };
  if (first === '--version' || first === '-V') return { kind: 'version' };
  if (!isCommand(first)) return { kind: 'usage', message: `unknown command '${first}'` };
  const command = first;
  const args: CliArgs = { command, configs: [], sets: [], json: false, verbose: false, options: new Map() };
  const known = { ...COMMON, ...OPTIONS[command] };
  for (let i = 0; i < rest.length; i++) {
    const raw = rest[i];
    if (raw === '--help' || raw === '-h') return { kind: 'help', command };
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const name = eq > 0 ? raw.slice(0, eq) : raw;
    const kind = Object.hasOwn(known, name) ? known[name] : undefined;
    if (!kind) {
      const what = raw.startsWith('-') ? `unknown option '${name}'` : `unexpected argument '${raw}'`;
      return { kind: 'usage', message: `${what} for '${command}'`, command };
    }
    let value = 'true';
    if (kind === 'value') {
      if (eq > 0) value = raw.slice(eq + 1);
      else if (i + 1 < rest.length) value = rest[++i];
      else return { kind: 'usage', message: `${name} needs a value`, command };
    } else if (eq > 0) return { kind: 'usage', message: `${name} takes no value`, command };
    const problem = take(args, name, value);
    if (problem) return { kind: 'usage', message: problem, command };
  }
  return { kind: 'run', args };
}

/** Records one option; a message when its value is malformed. */
function take(args: CliArgs, name: string, value: string): string | undefined {
  if (name === '--config') args.configs.push(value);
  else if (name === '--json') args.json = true;
  else if (name === '--verbose') args.verbose = true;
  else if (name === '--set') {
    const eq = value.indexOf('=');
    if (eq <= 0) return `--set needs NAME=VALUE, got '${value}'`;
    args.sets.push([value.slice(0, eq).trim(), value.slice(eq + 1)]);
  } else args.options.set(name, value);
  return undefined;
}

/** `fivestep --help`, or one command's help. */
export function helpText(command?: CommandName): string {
  const common = [
    'Inputs (later ones win):',
    "  --config FILE        YAML whose keys are the actions' input names: paste a workflow's `with:` block;",
    '                       NAME-file: PATH reads input NAME from a file (e.g. private-key-file: ~/.ssh/deploy)',
    '  --set NAME=VALUE     one input',
    '  INPUT_<NAME>         environment variables, as the GitHub runner sets them (INPUT_PRIVATE-KEY or',
    '                       INPUT_PRIVATE_KEY)',
    'Output:',
    '  outputs are printed as name=value lines on stdout (--json: one JSON object); the log goes to stderr',
    '  --verbose            debug lines too',
  ];
  if (command) {
    const own: Record<CommandName, string[]> = {
      rollout: ['  (the inputs of ssh-rollout; Ctrl-C stops the rollout and puts switched hosts back)'],
      revert: [
        '  --to RELEASE         the release to put every host on (hosts already on it are left alone)',
        '  --bad RELEASE        take this release off the hosts that run it (to --to, or their newest healthy one)',
        '  --mark-bad           also mark the release taken off bad (no automatic rollback lands on it again)',
      ],
      watch: ['  --once               evaluate every rule once and exit (the inputs of metric-watch)'],
      status: ['  --json               one JSON object: every host, for scripts'],
      unlock: [
        '  --force              also remove a live lock (its holder is named; the run holding it may still be going)',
      ],
      check: [
        '  --timeout DURATION   give up as UNKNOWN after this long (default 10s; 30 or 30s); keep it under',
        "                       Nagios's service_check_timeout (60s by default)",
        '  (the inputs of metric-watch; one reading of every rule. stdout: the plugin output (status line |',
        '  performance data, then one line per reading); exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, also for',
        "  input and usage errors. A rule's warn: bound gives WARNING; its for: is the monitor's max_check_attempts)",
      ],
      rules: [
        '  --format FORMAT      prometheus (alerting rules), promtool-tests (unit tests for them) or alertmanager',
        '                       (receivers from the alert inputs; a secret given as NAME-file stays a file reference)',
        '  --output FILE        write the file there (default: stdout)',
        '  --check FILE         exit 1 when FILE differs from what the rules give (a CI step: generated files in step)',
        '  --rule-file PATH     promtool-tests: the rule file the tests load, relative to the test file',
        '                       (default: fivestep.rules.yml)',
        '  (the inputs of metric-watch: the same rules the deploy gates on; rules that cannot be expressed are',
        '  listed on stderr as skipped, with the reason)',
      ],
    };
    return [
      `fivestep ${command}: ${COMMANDS[command]}`,
      '',
      `Usage: fivestep ${command} [options]`,
      ...own[command],
      '',
      ...common,
    ].join('\n');
  }
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'fivestep: continuous deployment from a terminal, with the same engine as the GitHub Actions',
    '',
    'Usage: fivestep <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`),
    '',
    ...common,
    '',
    "fivestep <command> --help shows a command's own options.",
  ].join('\n');
}

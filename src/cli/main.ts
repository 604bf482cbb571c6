// `fivestep <command>`: a thin shell over the actions' own logic. Inputs are layered as the runner passes them
// (cli/inputs.ts) and read by the same settings readers; the log and the summary go to the terminal, outputs to
// stdout, and the exit status is the action's.
import { readFileSync } from 'node:fs';
import type { Outputs } from '../common/action.js';
import { errorMessage } from '../common/errors.js';
import { InputError, type InputSource } from '../common/inputs.js';
import { metricWatchAction } from '../metrics/action.js';
import { readSshSettings } from '../release/ssh-settings.js';
import { autoRevert } from '../revert/main.js';
import { sshRollout } from '../rollout/main.js';
import type { WaveProgress } from '../rollout/progress.js';
import { formatDurationInput } from '../common/format.js';
import type { Connector } from '../ssh/types.js';
import { helpText, parseArgs, type CliArgs, type CommandName } from './args.js';
import { checkCommand, checkFailed, checkUsageError } from './check.js';
import { readStatus, unlockFleet } from './fleet.js';
import { layerInputs, readActionInputs, type ActionName, type CliInputs } from './inputs.js';
import { rulesCommand, SECRET_FILE_STAND_INS } from './rules.js';
import { statusText } from './status-view.js';
import { Terminal, type TerminalStream } from './terminal.js';
import { renderForTerminal } from './terminal-markdown.js';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: TerminalStream;
  env: NodeJS.ProcessEnv;
  /** Builds the SSH connector once the log is known. */
  connector: (logger: Terminal) => Connector;
  /** Registers what Ctrl-C (SIGINT) and SIGTERM do; returns the function that removes it. */
  onSignal: (handler: (signal: string) => void) => () => void;
  /** Quits at once (a second Ctrl-C). */
  exit: (code: number) => void;
  readFile?: (path: string) => string;
  version?: string;
}

/** Exit statuses besides the action's own 0 (success) and 1 (failed). */
export const EXIT_USAGE = 2;
/** Stopped by Ctrl-C, as shells count a SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** Which action's inputs each command takes. */
const ACTION_OF: Record<CommandName, ActionName> = {
  rollout: 'ssh-rollout',
  revert: 'auto-revert',
  watch: 'metric-watch',
  status: 'ssh-rollout',
  unlock: 'ssh-rollout',
  check: 'metric-watch',
  rules: 'metric-watch',
};

/** Runs one command line; resolves with the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'help') return (io.stdout.write(`${helpText(parsed.command)}\n`), 0);
  if (parsed.kind === 'version') return (io.stdout.write(`fivestep ${io.version ?? ''}\n`), 0);
  if (parsed.kind === 'usage') {
    const more = parsed.command ? `fivestep ${parsed.command} --help` : 'fivestep --help';
    io.stderr.write(`fivestep: ${parsed.message} (see ${more})\n`);
    // `check` answers a monitor: whatever goes wrong before a verdict is UNKNOWN (3), never CRITICAL (2).
    if (parsed.command === 'check') return checkUsageError(parsed.message, io);
    return EXIT_USAGE;
  }
  const { args } = parsed;
  const term = new Terminal(io.stderr, { verbose: args.verbose });
  try {
    const inputs = inputsFor(args, io, term);
    return await COMMAND_RUNNERS[args.command](args, inputs.source, term, io, inputs);
  } catch (err) {
    term.clearStatus();
    if (args.command === 'check') return checkFailed(err, term, io);
    // An input error is the action's own message; anything else is a crash, shown with its stack.
    if (err instanceof InputError) term.error(err.message);
    else term.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    return 1;
  }
}

/** `inputs` has more than `source` for the command that needs it (`rules`: which inputs came from files). */
type Runner = (args: CliArgs, source: InputSource, term: Terminal, io: CliIo, inputs: CliInputs) => Promise<number>;

const COMMAND_RUNNERS: Record<CommandName, Runner> = {
  rollout: rolloutCommand,
  revert: revertCommand,
  watch: watchCommand,
  status: statusCommand,
  unlock: unlockCommand,
  check: checkCommand,
  rules: (args, source, term, io, inputs) => rulesCommand(args, source, term, { ...io, files: inputs.files }),
};

/** The layered inputs of the command's action; secrets given are masked from here on. */
function inputsFor(args: CliArgs, io: CliIo, term: Terminal): CliInputs {
  const action = ACTION_OF[args.command];
  const all = (['ssh-rollout', 'auto-revert', 'metric-watch'] as const).flatMap((a) => [...readActionInputs(a).keys()]);
  const readFile = io.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const inputs = layerInputs({
    inputs: readActionInputs(action),
    allNames: new Set(all),
    commandDefaults: args.command === 'revert' ? { 'mark-bad': 'false', 'rca-issue': 'false' } : {},
    configs: args.configs.map((path) => ({ path, text: readConfig(path, readFile) })),
    sets: args.sets,
    options: optionInputs(args),
    env: io.env,
    readFile,
    ...(args.command === 'rules' ? { fileReferences: SECRET_FILE_STAND_INS } : {}),
  });
  for (const w of inputs.warnings) term.warning(w);
  if (inputs.unused.length)
    term.info(`Not used by '${args.command}' (inputs of another action): ${inputs.unused.join(', ')}`);
  return inputs;
}

function readConfig(path: string, readFile: (p: string) => string): string {
  try {
    return readFile(path);
  } catch (err) {
    throw new InputError(
      '--config',
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`,
    );
  }
}

/** A command's own options as the inputs they stand for. */
function optionInputs(args: CliArgs): Record<string, string> {
  const o = args.options;
  const out: Record<string, string> = {};
  if (o.has('--to')) out['to-release'] = o.get('--to')!;
  if (o.has('--bad')) out['bad-release'] = o.get('--bad')!;
  if (o.has('--mark-bad')) out['mark-bad'] = 'true';
  return out;
}

/** Outputs as `name=value` lines (a value with a line break as a JSON string), or one JSON object with --json. */
function printOutputs(outputs: Outputs, args: CliArgs, term: Terminal, io: CliIo): void {
  const text = (v: Outputs[string]) => (typeof v === 'string' ? v : JSON.stringify(v));
  if (args.json) {
    const plain = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v]));
    io.stdout.write(`${term.masked(JSON.stringify(plain))}\n`);
    return;
  }
  for (const [k, v] of Object.entries(outputs)) {
    const value = text(v);
    io.stdout.write(`${k}=${term.masked(value.includes('\n') ? JSON.stringify(value) : value)}\n`);
  }
}

/** The summary the job summary would hold, rendered for the terminal; printed once the command ends. */
function summaryCollector(term: Terminal): { write: (md: string) => Promise<void>; print: () => void } {
  const parts: string[] = [];
  return {
    write: async (md) => void parts.push(md),
    print: () => {
      if (parts.length === 0) return;
      term.clearStatus();
      term.print(`\n${renderForTerminal(parts.join('\n\n'), { width: term.width })}`);
    },
  };
}

/** The action's result on the terminal: summary, outputs, and the failure as the last line. */
function finish(
  result: { outputs: Outputs; failure?: string },
  summary: { print: () => void },
  args: CliArgs,
  term: Terminal,
  io: CliIo,
): number {
  summary.print();
  printOutputs(result.outputs, args, term, io);
  if (!result.failure) return 0;
  term.error(result.failure);
  return 1;
}

/** The in-place line of the wave under way (on a TTY; elsewhere the log's wave lines say the same). */
function waveLine(term: Terminal): (p: WaveProgress) => void {
  return (p) => {
    if (p.phase === 'done') return term.clearStatus();
    const failed = p.failed ? `, ${p.failed} failed` : '';
    const what =
      p.phase === 'baking'
        ? `baking for ${formatDurationInput(p.bakeMs ?? 0)} (${p.updated} of ${p.hosts} updated${failed})`
        : `${p.updated + p.failed} of ${p.hosts} host(s) switched${failed}`;
    term.status(`Wave ${p.wave}/${p.waves}: ${what}`);
  };
}

/**
 * Ctrl-C as a cancelled job: the first stops the run and puts switched hosts back (`cancel`), a second quits at
 * once. Returns whether a signal came, and the function that stops listening.
 */
function cancellation(term: Terminal, io: CliIo, what: string): { signal: AbortSignal; off: () => void } {
  const controller = new AbortController();
  const off = io.onSignal((sig) => {
    if (controller.signal.aborted) {
      term.clearStatus();
      term.warning(`received ${sig} again: quitting now (hosts may be left as they are; run fivestep status)`);
      io.exit(EXIT_INTERRUPTED);
      return;
    }
    term.clearStatus();
    term.warning(`received ${sig}: ${what} (Ctrl-C again quits at once)`);
    controller.abort();
  });
  return { signal: controller.signal, off };
}

/** What the actions that reach hosts take from the terminal: SSH, the log, the mask, the environment, the summary. */
function hostDeps(term: Terminal, io: CliIo, summary: { write: (md: string) => Promise<void> }) {
  return {
    connector: io.connector(term),
    logger: term,
    mask: (s: string) => term.mask(s),
    env: io.env,
    writeSummary: summary.write,
  };
}

async function rolloutCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  const summary = summaryCollector(term);
  const cancel = cancellation(term, io, 'stopping the rollout and putting switched hosts back');
  try {
    const result = await sshRollout(source, {
      ...hostDeps(term, io, summary),
      signal: cancel.signal,
      onWaveProgress: waveLine(term),
    });
    term.clearStatus();
    const code = finish(result, summary, args, term, io);
    return cancel.signal.aborted && code !== 0 ? EXIT_INTERRUPTED : code;
  } finally {
    cancel.off();
  }
}

async function revertCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  if (!source('bad-release') && !source('to-release'))
    throw new InputError('bad-release', 'or to-release must be named: fivestep revert --to RELEASE (or --bad RELEASE)');
  const summary = summaryCollector(term);
  // Putting hosts back is the recovery itself: a first Ctrl-C only warns.
  const off = io.onSignal((sig) => {
    term.warning(`received ${sig}: the revert is putting hosts back; quitting now leaves some where they are`);
    io.exit(EXIT_INTERRUPTED);
  });
  try {
    const result = await autoRevert(source, hostDeps(term, io, summary));
    return finish(result, summary, args, term, io);
  } finally {
    off();
  }
}

async function watchCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  // metric-watch ends its watch at a signal itself, still with a verdict and a report.
  const result = await metricWatchAction(source, term, {
    mask: (s) => term.mask(s),
    env: io.env,
    watch: { once: args.options.has('--once') },
  });
  const summary = summaryCollector(term);
  await summary.write(result.summary);
  return finish(result, summary, args, term, io);
}

async function statusCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  const ssh = readSshSettings(source, { mask: (s) => term.mask(s) });
  for (const w of ssh.warnings) term.warning(w);
  const off = io.onSignal(() => io.exit(EXIT_INTERRUPTED));
  try {
    term.status(`Reading ${ssh.hosts.length} host(s)…`);
    const hosts = await readStatus(ssh, { connector: io.connector(term), logger: term });
    term.clearStatus();
    if (args.json) io.stdout.write(`${term.masked(JSON.stringify({ deployPath: ssh.deployPath, hosts }))}\n`);
    else io.stdout.write(`${term.masked(statusText(hosts))}\n`);
    const unread = hosts.filter((h) => h.error).length;
    if (unread) term.error(`${unread} of ${ssh.hosts.length} host(s) could not be read`);
    return unread ? 1 : 0;
  } finally {
    off();
  }
}

async function unlockCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  const ssh = readSshSettings(source, { mask: (s) => term.mask(s) });
  for (const w of ssh.warnings) term.warning(w);
  const force = args.options.has('--force');
  const results = await unlockFleet(ssh, force, { connector: io.connector(term), logger: term });
  let left = 0;
  for (const r of results) {
    if (r.error) term.error(`${r.host}: ${r.error}`);
    else if (r.reply?.kind === 'removed')
      term.info(
        `${r.host}: removed the ${force ? '' : 'stale '}lock of ${r.reply.holder} ` +
          `(last heartbeat ${r.reply.ageSec}s ago)`,
      );
    else if (r.reply?.kind === 'live') {
      left++;
      term.warning(
        `${r.host}: left the LIVE lock of ${r.reply.holder} (last heartbeat ${r.reply.ageSec}s ago): that run may ` +
          `still be going; wait for it, or use --force`,
      );
    } else term.debug(`${r.host}: no lock`);
  }
  const removed = results.filter((r) => r.reply?.kind === 'removed').map((r) => r.host);
  const failed = results.filter((r) => r.error).length;
  const outputs = { removed, live: results.filter((r) => r.reply?.kind === 'live').map((r) => r.host) };
  term.info(`${removed.length} lock(s) removed, ${left} live lock(s) left, ${failed} host(s) not reached`);
  printOutputs(outputs, args, term, io);
  return left || failed ? 1 : 0;
}

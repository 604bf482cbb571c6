// `fivestep check`: the watch rules as a Nagios/Icinga/Naemon plugin. Every rule is read once (the watch's `once`),
// the readings become the plugin's exit code and output (alerting/nagios.ts) on stdout, the log goes to stderr
// (Nagios reads only stdout), and nothing is sent: alerting is Nagios's. A rule's `for: N` is Nagios's
// `max_check_attempts N`: one check is one reading. Whatever goes wrong is UNKNOWN (3) with a one-line reason on
// stdout, never the CLI's usual exit 1 or 2, which Nagios would read as WARNING or CRITICAL.
import { errorMessage } from '../common/errors.js';
import { InputError, parseDuration, type InputSource } from '../common/inputs.js';
import { formatDurationInput } from '../common/format.js';
import { nagiosResult, pluginUnknown, type PluginResult } from '../alerting/nagios.js';
import { maskWatchSecrets, parseWatchSettings } from '../metrics/settings.js';
import { runWatch } from '../metrics/watch.js';
import type { CliArgs } from './args.js';
import type { CliIo } from './main.js';
import type { Terminal } from './terminal.js';

/** How long a check may take before it gives up as UNKNOWN (the guidelines' -t/--timeout; Nagios waits 60 s). */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/** Whatever it throws (an input error, a crash) runCli turns into UNKNOWN through checkFailed. */
export async function checkCommand(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<number> {
  const result = await runCheck(args, source, term, io);
  io.stdout.write(`${term.masked(result.output)}\n`);
  return result.exitCode;
}

async function runCheck(args: CliArgs, source: InputSource, term: Terminal, io: CliIo): Promise<PluginResult> {
  const timeoutMs = checkTimeout(args.options.get('--timeout'));
  maskWatchSecrets(source, (secret) => term.mask(secret));
  const settings = parseWatchSettings(source, { env: io.env });
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const off = io.onSignal((signal) => {
    term.warning(`received ${signal}: ending the check`);
    controller.abort();
  });
  try {
    // A source that does not give up at the abort must not hold the check past its timeout.
    const gaveUp = new Promise<'gave up'>((resolve) =>
      controller.signal.addEventListener('abort', () => setTimeout(() => resolve('gave up'), 1000).unref(), {
        once: true,
      }),
    );
    const watch = await Promise.race([
      runWatch(settings, { logger: term, once: true, signal: controller.signal }),
      gaveUp,
    ]);
    if (timedOut) return pluginUnknown(`timed out after ${formatDurationInput(timeoutMs)} (--timeout)`);
    if (watch === 'gave up' || controller.signal.aborted) return pluginUnknown('interrupted');
    return nagiosResult(watch);
  } finally {
    clearTimeout(timer);
    off();
  }
}

function checkTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CHECK_TIMEOUT_MS;
  const ms = parseDuration('--timeout', text);
  if (ms <= 0) throw new InputError('--timeout', 'must be longer than 0');
  return ms;
}

/** A usage error of `check` (the command line itself): UNKNOWN, with the reason on stdout. */
export function checkUsageError(message: string, io: Pick<CliIo, 'stdout'>): number {
  const unknown = pluginUnknown(message);
  io.stdout.write(`${unknown.output}\n`);
  return unknown.exitCode;
}

/** An error while checking: UNKNOWN with the reason on stdout (one line) and, for a crash, the stack in the log. */
export function checkFailed(err: unknown, term: Terminal, io: Pick<CliIo, 'stdout'>): number {
  term.clearStatus();
  const crash = !(err instanceof InputError);
  if (crash) term.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  else term.error(err.message);
  const unknown = pluginUnknown(crash ? `fivestep check failed: ${errorMessage(err)}` : errorMessage(err));
  io.stdout.write(`${term.masked(unknown.output)}\n`);
  return unknown.exitCode;
}

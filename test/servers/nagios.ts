// Debian's Nagios Core 4 (nagios4-core) in a temp dir of its own: no web UI, its own log, status, lock, query
// socket and check-result files, `interval_length=1` so every interval is in seconds, run as the current user (as
// root, Nagios 4.4 drops privileges to nagios_user/nagios_group only when they name another user: here they are
// the current uid/gid, so it stays who started it). One host whose check always passes (/bin/true) and the
// services given, each an active check run every `checkInterval` seconds by Nagios's own worker processes.
// What it did is read from its own files: the log (`SERVICE ALERT: host;service;STATE;TYPE;attempt;output`) and
// status.dat (each service's current state, plugin output and performance data).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, descendants, killOnExit } from './child-processes.js';
import { ensurePackages } from './system-packages.js';

export const NAGIOS_BIN = '/usr/sbin/nagios4';
export const NAGIOS_HOST = 'app';

export interface NagiosService {
  description: string;
  /** The check's command line: absolute paths, no `$` (a macro) and no `!` (an argument separator). */
  commandLine: string;
  /** Checks in a row in a non-OK state before the state is HARD (a fivestep rule's `for`). */
  maxCheckAttempts: number;
  /** Seconds between checks (and between retries while SOFT). */
  checkInterval?: number;
}

/** One `servicestatus` block of status.dat. */
export type ServiceStatus = Record<string, string>;

export interface NagiosServer {
  dir: string;
  pid: number;
  /** The log so far. */
  log(): string;
  /** `SERVICE ALERT` lines so far: `service;STATE;TYPE;attempt;output` of the host's services. */
  alerts(): string[];
  /** The services' status blocks as last written (every second). */
  services(): ServiceStatus[];
  /** Polls `probe` until it gives a value, or throws after `timeoutMs` with `what` and the log's tail. */
  waitFor<T>(what: string, probe: () => T | undefined, timeoutMs?: number): Promise<T>;
  /** Stops Nagios and every process it started (its workers, a check under way); removes its directory. */
  close(): Promise<void>;
}

const ALWAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

function mainConfig(dir: string): string {
  const at = (name: string) => join(dir, name);
  return [
    `log_file=${at('nagios.log')}`,
    `cfg_file=${at('objects.cfg')}`,
    `object_cache_file=${at('objects.cache')}`,
    `precached_object_file=${at('objects.precache')}`,
    `status_file=${at('status.dat')}`,
    'status_update_interval=1',
    // Numeric ids: Nagios keeps the user that started it (as root it would switch to another user here).
    `nagios_user=${process.getuid!()}`,
    `nagios_group=${process.getgid!()}`,
    'check_external_commands=0',
    `command_file=${at('nagios.cmd')}`,
    `query_socket=${at('nagios.qh')}`,
    `lock_file=${at('nagios.lock')}`,
    `temp_file=${at('nagios.tmp')}`,
    `temp_path=${dir}`,
    `check_result_path=${at('checkresults')}`,
    `state_retention_file=${at('retention.dat')}`,
    'retain_state_information=0',
    'interval_length=1',
    'use_syslog=0',
    // SOFT states (the retries before max_check_attempts) are logged as SERVICE ALERTs too.
    'log_service_retries=1',
    'log_rotation_method=n',
    'enable_notifications=0',
    'enable_flap_detection=0',
    'process_performance_data=0',
    // Every check is due at start (no spreading over the first interval), so the test does not wait for it.
    'service_inter_check_delay_method=n',
    'host_inter_check_delay_method=n',
    'check_workers=1',
    'illegal_macro_output_chars=`~$&|\'"<>',
  ].join('\n');
}

function objects(services: readonly NagiosService[]): string {
  const define = (type: string, fields: [string, string | number][]) =>
    [`define ${type} {`, ...fields.map(([k, v]) => `  ${k} ${v}`), '}'].join('\n');
  return [
    define('timeperiod', [
      ['timeperiod_name', 'always'],
      ['alias', 'always'],
      ...ALWAYS.map((d): [string, string] => [d, '00:00-24:00']),
    ]),
    define('command', [
      ['command_name', 'always-up'],
      ['command_line', '/bin/true'],
    ]),
    define('command', [
      ['command_name', 'notify-nobody'],
      ['command_line', '/bin/true'],
    ]),
    define('contact', [
      ['contact_name', 'nobody'],
      ['host_notifications_enabled', 0],
      ['service_notifications_enabled', 0],
      ['host_notification_period', 'always'],
      ['service_notification_period', 'always'],
      ['host_notification_options', 'n'],
      ['service_notification_options', 'n'],
      ['host_notification_commands', 'notify-nobody'],
      ['service_notification_commands', 'notify-nobody'],
    ]),
    define('host', [
      ['host_name', NAGIOS_HOST],
      ['address', '127.0.0.1'],
      ['check_command', 'always-up'],
      ['max_check_attempts', 1],
      ['check_interval', 1],
      ['check_period', 'always'],
      ['notification_period', 'always'],
      ['notifications_enabled', 0],
      ['contacts', 'nobody'],
    ]),
    ...services.flatMap((s, i) => [
      define('command', [
        ['command_name', `check-${i}`],
        ['command_line', s.commandLine],
      ]),
      define('service', [
        ['host_name', NAGIOS_HOST],
        ['service_description', s.description],
        ['check_command', `check-${i}`],
        ['max_check_attempts', s.maxCheckAttempts],
        ['check_interval', s.checkInterval ?? 1],
        ['retry_interval', s.checkInterval ?? 1],
        ['check_period', 'always'],
        ['notification_period', 'always'],
        ['notifications_enabled', 0],
        ['contacts', 'nobody'],
      ]),
    ]),
  ].join('\n\n');
}

/** status.dat's `servicestatus { key=value … }` blocks. */
export function parseServiceStatus(text: string): ServiceStatus[] {
  const out: ServiceStatus[] = [];
  for (const m of text.matchAll(/^servicestatus \{\n([\s\S]*?)\n\t\}/gm)) {
    const block: ServiceStatus = {};
    for (const line of m[1].split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) block[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    out.push(block);
  }
  return out;
}

/** Starts Nagios with the services; resolves once its log says it runs (checks start at once). */
export async function startNagios(services: readonly NagiosService[], timeoutMs = 15_000): Promise<NagiosServer> {
  ensurePackages(['nagios4-core']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-nagios-'));
  mkdirSync(join(dir, 'checkresults'));
  writeFileSync(join(dir, 'nagios.cfg'), `${mainConfig(dir)}\n`);
  writeFileSync(join(dir, 'objects.cfg'), `${objects(services)}\n`);
  const verify = spawn(NAGIOS_BIN, ['-v', join(dir, 'nagios.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let verified = '';
  verify.stdout!.on('data', (d) => (verified += String(d)));
  verify.stderr!.on('data', (d) => (verified += String(d)));
  const verifyCode = await new Promise<number | null>((resolve) => verify.once('close', resolve));
  if (verifyCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `nagios4 -v refused the configuration: ${verified
        .split('\n')
        .filter((l) => /Error|Warning/.test(l))
        .join(' / ')}`,
    );
  }
  // A clean environment: the checks Nagios runs get nothing of jest's (NODE_OPTIONS among it).
  const child: ChildProcess = spawn(NAGIOS_BIN, [join(dir, 'nagios.cfg')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  killOnExit(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logFile = join(dir, 'nagios.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const statusFile = join(dir, 'status.dat');
  let closed = false;

  const server: NagiosServer = {
    dir,
    pid: child.pid!,
    log,
    alerts: () =>
      log()
        .split('\n')
        .flatMap((l) => {
          const m = /^\[\d+\] SERVICE ALERT: ([^;]*);(.*)$/.exec(l);
          return m && m[1] === NAGIOS_HOST ? [m[2]] : [];
        }),
    services: () => (existsSync(statusFile) ? parseServiceStatus(readFileSync(statusFile, 'utf8')) : []),
    async waitFor<T>(what: string, probe: () => T | undefined, ms = 15_000): Promise<T> {
      const deadline = Date.now() + ms;
      for (;;) {
        const value = probe();
        if (value !== undefined) return value;
        if (child.exitCode !== null) throw new Error(`Nagios exited while waiting for ${what}: ${output.slice(-500)}`);
        if (Date.now() > deadline)
          throw new Error(`no ${what} within ${ms} ms; Nagios's log ends: ${log().split('\n').slice(-8).join(' / ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const family = [child.pid!, ...descendants(child.pid!)];
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // SIGTERM is Nagios's clean shutdown; one that has not ended within 5 s is killed.
      const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(hard);
      // Its worker and a check it was running outlive it for a moment: none may be left.
      const deadline = Date.now() + 3000;
      while (family.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const pid of family.filter(alive)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await server.waitFor(
      'start',
      () => (/Successfully launched command file worker/.test(log()) ? true : undefined),
      timeoutMs,
    );
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

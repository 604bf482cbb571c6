// Debian's real Graphite on loopback: its own carbon-cache (graphite-carbon 1.1.7) storing whisper files
// at one point per second, and its own graphite-web (1.1.8, a Django app served by Django's runserver)
// reading those files and carbon's cache, each with its own config in a fresh temp dir, on free ports.
// Both run in the foreground as children of the test process (no daemons, no system config, no system
// service). Ready once a point written to carbon comes back from /render (about 1.5-2 s here): poll, don't sleep.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './fleet.js';
import { ensurePackages } from './system-packages.js';
import { killOnExit } from './child-processes.js';

export const CARBON_CACHE_BIN = '/usr/bin/carbon-cache';
/** Debian's own Python: the one with django, graphite and whisper (not a pyenv shim on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export type RenderSeries = { target: string; datapoints: [number | null, number][] };
/** One line of carbon's plaintext protocol: metric path, value, Unix seconds. */
export type CarbonPoint = [path: string, value: number, unixSeconds: number];

export interface RealGraphite {
  /** graphite-web's base URL (GET `${url}/render?target=...&format=json`). */
  url: string;
  /** carbon-cache's ports on 127.0.0.1: plaintext line receiver, pickle receiver, cache query (CARBONLINK). */
  carbon: { line: number; pickle: number; query: number };
  /** Each request graphite-web answered, from its access log, oldest first (`path` with its query string). */
  requests: { path: string; params: URLSearchParams; status: number }[];
  /** Writes one point to carbon (plaintext protocol); resolves once carbon has read it. */
  send(path: string, value: number, unixSeconds: number): Promise<void>;
  /** Writes many points over one connection. */
  sendMany(points: CarbonPoint[]): Promise<void>;
  /** GET /render?format=json for `target` (from/until as graphite takes them: -10min, now, Unix seconds). */
  render(target: string, from?: string, until?: string): Promise<RenderSeries[]>;
  /** Polls /render until `predicate` holds for the answer (carbon writes whisper files asynchronously). */
  waitFor(
    target: string,
    predicate: (series: RenderSeries[]) => boolean,
    options?: { from?: string; until?: string; timeoutMs?: number },
  ): Promise<RenderSeries[]>;
  /** Kills carbon-cache and graphite-web and removes the temp dir. */
  close(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Child {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function start(args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Child {
  const proc = spawn(SYSTEM_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  killOnExit(proc);
  let out = '';
  let partial = '';
  const take = (d: Buffer) => {
    const text = String(d);
    out = (out + text).slice(-20_000);
    if (!onLine) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  };
  proc.stdout?.on('data', take);
  proc.stderr?.on('data', take);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const alive = (c: Child) => c.proc.exitCode === null && c.proc.signalCode === null;
const lostPort = (c: Child) => /address already in use|port is already in use|Couldn't listen/i.test(c.output());

/** Python's environment without whatever a pyenv or virtualenv on this machine would add. */
function pythonEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(PYTHON|PYENV|VIRTUAL_ENV|DJANGO|GRAPHITE)/.test(k)) env[k] = v;
  return { ...env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...extra };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => (s.destroy(), resolve(ok));
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function writeCarbonConfig(dir: string, ports: { line: number; pickle: number; query: number }): string {
  const storage = join(dir, 'storage');
  const conf = [
    '[cache]',
    `STORAGE_DIR = ${storage}`,
    `LOCAL_DATA_DIR = ${join(storage, 'whisper')}`,
    `WHITELISTS_DIR = ${join(storage, 'lists')}`,
    // storage-schemas.conf (and storage-aggregation.conf) are read from CONF_DIR.
    `CONF_DIR = ${dir}`,
    `LOG_DIR = ${join(dir, 'log')}`,
    `PID_DIR = ${dir}`,
    // Empty: run as whoever runs the tests (Debian's config would drop to _graphite).
    'USER =',
    // Write every point and create every file at once: the tests create series and read them back.
    'MAX_CACHE_SIZE = inf',
    'MAX_UPDATES_PER_SECOND = inf',
    'MAX_CREATES_PER_MINUTE = inf',
    'LINE_RECEIVER_INTERFACE = 127.0.0.1',
    `LINE_RECEIVER_PORT = ${ports.line}`,
    'ENABLE_UDP_LISTENER = False',
    'PICKLE_RECEIVER_INTERFACE = 127.0.0.1',
    `PICKLE_RECEIVER_PORT = ${ports.pickle}`,
    'CACHE_QUERY_INTERFACE = 127.0.0.1',
    `CACHE_QUERY_PORT = ${ports.query}`,
    'LOG_LISTENER_CONN_SUCCESS = False',
    'LOG_UPDATES = False',
    'LOG_CREATES = False',
    'LOG_CACHE_HITS = False',
    'ENABLE_LOGROTATION = False',
  ].join('\n');
  const file = join(dir, 'carbon.conf');
  writeFileSync(file, `${conf}\n`);
  return file;
}

function writeWebSettings(dir: string, queryPort: number): void {
  const storage = join(dir, 'storage');
  const py = (s: string) => JSON.stringify(s);
  const settings = [
    '# graphite-web settings for one test run (imported through GRAPHITE_SETTINGS_MODULE).',
    "SECRET_KEY = 'fivestep-tests'",
    `STORAGE_DIR = ${py(storage)}`,
    // graphite.settings only reads WHISPER_DIR if it exists when the app starts: created before.
    `WHISPER_DIR = ${py(join(storage, 'whisper'))}`,
    `INDEX_FILE = ${py(join(storage, 'index'))}`,
    `LOG_DIR = ${py(join(dir, 'log'))}`,
    `CONF_DIR = ${py(dir)}`,
    // Points carbon holds in memory (not yet in a whisper file) come from its cache query port.
    `CARBONLINK_HOSTS = [${py(`127.0.0.1:${queryPort}`)}]`,
    // The render API needs no table; a sqlite file under the temp dir keeps Django off /var/lib/graphite.
    `DATABASES = {'default': {'NAME': ${py(join(storage, 'graphite.db'))}, 'ENGINE': 'django.db.backends.sqlite3'}}`,
    "SILENCED_SYSTEM_CHECKS = ['models.W042', 'admin.W411']",
  ].join('\n');
  writeFileSync(join(dir, 'fivestep_graphite_settings.py'), `${settings}\n`);
}

// runserver's access log: [01/Dec/2026 12:44:48] "GET /render?target=x&format=json HTTP/1.1" 200 2
const ACCESS = /"GET (\S+) HTTP\/[\d.]+" (\d{3}) /;

/** Starts carbon-cache and graphite-web; resolves once a point sent to carbon is queryable through /render. */
export async function startRealGraphite(options: { timeoutMs?: number } = {}): Promise<RealGraphite> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  ensurePackages(['graphite-web', 'graphite-carbon']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-graphite-'));
  for (const d of ['storage/whisper', 'storage/lists', 'log']) mkdirSync(join(dir, d), { recursive: true });
  // One archive of one point per second for a day: per-second points, and a before:<duration> window up to 1d.
  writeFileSync(join(dir, 'storage-schemas.conf'), '[default]\npattern = .*\nretentions = 1s:1d\n');
  const requests: RealGraphite['requests'] = [];
  const onWebLine = (line: string) => {
    const m = ACCESS.exec(line);
    if (m) requests.push({ path: m[1], params: new URL(m[1], 'http://x').searchParams, status: Number(m[2]) });
  };

  let carbon: Child | undefined;
  let web: Child | undefined;
  // carbon-cache takes ~1 s to stop on SIGTERM (it flushes its cache into whisper files that are about to be
  // deleted with the temp dir): kill it outright. It is one process with no children, as is runserver --noreload.
  const stopAll = async () => {
    await Promise.all([carbon?.stop('SIGKILL'), web?.stop()]);
  };
  const fail = async (why: string): Promise<never> => {
    const logs = `carbon-cache: ${carbon?.output().slice(-800) ?? ''}\ngraphite-web: ${web?.output().slice(-800) ?? ''}`;
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`real Graphite: ${why}\n${logs}`);
  };

  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const ports = { line: await freePort(), pickle: await freePort(), query: await freePort() };
    const webPort = await freePort();
    const url = `http://127.0.0.1:${webPort}`;
    const config = writeCarbonConfig(dir, ports);
    writeWebSettings(dir, ports.query);
    rmSync(join(dir, 'carbon.pid'), { force: true });
    carbon = start(
      [
        CARBON_CACHE_BIN,
        `--config=${config}`,
        '--nodaemon',
        `--pidfile=${join(dir, 'carbon.pid')}`,
        `--logdir=${join(dir, 'log')}`,
        'start',
      ],
      pythonEnv({}),
    );
    web = start(
      ['-m', 'django', 'runserver', '--noreload', `127.0.0.1:${webPort}`],
      pythonEnv({
        PYTHONPATH: dir,
        DJANGO_SETTINGS_MODULE: 'graphite.settings',
        GRAPHITE_SETTINGS_MODULE: 'fivestep_graphite_settings',
      }),
      onWebLine,
    );

    // carbon: twisted logs "... starting on PORT" once each port is bound; graphite-web: /render answers [].
    const carbonUp = () =>
      [ports.line, ports.pickle, ports.query].every((p) => new RegExp(`starting on ${p}\\b`).test(carbon!.output()));
    let carbonReady = false;
    let webReady = false;
    while (Date.now() < deadline && alive(carbon) && alive(web) && !(carbonReady && webReady)) {
      if (!carbonReady) carbonReady = carbonUp() && (await canConnect(ports.line));
      if (!webReady) {
        try {
          const res = await fetch(`${url}/render?target=fivestep.nothing&format=json`);
          webReady = res.ok && (await res.text()).trim() === '[]';
        } catch {
          /* not listening yet */
        }
      }
      if (!(carbonReady && webReady)) await pause(50);
    }
    if (carbonReady && webReady && alive(carbon) && alive(web)) {
      const graphite = handle(url, ports, requests, async () => {
        await stopAll();
        rmSync(dir, { recursive: true, force: true });
      });
      // The whole path: carbon stores a point, graphite-web finds its whisper file and reads it back.
      const t = Math.floor(Date.now() / 1000);
      await graphite.sendMany([['fivestep_ready.canary', 1, t]]);
      try {
        await graphite.waitFor(
          'fivestep_ready.canary',
          (s) => s.length === 1 && s[0].datapoints.some(([v]) => v === 1),
          { from: '-5min', timeoutMs: Math.max(1000, deadline - Date.now()) },
        );
      } catch (err) {
        return fail(`a point sent to carbon never came back from graphite-web: ${(err as Error).message}`);
      }
      return graphite;
    }
    if (Date.now() >= deadline) return fail(`not ready within ${timeoutMs} ms`);
    // Lost a port to someone else between picking and binding: stop both and try new ports.
    const clash = (!alive(carbon) && lostPort(carbon)) || (!alive(web) && lostPort(web));
    if (!clash || attempt >= 3) return fail(`${!alive(carbon) ? 'carbon-cache' : 'graphite-web'} exited`);
    await stopAll();
  }
}

function handle(
  url: string,
  ports: RealGraphite['carbon'],
  requests: RealGraphite['requests'],
  close: () => Promise<void>,
): RealGraphite {
  const render = async (target: string, from = '-10min', until = 'now'): Promise<RenderSeries[]> => {
    const res = await fetch(`${url}/render?${new URLSearchParams({ target, format: 'json', from, until })}`);
    const body = await res.text();
    if (!res.ok) throw new Error(`graphite-web answered HTTP ${res.status}: ${body.slice(0, 300)}`);
    return JSON.parse(body) as RenderSeries[];
  };
  const sendMany = (points: CarbonPoint[]) =>
    new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: ports.line });
      s.once('error', reject);
      s.once('connect', () => s.end(points.map(([path, value, t]) => `${path} ${value} ${t}\n`).join('')));
      // carbon closes its side once it has read everything we sent.
      s.once('close', (hadError) => (hadError ? undefined : resolve()));
      s.resume();
    });
  let closing: Promise<void> | undefined;
  return {
    url,
    carbon: ports,
    requests,
    send: (path, value, unixSeconds) => sendMany([[path, value, unixSeconds]]),
    sendMany,
    render,
    async waitFor(target, predicate, options = {}) {
      const deadline = Date.now() + (options.timeoutMs ?? 20_000);
      let last = 'no answer yet';
      for (;;) {
        try {
          const series = await render(target, options.from ?? '-10min', options.until ?? 'now');
          if (predicate(series)) return series;
          last = JSON.stringify(series).slice(0, 300);
        } catch (err) {
          last = (err as Error).message;
        }
        if (Date.now() >= deadline)
          throw new Error(
            `graphite-web: '${target}' not as expected within ${options.timeoutMs ?? 20_000} ms; last answer: ${last}`,
          );
        await pause(100);
      }
    },
    close: () => (closing ??= close()),
  };
}

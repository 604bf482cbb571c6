// Helpers for the app-server recipe tests (docs/app-servers.md): the recipes' text taken from the doc
// itself, real servers started on fleet hosts over SSH (so they run in the host's namespace and see its
// /srv), a load of new connections that counts every failed request, and samples of what each host's
// workers answer ("release <id> pid <pid>", as every app in examples/apps/ does).
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { quote } from '../../src/common/shell.js';
import type { ExecResult } from '../../src/ssh/types.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { alive } from '../servers/child-processes.js';
import { ensurePackages } from '../servers/system-packages.js';
import { startHaproxy } from '../servers/haproxy.js';
import { connector, makeArtifact, runRollout, type RolloutRun } from '../rollout/helpers.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DOC = join(REPO, 'docs', 'app-servers.md');

/** The fenced block after `<!-- recipe: NAME -->` in docs/app-servers.md, as written. */
export function docBlock(name: string): string {
  const doc = readFileSync(DOC, 'utf8');
  const at = doc.indexOf(`<!-- recipe: ${name} -->\n`);
  if (at < 0) throw new Error(`docs/app-servers.md has no "<!-- recipe: ${name} -->"`);
  const m = /^```[a-z]*\n([\s\S]*?)^```$/m.exec(doc.slice(at));
  if (!m) throw new Error(`no fenced block after "<!-- recipe: ${name} -->"`);
  return m[1];
}

export interface RecipeInputs {
  'reload-command': string;
  'health-url': string;
  'health-expect': string;
}

/** The ssh-rollout inputs of a recipe's yaml block, with the doc's port 8080 (or none: 80) changed to `port`. */
export function docInputs(name: string, port: number): RecipeInputs {
  const y = parseYaml(docBlock(name)) as Record<string, string>;
  for (const key of ['reload-command', 'health-url', 'health-expect'])
    if (typeof y[key] !== 'string') throw new Error(`recipe ${name}: no ${key}`);
  return {
    'reload-command': y['reload-command'],
    'health-url': y['health-url'].replace(/^http:\/\/\{host\}(:8080)?\//, `http://{host}:${port}/`),
    'health-expect': y['health-expect'],
  };
}

/** A doc command or config for one host: the doc's `0.0.0.0:8080` becomes `address:port`. */
export function onAddress(text: string, address: string, port: number): string {
  if (!text.includes('0.0.0.0:8080')) throw new Error(`no 0.0.0.0:8080 to change in: ${text}`);
  return text.replaceAll('0.0.0.0:8080', `${address}:${port}`);
}

/** A port free on every host's address. */
export async function sharedPort(fleet: Fleet): Promise<number> {
  return freePort(fleet.hosts[0].host);
}

/** Runs `command` on host i over SSH (through the login shell, in the host's namespace). */
export async function onHost(fleet: Fleet, i: number, command: string): Promise<ExecResult> {
  const session = await connector(fleet.hosts[i].spec, fleet.credentials());
  try {
    return await session.exec(command);
  } finally {
    await session.close();
  }
}

/** Like onHost, but throws unless the command exits 0. */
export async function mustOnHost(fleet: Fleet, i: number, command: string): Promise<string> {
  const r = await onHost(fleet, i, command);
  if (r.code !== 0) throw new Error(`host ${i}: exit ${r.code} from ${command}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** An artifact holding examples/apps/<app>/* and `version` = release. */
export function appArtifact(base: string, app: string, release: string): string {
  const dir = makeArtifact(base, release);
  const src = join(REPO, 'examples', 'apps', app);
  for (const f of readdirSync(src)) cpSync(join(src, f), join(dir, f));
  return dir;
}

/** What a recipe's tests run on: two SSH hosts, a scratch directory, and the servers the tests start. */
export interface RecipeWorld {
  fleet: Fleet;
  base: string;
  /** Stopped when the test file ends. */
  running: Started[];
}

/**
 * A recipe test file's world, set up before its tests and taken down after them: Debian's `packages`,
 * two SSH hosts on addresses of their own with `app` v1 deployed (nothing running yet).
 */
export function recipeWorld(name: string, packages: Parameters<typeof ensurePackages>[0], app = name): RecipeWorld {
  const world: RecipeWorld = { fleet: undefined as unknown as Fleet, base: '', running: [] };
  beforeAll(async () => {
    ensurePackages(packages);
    world.base = mkdtempSync(join(tmpdir(), `fivestep-recipe-${name}-`));
    world.fleet = await Fleet.start(2, { distinctAddresses: true });
    await deployQuietly(world.fleet, world.base, app, 'v1');
  }, 60_000);
  afterAll(async () => {
    for (const s of world.running) await s.stop();
    await world.fleet?.stop();
    if (world.base) rmSync(world.base, { recursive: true, force: true });
  });
  return world;
}

/** Rolls `release` of `app` out with no reload and no health check (nothing runs yet). */
export async function deployQuietly(fleet: Fleet, base: string, app: string, release: string): Promise<void> {
  const r = await runRollout(fleet, { artifact: appArtifact(base, app, release), 'release-id': release });
  if (r.outputs.result !== 'success')
    throw new Error(`deploying ${release}: ${r.outputs.result} ${r.failure ?? ''}\n${r.log.slice(-2000)}`);
}

// What the servers started here are known by: their first process's group, and the masters their pid
// files name (PHP-FPM starts a session of its own, out of that group). Killed when this process exits,
// whatever happened.
const liveServers = new Set<() => number[]>();
let exitHook = false;

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  zombie: boolean;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), zombie: f[0] === 'Z' });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Live processes whose pid, group or session is one of `ids`, and their descendants (zombies do not count). */
function serverProcesses(ids: number[]): number[] {
  const wanted = new Set(ids.filter((id) => id > 1));
  const procs = processes().filter((p) => !p.zombie);
  const hit = new Set(
    procs.filter((p) => wanted.has(p.pid) || wanted.has(p.pgid) || wanted.has(p.sid)).map((p) => p.pid),
  );
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (!hit.has(p.pid) && hit.has(p.ppid)) {
        hit.add(p.pid);
        grew = true;
      }
    }
  }
  return [...hit];
}

/** SIGKILLs serverProcesses(ids); returns how many there were (the host's pid 1 may never reap them). */
function killServers(ids: number[]): number {
  const hit = serverProcesses(ids);
  for (const pid of hit) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return hit.length;
}

export interface Started {
  /** What each host answers on (`http://ADDRESS:PORT`). */
  urls: string[];
  /** The pid in each host's pid file now. */
  masters(): number[];
  /** The server's output on each host. */
  logs(): string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Names the log and process-group files in /srv/app/shared/. */
  name: string;
  /** The command for the host with this address (run by sh in /srv/app). */
  command: (address: string) => string;
  /** Where the server writes its master's pid (a host path). */
  pidFile: string;
  /** The URL path that must answer "release …" before the server counts as up ('' = only the pid file). */
  readyPath?: string;
  port: number;
}

/**
 * Starts a server on every host as the login user would by hand: over SSH, in its own session
 * (setsid) so that it outlives the SSH session, output to /srv/app/shared/<name>.log. Waits until the
 * pid file names a live process and `readyPath` answers. stop() (or this process's exit) kills it all.
 */
export async function startOnHosts(fleet: Fleet, opts: StartOptions): Promise<Started> {
  const log = `/srv/app/shared/${opts.name}.log`;
  const pgidFile = `/srv/app/shared/${opts.name}.pgid`;
  const mine: number[] = [];
  const pidFiles = fleet.hosts.map((_, i) => fleet.path(i, opts.pidFile));
  const ids = () => [
    ...mine,
    ...pidFiles.map((f) => (existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) || 0 : 0)),
  ];
  liveServers.add(ids);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const f of liveServers) killServers(f());
    });
  }
  const server: Started = {
    urls: fleet.hosts.map((h) => `http://${h.host}:${opts.port}`),
    masters: () => pidFiles.map((f) => Number(readFileSync(f, 'utf8').trim())),
    logs: () =>
      fleet.hosts.map((_, i) => (existsSync(fleet.path(i, log)) ? readFileSync(fleet.path(i, log), 'utf8') : '')),
    async stop() {
      const deadline = Date.now() + 5000;
      while (killServers(ids()) > 0 && Date.now() < deadline) await sleep(20);
      liveServers.delete(ids);
    },
  };
  try {
    for (const [i, h] of fleet.hosts.entries()) {
      const script = `echo $$ > ${pgidFile}\n${opts.command(h.host)}`;
      await mustOnHost(
        fleet,
        i,
        `mkdir -p /srv/app/shared && rm -f ${quote(opts.pidFile)} ${pgidFile} && cd /srv/app && (setsid sh -c ${quote(script)} > ${log} 2>&1 < /dev/null &)`,
      );
    }
    const deadline = Date.now() + 20_000;
    for (const [i] of fleet.hosts.entries()) {
      for (;;) {
        if (mine.length <= i && existsSync(fleet.path(i, pgidFile))) {
          const g = Number(readFileSync(fleet.path(i, pgidFile), 'utf8').trim());
          if (g > 0) mine.push(g);
        }
        const pid = existsSync(fleet.path(i, opts.pidFile))
          ? Number(readFileSync(fleet.path(i, opts.pidFile), 'utf8').trim())
          : 0;
        const up =
          pid > 0 &&
          alive(pid) &&
          (opts.readyPath === '' || (await answers(`${server.urls[i]}${opts.readyPath ?? '/'}`)));
        if (up) break;
        const exited = mine.length > i && serverProcesses([mine[i], pid]).length === 0;
        if (exited || Date.now() > deadline)
          throw new Error(
            `${opts.name} ${exited ? 'exited' : 'did not come up'} on host ${i}:\n${server.logs()[i].slice(-2000)}`,
          );
        await sleep(50);
      }
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { alive } from '../servers/child-processes.js';

export interface Answer {
  ok: boolean;
  /** The release and worker pid the app named, when it answered 200 with "release <id> pid <pid>". */
  release?: string;
  pid?: number;
  /** Why not ok: an error code, `HTTP 502`, `timeout`, or `bad body: …`. */
  why?: string;
}

/** One GET on a new connection. */
export function get(url: string, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (a: Answer) => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, why: e.code ?? e.message }));
      res.on('close', () => (res.complete ? undefined : done({ ok: false, why: 'aborted' })));
      res.on('end', () => {
        if (res.statusCode !== 200) return done({ ok: false, why: `HTTP ${res.statusCode}` });
        const m = /^release (\S+) pid (\d+)\n$/.exec(body);
        if (!m) return done({ ok: false, why: `bad body: ${JSON.stringify(body.slice(0, 80))}` });
        done({ ok: true, release: m[1], pid: Number(m[2]) });
      });
    });
    req.on('timeout', () => {
      req.destroy();
      done({ ok: false, why: 'timeout' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, why: e.code ?? e.message }));
    req.end();
  });
}

async function answers(url: string): Promise<boolean> {
  return (await get(url, 2000)).ok;
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** Failures by reason. */
  errors: Record<string, number>;
  /** Answers per release. */
  releases: Record<string, number>;
  durationMs: number;
  /** Requests (ok and failed) per second. */
  rps: number;
}

export interface Load {
  stop(): Promise<LoadResult>;
}

/**
 * Steady load: per URL, `clients` loops sending GET / back to back and one loop sending GET /slow (the
 * apps take 0.25 s there, so a reload always finds requests in flight), every request on a new connection.
 */
export function startLoad(urls: string[], opts: { clients?: number; pauseMs?: number } = {}): Load {
  const result: LoadResult = { ok: 0, failed: 0, errors: {}, releases: {}, durationMs: 0, rps: 0 };
  const started = Date.now();
  let going = true;
  const pauseMs = opts.pauseMs ?? 4;
  const loop = async (url: string, pause: number) => {
    while (going) {
      const a = await get(url);
      if (a.ok) {
        result.ok++;
        result.releases[a.release!] = (result.releases[a.release!] ?? 0) + 1;
      } else {
        result.failed++;
        result.errors[a.why!] = (result.errors[a.why!] ?? 0) + 1;
      }
      if (pause > 0) await sleep(pause);
    }
  };
  const loops = urls.flatMap((u) => [
    ...Array.from({ length: opts.clients ?? 3 }, () => loop(`${u}/`, pauseMs)),
    loop(`${u}/slow`, 0),
  ]);
  return {
    async stop() {
      going = false;
      await Promise.all(loops);
      result.durationMs = Date.now() - started;
      result.rps = Math.round(((result.ok + result.failed) * 1000) / result.durationMs);
      return result;
    },
  };
}

export interface Sample {
  /** Answers per release (failed requests count under their reason). */
  releases: Record<string, number>;
  /** The worker pids that answered. */
  pids: Set<number>;
}

/** `n` GETs to url, 4 at a time, each on a new connection. */
export async function sample(url: string, n = 60): Promise<Sample> {
  const releases: Record<string, number> = {};
  const pids = new Set<number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next++ < n) {
        const a = await get(`${url}/`);
        const key = a.ok ? a.release! : `failed: ${a.why}`;
        releases[key] = (releases[key] ?? 0) + 1;
        if (a.pid) pids.add(a.pid);
      }
    }),
  );
  return { releases, pids };
}

export interface RecipeRun {
  rollout: RolloutRun;
  load: LoadResult;
  mastersBefore: number[];
  mastersAfter: number[];
  /** sample() of each host after the rollout. */
  samples: Sample[];
}

/**
 * Rolls `release` out with the recipe's inputs while startLoad(loadUrls) runs (from 1 s before the
 * rollout to 1 s after it), then samples each host.
 */
export async function rolloutUnderLoad(
  fleet: Fleet,
  server: Started,
  opts: { base: string; app: string; release: string; inputs: Record<string, string>; loadUrls?: string[] },
): Promise<RecipeRun> {
  const artifact = appArtifact(opts.base, opts.app, opts.release);
  const mastersBefore = server.masters();
  const load = startLoad(opts.loadUrls ?? server.urls);
  await sleep(1000);
  const rollout = await runRollout(fleet, { artifact, 'release-id': opts.release, ...opts.inputs });
  await sleep(1000);
  const loadResult = await load.stop();
  const samples: Sample[] = [];
  for (const url of server.urls) samples.push(await sample(url));
  return { rollout, load: loadResult, mastersBefore, mastersAfter: server.masters(), samples };
}

/** One line for the test output: what the load measured. */
export function loadLine(name: string, r: RecipeRun): string {
  const failed = r.load.failed ? ` ${JSON.stringify(r.load.errors)}` : '';
  return `${name}: rollout ${r.rollout.outputs.result}; load ${r.load.rps} req/s for ${(r.load.durationMs / 1000).toFixed(1)} s, ${r.load.ok} ok, ${r.load.failed} failed${failed}; answers ${JSON.stringify(r.load.releases)}`;
}

/** Checks what every recipe promises (see docs/app-servers.md, "What the tests check"). */
export function expectRecipeWorked(r: RecipeRun, from: string, to: string, opts: { sameMaster: boolean }): void {
  const { result } = r.rollout.outputs;
  expect({
    result,
    failedHosts: r.rollout.outputs['failed-hosts'],
    log: result === 'success' ? '' : r.rollout.log.slice(-3000),
  }).toEqual({ result: 'success', failedHosts: [], log: '' });
  expect({ failed: r.load.failed, errors: r.load.errors }).toEqual({ failed: 0, errors: {} });
  // The load ran across the reloads: it saw the old release, then the new one.
  expect(Object.keys(r.load.releases).sort()).toEqual([from, to].sort());
  if (opts.sameMaster) expect(r.mastersAfter).toEqual(r.mastersBefore);
  for (const s of r.samples) {
    expect(s.releases).toEqual({ [to]: 60 });
    expect(s.pids.size).toBeGreaterThan(1);
  }
}

/** Checks a trap: the health check saw the old release on the first host, which was put back; nothing else moved. */
export function expectTrapCaught(run: RolloutRun, fleet: Fleet, from: string, to: string): void {
  expect(run.outputs.result).toBe('reverted');
  expect(run.outputs['failed-hosts']).toEqual([
    { host: fleet.hosts[0].id, reason: expect.stringContaining(`does not contain "${to}"`) },
  ]);
  expect(run.outputs['failed-hosts'][0].reason).toContain(`release ${from} pid`);
  expect(fleet.hosts.map((_, i) => fleet.currentRelease(i))).toEqual(fleet.hosts.map(() => from));
}

/**
 * Debian's haproxy on the runner in front of the hosts, with a recipe's `backend` block: its `server`
 * lines are replaced by one per host URL.
 */
export async function startBalancer(backend: string, urls: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const lines = backend.trimEnd().split('\n');
  const name = /^backend (\S+)$/.exec(lines[0])?.[1];
  if (!name) throw new Error(`not a backend block: ${backend}`);
  const servers = urls.map((u, i) => ({
    name: `web${i + 1}`,
    address: new URL(u).hostname,
    port: Number(new URL(u).port),
  }));
  const haproxy = await startHaproxy(servers, name, {
    backendLines: lines.slice(1).filter((l) => !/^\s*server /.test(l)),
  });
  const deadline = Date.now() + 10_000;
  while (!(await answers(`${haproxy.url}/`))) {
    if (Date.now() > deadline) {
      await haproxy.stop();
      throw new Error(`haproxy did not answer on ${haproxy.url}`);
    }
    await sleep(50);
  }
  return haproxy;
}

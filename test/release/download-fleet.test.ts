// artifact-url on REAL hosts (test/servers/fleet.ts): each host downloads the artifact itself over
// loopback from a real HTTP(S) server, the unchanged unpackCommand then finds it, and every failure
// is one clear line that never holds the URL's secrets. Run with curl, and with wget alone: the
// command runs under `env PATH=DIR sh -c …`, DIR linking every program of the host except curl, so
// `command -v curl` fails exactly as on a host without it (more robust than listing the programs
// the command happens to use, and the host's real binaries stay untouched for parallel suites).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envAssignments, quote } from '../../src/common/shell.js';
import { EXIT, unpackCommand } from '../../src/release/commands.js';
import { redactUrl } from '../../src/common/url.js';
import { downloadArtifactCommand, downloadStdin } from '../../src/release/download.js';
import { connectSsh } from '../../src/ssh/connector.js';
import type { ExecResult, RemoteSession } from '../../src/ssh/types.js';
import { ArtifactServer, selfSignedCertificate, type TlsFiles } from '../servers/artifact-server.js';
import { Fleet, freePort } from '../servers/fleet.js';
import { installPackages } from '../servers/system-packages.js';

const DEPLOY = '/srv/app';
/** What a GitHub release download URL and the signed URL it redirects to carry. */
const TOKEN = 'ghs_releaseTOKEN0123';
const SIGNED = 'sig_presignedSIGNATURE4567';

let fleet: Fleet;
let sessions: RemoteSession[];
let server: ArtifactServer;
let httpsServer: ArtifactServer;
let tls: TlsFiles;
let work: string;
let wgetrc: string;
let artifact: Buffer;
let sha: string;
/** PATH directories: every program of the host except those named. */
const without: Record<'curl' | 'curl and wget', string> = { curl: '', 'curl and wget': '' };
let releaseCounter = 0;

type Tool = 'curl' | 'wget';

function pathWithout(names: string[]): string {
  const dir = mkdtempSync(join(work, 'path-'));
  chmodSync(dir, 0o755);
  const seen = new Set<string>();
  for (const bin of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!existsSync(bin) || seen.has(realpathSync(bin))) continue;
    seen.add(realpathSync(bin));
    for (const name of readdirSync(bin)) {
      if (!names.includes(name) && !existsSync(join(dir, name))) symlinkSync(join(bin, name), join(dir, name));
    }
  }
  return dir;
}

/** A tar.gz of a small release, as `artifact` would be packed. */
function packRelease(): Buffer {
  const src = join(work, 'release');
  mkdirSync(join(src, 'bin'), { recursive: true });
  writeFileSync(join(src, 'index.html'), '<h1>release from a URL</h1>\n');
  writeFileSync(join(src, 'bin', 'start.sh'), '#!/bin/sh\nexec echo started\n', { mode: 0o755 });
  const file = join(work, 'app.tgz');
  execFileSync('tar', ['-czf', file, '-C', src, '.']);
  return readFileSync(file);
}

beforeAll(async () => {
  installPackages([
    { name: 'curl', provides: ['/usr/bin/curl'], usedBy: 'artifact-url downloads on the hosts' },
    { name: 'wget', provides: ['/usr/bin/wget'], usedBy: 'artifact-url downloads on hosts without curl' },
    {
      name: 'openssl',
      provides: ['/usr/bin/openssl'],
      usedBy: 'a self-signed certificate for the https artifact server',
    },
  ]);
  work = mkdtempSync(join(tmpdir(), 'fivestep-download-'));
  chmodSync(work, 0o755);
  artifact = packRelease();
  sha = createHash('sha256').update(artifact).digest('hex');
  tls = selfSignedCertificate();
  // How an operator makes wget trust a private CA; curl reads CURL_CA_BUNDLE.
  wgetrc = join(work, 'wgetrc');
  writeFileSync(wgetrc, `ca_certificate = ${tls.certFile}\n`, { mode: 0o644 });
  without.curl = pathWithout(['curl']);
  without['curl and wget'] = pathWithout(['curl', 'wget']);
  server = await ArtifactServer.start({
    '/app.tgz': { body: artifact },
    '/missing.tgz': { status: 404 },
    '/broken.tgz': { status: 500 },
    '/cut.tgz': { body: artifact, truncateAt: 100 },
    '/slow.tgz': { body: artifact, delayMs: 2000, token: TOKEN },
    // A GitHub release asset: the download URL redirects to a short-lived signed URL elsewhere.
    '/releases/download/r1/app.tgz': { redirect: `/signed/app.tgz?token=${SIGNED}`, token: TOKEN },
    '/signed/app.tgz': { body: artifact, token: SIGNED },
    '/private.tgz': { body: artifact, basicAuth: `ci:${TOKEN}` },
  });
  httpsServer = await ArtifactServer.start(
    {
      '/app.tgz': { body: artifact },
      '/moved.tgz': { redirect: '/app.tgz' },
      '/to-http.tgz': { redirect: server.url('/app.tgz') },
    },
    { tls },
  );
  fleet = await Fleet.start(2);
  sessions = await Promise.all(fleet.hosts.map((h) => connectSsh(h.spec, fleet.credentials())));
}, 120_000);

afterEach(() => {
  server?.reset();
  httpsServer?.reset();
  for (const i of [0, 1]) if (fleet) rmSync(fleet.path(i, DEPLOY), { recursive: true, force: true });
});

afterAll(async () => {
  await Promise.all((sessions ?? []).map((s) => s.close()));
  await fleet?.stop();
  await server?.close();
  await httpsServer?.close();
  tls?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Download {
  release: string;
  result: ExecResult;
}

/** Runs the download command on host i; `tool: 'wget'` hides curl from it, `trust` adds the test CA. */
async function download(
  i: number,
  url: string,
  opts: { tool?: Tool | 'none'; sha256?: string; trust?: boolean; urlOnStdin?: boolean } = {},
): Promise<Download> {
  const release = `r${++releaseCounter}`;
  const command = downloadArtifactCommand(DEPLOY, release, url, opts.sha256 ?? sha, redactUrl(url), {
    urlOnStdin: opts.urlOnStdin,
  });
  const env: Record<string, string> = {};
  if (opts.tool === 'wget') env.PATH = without.curl;
  if (opts.tool === 'none') env.PATH = without['curl and wget'];
  if (opts.trust) Object.assign(env, { CURL_CA_BUNDLE: tls.certFile, WGETRC: wgetrc });
  // With nothing to change the command runs exactly as the engine will run it.
  const wrapped = Object.keys(env).length ? `env ${envAssignments(env)} sh -c ${quote(command)}` : command;
  const result = await sessions[i].exec(wrapped, opts.urlOnStdin ? { stdin: downloadStdin(url) } : {});
  return { release, result };
}

const incoming = (i: number): string[] => {
  const dir = fleet.path(i, `${DEPLOY}/.fivestep/incoming`);
  return existsSync(dir) ? readdirSync(dir) : [];
};

const released = (i: number, release: string, file: string): string =>
  readFileSync(fleet.path(i, `${DEPLOY}/releases/${release}/${file}`), 'utf8');

/**
 * Every process's argv on this machine (the hosts share its pid namespace), as `ps` shows them. Read
 * asynchronously: a busy machine has thousands of processes, and the artifact server must keep serving.
 */
async function commandLines(): Promise<string[][]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const argvs = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))); // '' when it exited meanwhile
  return argvs.map((text) => text.split('\0').filter(Boolean)).filter((argv) => argv.length > 0);
}

/** Runs p while sampling every process's argv; returns p's value and the argvs that held `secret`. */
async function whileWatchingProcesses<T>(
  p: Promise<T>,
  secret: string,
  tool: string,
): Promise<{ value: T; holding: string[][]; sawTool: boolean }> {
  let done = false;
  const holding: string[][] = [];
  let sawTool = false;
  const watch = (async () => {
    while (!done) {
      for (const argv of await commandLines()) {
        if (argv.some((a) => a.includes(secret))) holding.push(argv);
        if (argv[0] === tool && argv.some((a) => a.startsWith(`${DEPLOY}/.fivestep/incoming/`))) sawTool = true;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const value = await p.finally(() => (done = true));
  await watch;
  return { value, holding, sawTool };
}

/** What each tool's failures read like, after `download of <url> failed: `. */
const FAILURES: Record<Tool, { cut: string; untrusted: string; noConnection: string }> = {
  curl: {
    cut: 'the connection closed before the whole file arrived (curl exit 18), HTTP 200 after 100 bytes',
    untrusted: "the server's TLS certificate is not trusted (curl exit 60) after 0 bytes",
    noConnection: 'could not connect (curl exit 7) after 0 bytes',
  },
  wget: {
    cut: 'network failure: could not connect, or the connection closed before the whole file arrived (wget exit 4), HTTP 200 after 100 bytes',
    untrusted: 'TLS verification failed (wget exit 5) after 0 bytes',
    noConnection:
      'network failure: could not connect, or the connection closed before the whole file arrived (wget exit 4) after 0 bytes',
  },
};

describe.each<Tool>(['curl', 'wget'])('with %s on the host', (tool) => {
  test('every host downloads the artifact itself; unpackCommand then finds it where an upload lands', async () => {
    const url = server.url('/app.tgz');
    const downloads = await Promise.all([0, 1].map((i) => download(i, url, { tool })));
    for (const [i, { release, result }] of downloads.entries()) {
      expect(result).toEqual({ code: 0, stdout: `downloaded=${artifact.length}\n`, stderr: '' });
      expect(incoming(i)).toEqual([`${release}.artifact`]);
      const unpack = await sessions[i].exec(unpackCommand(DEPLOY, release, { identity: sha, format: 'tar.gz' }));
      expect(unpack).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(released(i, release, 'index.html')).toBe('<h1>release from a URL</h1>\n');
      expect(released(i, release, 'bin/start.sh')).toContain('exec echo started');
      expect(incoming(i)).toEqual([]);
    }
    // The bytes came from the artifact server, once per host (the runner sent none).
    expect(server.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual([
      'GET /app.tgz 200',
      'GET /app.tgz 200',
    ]);
    expect(server.bytesServed).toBe(2 * artifact.length);
  });

  test('HTTP 404: one line with the status and the bytes received; nothing left in incoming', async () => {
    const url = server.url('/missing.tgz');
    const { result } = await download(0, url, { tool });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `download of ${url} failed: HTTP 404 after 0 bytes\n` });
    expect(incoming(0)).toEqual([]);
  });

  test('a body cut short fails with the bytes that did arrive; nothing left in incoming', async () => {
    const url = server.url('/cut.tgz');
    const { result } = await download(0, url, { tool });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `download of ${url} failed: ${FAILURES[tool].cut}\n` });
    expect(incoming(0)).toEqual([]);
  });

  test('a wrong sha256 is refused before anything unpacks: exit 64, expected and found both named', async () => {
    const url = server.url('/app.tgz');
    const wrong = createHash('sha256').update('another artifact').digest('hex');
    const { release, result } = await download(0, url, { tool, sha256: wrong });
    expect(result).toEqual({
      code: EXIT.checksum,
      stdout: '',
      stderr: `checksum mismatch: expected ${wrong} but the download of ${url} (${artifact.length} bytes) has ${sha}\n`,
    });
    expect(incoming(0)).toEqual([]);
    expect(existsSync(fleet.path(0, `${DEPLOY}/releases/${release}`))).toBe(false);
  });

  test('a release-asset redirect is followed; the tokens reach the server and no output', async () => {
    const url = server.url(`/releases/download/r1/app.tgz?token=${TOKEN}`);
    const { release, result } = await download(0, url, { tool });
    expect(result).toEqual({ code: 0, stdout: `downloaded=${artifact.length}\n`, stderr: '' });
    expect(server.requests.map((r) => `${r.url} ${r.status}`)).toEqual([
      `/releases/download/r1/app.tgz?token=${TOKEN} 302`,
      `/signed/app.tgz?token=${SIGNED} 200`,
    ]);
    const unpack = await sessions[0].exec(unpackCommand(DEPLOY, release, { identity: sha, format: 'tar.gz' }));
    expect(unpack.code).toBe(0);
    expect(released(0, release, 'index.html')).toBe('<h1>release from a URL</h1>\n');
    expect(incoming(0)).toEqual([]);
  });

  test('a refused token: HTTP 403 with the URL as ?…, the token in no output', async () => {
    const url = server.url('/signed/app.tgz?token=expired');
    const { result } = await download(0, url, { tool });
    expect(server.requests.map((r) => r.url)).toEqual(['/signed/app.tgz?token=expired']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `download of ${server.url('/signed/app.tgz')}?… failed: HTTP 403 after 0 bytes\n`,
    });
    expect(incoming(0)).toEqual([]);
  });

  test('credentials in the URL are used, and shown as ***@', async () => {
    const good = await download(0, server.url('/private.tgz').replace('//', `//ci:${TOKEN}@`), { tool });
    expect(good.result).toEqual({ code: 0, stdout: `downloaded=${artifact.length}\n`, stderr: '' });
    const url = server.url('/private.tgz').replace('//', '//ci:wrong@');
    const { result } = await download(0, url, { tool });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `download of ${server.url('/private.tgz').replace('//', '//***@')} failed: HTTP 401 after 0 bytes\n`,
    });
    expect(incoming(0)).toEqual([`${good.release}.artifact`]);
  });

  test('https: a redirect to another https path is followed', async () => {
    const { result } = await download(0, httpsServer.url('/moved.tgz'), { tool, trust: true });
    expect(result).toEqual({ code: 0, stdout: `downloaded=${artifact.length}\n`, stderr: '' });
    expect(httpsServer.requests.map((r) => `${r.url} ${r.status}`)).toEqual(['/moved.tgz 302', '/app.tgz 200']);
  });

  test('https: an untrusted certificate fails, saying so', async () => {
    const url = httpsServer.url('/app.tgz');
    const { result } = await download(0, url, { tool });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `download of ${url} failed: ${FAILURES[tool].untrusted}\n` });
    expect(incoming(0)).toEqual([]);
  });

  test('https: a redirect to plain http is refused', async () => {
    const url = httpsServer.url('/to-http.tgz');
    const { result } = await download(0, url, { tool, trust: true });
    if (tool === 'curl') {
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: `download of ${url} failed: a redirect to a protocol that is not allowed (only https) was refused (curl exit 1), HTTP 302 after 0 bytes\n`,
      });
      // curl refuses before it sends anything over http.
      expect(server.requests).toEqual([]);
    } else {
      // wget has no switch for this: it fetches, then the download is refused.
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr: `download of ${url} refused: it was redirected to a non-https URL\n`,
      });
    }
    expect(incoming(0)).toEqual([]);
  });

  test('nothing listening: the tool’s reason in words', async () => {
    const url = `http://127.0.0.1:${await freePort()}/app.tgz`;
    const { result } = await download(0, url, { tool });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `download of ${url} failed: ${FAILURES[tool].noConnection}\n`,
    });
  });

  test('with urlOnStdin no process on the host shows the URL while it downloads; embedded, only the shell does', async () => {
    const url = server.url(`/slow.tgz?token=${TOKEN}`);
    const hidden = await whileWatchingProcesses(download(0, url, { tool, urlOnStdin: true }), TOKEN, tool);
    expect(hidden.value.result).toEqual({ code: 0, stdout: `downloaded=${artifact.length}\n`, stderr: '' });
    expect(hidden.sawTool).toBe(true); // the sampling saw the download in progress
    expect(hidden.holding).toEqual([]);
    expect(server.requests.map((r) => r.url)).toEqual([`/slow.tgz?token=${TOKEN}`]);

    const embedded = await whileWatchingProcesses(download(1, url, { tool }), TOKEN, tool);
    expect(embedded.value.result.code).toBe(0);
    expect(embedded.sawTool).toBe(true);
    // sshd runs a command as `sh -c <command>` (for wget here through `env PATH=… sh -c`): the shells hold it, never curl or wget.
    expect(embedded.holding.length).toBeGreaterThan(0);
    expect(embedded.holding.filter((argv) => !['sh', '/bin/sh', 'env'].includes(argv[0]))).toEqual([]);
  });
});

test('curl retries a 500 twice (--retry 2), then reports the status', async () => {
  const url = server.url('/broken.tgz');
  const { result } = await download(0, url);
  expect(result).toEqual({ code: 1, stdout: '', stderr: `download of ${url} failed: HTTP 500 after 0 bytes\n` });
  expect(server.requests.map((r) => r.status)).toEqual([500, 500, 500]);
});

test('a host with neither curl nor wget says so, and leaves nothing behind', async () => {
  const { result } = await download(0, server.url('/app.tgz'), { tool: 'none' });
  expect(result).toEqual({ code: 1, stdout: '', stderr: 'neither curl nor wget is installed on the host\n' });
  expect(server.requests).toEqual([]);
  expect(incoming(0)).toEqual([]);
});

// ssh-rollout with artifact-url against a real fleet and a local artifact server: every host
// downloads the artifact itself, the runner sends none of its bytes, a bad download stops the
// rollout before any switch, and the URL's query string (a token) is never in the log or the report.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactServer } from '../servers/artifact-server.js';
import { Fleet } from '../servers/fleet.js';
import { currents, makeArtifact, runRollout } from './helpers.js';

let tmp: string;
let fleet: Fleet;
let server: ArtifactServer;
let tgz: Buffer;
const TOKEN = 'sig-0123456789abcdef';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-artifact-url-'));
  const dir = makeArtifact(tmp, 'v1', { 'index.html': '<h1>v1</h1>\n' });
  tgz = execFileSync('tar', ['-czf', '-', '-C', dir, '.']);
  fleet = await Fleet.start(3);
  server = await ArtifactServer.start({
    '/releases/v1.tgz': { body: tgz, token: TOKEN },
    '/latest.tgz': { redirect: `/releases/v1.tgz?token=${TOKEN}` },
    '/missing.tgz': { status: 404 },
  });
}, 30_000);
afterAll(async () => {
  await server?.close();
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('every host downloads the artifact (through a redirect to a signed URL); the runner sends none of it; the token is in no log or report', async () => {
  const before = server.bytesServed;
  const run = await runRollout(fleet, {
    'artifact-url': `${server.url('/releases/v1.tgz')}?token=${TOKEN}`,
    'artifact-sha256': sha(tgz),
    'release-id': 'v1',
  });
  expect(run.outputs['failed-hosts']).toEqual([]);
  expect(run.failure).toBeUndefined();
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
  for (let i = 0; i < 3; i++)
    expect(readFileSync(fleet.path(i, '/srv/app/current/index.html'), 'utf8')).toBe('<h1>v1</h1>\n');
  expect(run.report.hosts.map((h) => [h.staging, h.sentBytes])).toEqual(Array(3).fill(['url', 0]));
  expect(run.report.sentBytes).toBe(0);
  expect(server.bytesServed - before).toBe(3 * tgz.length);
  const reportText = readFileSync(run.outputs.report, 'utf8');
  expect(run.report.artifact.url).toBe(`${server.url('/releases/v1.tgz')}?…`);
  expect(run.log).toContain(`${server.url('/releases/v1.tgz')}?…`);
  expect(run.log).not.toContain(TOKEN);
  expect(reportText).not.toContain(TOKEN);
  expect(run.report.hosts[0].steps.find((s) => s.name === 'download')?.detail).toBe(
    `${tgz.length} bytes from ${server.url('/releases/v1.tgz')}?…`,
  );
}, 60_000);

test('a 404 or a wrong checksum fails every host in staging: nothing is switched, and the reason says what came back', async () => {
  const missing = await runRollout(fleet, {
    'artifact-url': server.url('/missing.tgz'),
    'artifact-sha256': sha(tgz),
    'release-id': 'v2',
  });
  expect(missing.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
  expect(missing.outputs['failed-hosts'][0].reason).toMatch(
    /download failed \(exit 1\): download of http:\/\/127\.0\.0\.1:\d+\/missing\.tgz failed: HTTP 404 after 0 bytes/,
  );

  const wrong = 'f'.repeat(64);
  const mismatch = await runRollout(fleet, {
    'artifact-url': server.url('/latest.tgz'),
    'artifact-sha256': wrong,
    'release-id': 'v3',
  });
  expect(mismatch.outputs.result).toBe('reverted');
  expect(mismatch.outputs['failed-hosts'][0].reason).toContain(
    `checksum mismatch: expected ${wrong} but the download of ${server.url('/latest.tgz')} (${tgz.length} bytes) has ${sha(tgz)}`,
  );
  expect(mismatch.log).not.toContain(TOKEN); // the redirect's signed URL is not logged either
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
}, 60_000);

test('inputs: artifact-url needs artifact-sha256, excludes artifact, and must be https (http only on loopback)', async () => {
  const fail = (inputs: Record<string, string>) =>
    runRollout(fleet, { 'release-id': 'v9', ...inputs }).then(
      () => 'ran',
      (e: Error) => e.message,
    );
  expect(await fail({ 'artifact-url': server.url('/latest.tgz') })).toMatch(
    /^input 'artifact-sha256': is required with artifact-url/,
  );
  expect(await fail({ 'artifact-url': server.url('/latest.tgz'), 'artifact-sha256': sha(tgz), artifact: tmp })).toMatch(
    /^input 'artifact': and artifact-url are both set/,
  );
  expect(await fail({ 'artifact-url': 'http://downloads.example.com/a.tgz', 'artifact-sha256': sha(tgz) })).toMatch(
    /^input 'artifact-url': /,
  );
  expect(await fail({ 'artifact-sha256': sha(tgz), artifact: tmp })).toMatch(
    /^input 'artifact-sha256': is set but artifact-url is empty/,
  );
});

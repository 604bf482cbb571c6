// health-expect end to end: ssh-rollout against a real OpenSSH fleet, with an HTTP app per host that
// answers /version with the release its workers run. Workers pick up `current` only when a reload
// takes, so a host whose reload does nothing keeps serving the old release while answering 200:
// only health-expect tells it apart.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, freePort } from '../servers/fleet.js';
import { currents, makeArtifact, runRollout } from './helpers.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-health-expect-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * One app per host, all on one port (each host has its own loopback address). A host's app serves
 * the release it loaded at its last reload: it reads `current/version` again only when the reload
 * marker (`shared/served`, appended to by reload-command) has changed since it last looked.
 */
class VersionApps {
  readonly served: string[];
  private readonly seen: string[];
  private constructor(
    private readonly fleet: Fleet,
    readonly port: number,
    private readonly servers: Server[],
  ) {
    this.served = fleet.hosts.map(() => '');
    this.seen = fleet.hosts.map(() => '');
  }

  static async start(fleet: Fleet): Promise<VersionApps> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort(fleet.hosts[0].host);
      const servers: Server[] = [];
      let apps: VersionApps | undefined;
      const handler = (i: number) => (req: IncomingMessage, res: ServerResponse) => {
        if (req.url !== '/version') {
          res.statusCode = 404;
          res.end('not found\n');
          return;
        }
        res.end(`${apps!.version(i)}\n`);
      };
      try {
        for (const [i, h] of fleet.hosts.entries()) {
          const server = createServer(handler(i));
          servers.push(server);
          await new Promise<void>((resolve, reject) => {
            server.once('error', reject);
            server.listen(port, h.host, () => resolve());
          });
        }
        apps = new VersionApps(fleet, port, servers);
        return apps;
      } catch (err) {
        await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
        if (attempt >= 5) throw err;
      }
    }
  }

  /** What host i's workers serve now: `current/version` as of the last reload that took. */
  version(i: number): string {
    const marker = this.fleet.path(i, '/srv/app/shared/served');
    const reloads = existsSync(marker) ? readFileSync(marker, 'utf8') : '';
    if (reloads !== this.seen[i]) {
      this.seen[i] = reloads;
      this.served[i] = readFileSync(this.fleet.path(i, '/srv/app/current/version'), 'utf8').trim();
    }
    return this.served[i] === '' ? 'starting' : this.served[i];
  }

  close(): Promise<unknown> {
    return Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

describe('health-expect "{release}" on 3 hosts', () => {
  let fleet: Fleet;
  let apps: VersionApps;
  let v2Artifact: string;
  // A reload "takes" unless the host has /srv/reload-broken (then old workers go on serving).
  const reload = 'if [ ! -e /srv/reload-broken ]; then echo "$RELEASE_ID" >> "$DEPLOY_PATH/shared/served"; fi';
  const broken = (i: number) => join(fleet.hosts[i].root, 'reload-broken');
  const inputs = () => ({
    'reload-command': reload,
    'health-url': `http://{host}:${apps.port}/version`,
    'health-expect': '{release}',
  });

  beforeAll(async () => {
    fleet = await Fleet.start(3, { distinctAddresses: true });
    apps = await VersionApps.start(fleet);
    v2Artifact = makeArtifact(tmp, 'v2');
  }, 30_000);
  afterAll(async () => {
    await apps?.close();
    await fleet?.stop();
  });

  /** What each host's app answers right now, over HTTP as the health check sees it. */
  async function answers(): Promise<string[]> {
    return Promise.all(
      fleet.hosts.map(async (h) => (await (await fetch(`http://${h.host}:${apps.port}/version`)).text()).trim()),
    );
  }

  test('v1: healthy everywhere once each host serves v1', async () => {
    expect(await answers()).toEqual(['starting', 'starting', 'starting']);
    const run = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1', ...inputs() });
    expect(run.failure).toBeUndefined();
    expect(run.outputs).toMatchObject({ result: 'success', 'failed-hosts': [] });
    expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
    expect(await answers()).toEqual(['v1', 'v1', 'v1']);
  });

  test('v2 where host 1 reload does not take: host 1 fails health, every host is put back on v1', async () => {
    writeFileSync(broken(1), '');
    try {
      const run = await runRollout(fleet, {
        artifact: v2Artifact,
        'release-id': 'v2',
        ...inputs(),
        'health-timeout': '1s',
      });
      const ids = fleet.hosts.map((h) => h.id);
      expect(run.outputs.result).toBe('reverted');
      expect(run.outputs['failed-hosts']).toEqual([
        { host: ids[1], reason: expect.stringContaining('does not contain "v2"') },
      ]);
      // The reason shows what the host answered instead.
      expect(run.outputs['failed-hosts'][0].reason).toContain('(body: "v1")');
      expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
      // Host 0 went to v2 and was reloaded back; host 1 never stopped serving v1; host 2 was never switched.
      expect(await answers()).toEqual(['v1', 'v1', 'v1']);
      expect(readFileSync(fleet.path(0, '/srv/app/shared/served'), 'utf8')).toBe('v1\nv2\nv1\n');
      expect(readFileSync(fleet.path(1, '/srv/app/shared/served'), 'utf8')).toBe('v1\n');
    } finally {
      rmSync(broken(1), { force: true });
    }
  });

  test('v2 with every reload taking: success, every host serves v2', async () => {
    const run = await runRollout(fleet, { artifact: v2Artifact, 'release-id': 'v2', ...inputs() });
    expect(run.failure).toBeUndefined();
    expect(run.outputs).toMatchObject({ result: 'success', 'failed-hosts': [] });
    expect(currents(fleet)).toEqual(['v2', 'v2', 'v2']);
    expect(await answers()).toEqual(['v2', 'v2', 'v2']);
  });
});

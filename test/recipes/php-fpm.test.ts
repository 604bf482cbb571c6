// The PHP-FPM recipe of docs/app-servers.md, against Debian's PHP-FPM 8.2 behind Debian's nginx, both on
// each of two real SSH hosts: nginx passes $realpath_root, PHP-FPM (foreground, process_control_timeout
// set) is reloaded by USR2, and the reload-command waits for every worker from before it to exit. Then
// the trap: $document_root and no PHP-FPM reload keeps the old release running, which the health check
// (health-expect: '{release}') catches.
import { writeFileSync } from 'node:fs';
import { runRollout } from '../rollout/helpers.js';
import {
  appArtifact,
  docBlock,
  docInputs,
  expectRecipeWorked,
  expectTrapCaught,
  loadLine,
  mustOnHost,
  rolloutUnderLoad,
  sample,
  sharedPort,
  startOnHosts,
  type Started,
  recipeWorld,
} from './helpers.js';

const SHARED = '/srv/app/shared';

describe('PHP-FPM behind nginx: $realpath_root, USR2, then wait for the old workers', () => {
  const w = recipeWorld('php', ['php8.2-fpm', 'nginx'], 'php-fpm');

  /**
   * PHP-FPM with the doc's config and start command, and nginx with the doc's server block (listening on
   * the host's address and `port`) in a small nginx.conf of its own, run as the login user.
   */
  async function start(changeServer = (block: string) => block): Promise<{ fpm: Started; port: number }> {
    const port = await sharedPort(w.fleet);
    const server = changeServer(docBlock('php-fpm nginx'));
    for (const [i, h] of w.fleet.hosts.entries()) {
      await mustOnHost(w.fleet, i, `mkdir -p ${SHARED}/nginx-tmp`);
      writeFileSync(w.fleet.path(i, `${SHARED}/php-fpm.conf`), docBlock('php-fpm config'));
      const block = server
        .replace(/^( *)listen 80;$/m, `$1listen ${h.host}:${port};`)
        .replace('include fastcgi_params;', 'include /etc/nginx/fastcgi_params;');
      if (!block.includes(`listen ${h.host}:${port};`))
        throw new Error(`no "listen 80;" in the doc's server block: ${server}`);
      const tmp = `${SHARED}/nginx-tmp`;
      writeFileSync(
        w.fleet.path(i, `${SHARED}/nginx.conf`),
        [
          `pid ${SHARED}/nginx.pid;`,
          `error_log ${SHARED}/nginx-error.log;`,
          'worker_processes 2;',
          'events { worker_connections 1024; }',
          'http {',
          '  access_log off;',
          ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp};`),
          block,
          '}',
          '',
        ].join('\n'),
      );
    }
    const fpm = await startOnHosts(w.fleet, {
      name: 'php-fpm',
      port,
      pidFile: `${SHARED}/php-fpm.pid`,
      readyPath: '',
      command: () => docBlock('php-fpm start').trim(),
    });
    w.running.push(fpm);
    const nginx = await startOnHosts(w.fleet, {
      name: 'nginx',
      port,
      pidFile: `${SHARED}/nginx.pid`,
      command: () => `/usr/sbin/nginx -c ${SHARED}/nginx.conf -e ${SHARED}/nginx-error.log -g 'daemon off;'`,
    });
    w.running.push(nginx);
    return { fpm, port };
  }

  async function stopAll(): Promise<void> {
    for (const s of w.running.splice(0)) await s.stop();
  }

  test('v1 → v2 under load: success, no failed request, same master, every worker answers v2', async () => {
    const { fpm, port } = await start();
    try {
      const run = await rolloutUnderLoad(w.fleet, fpm, {
        base: w.base,
        app: 'php-fpm',
        release: 'v2',
        inputs: { ...docInputs('php-fpm rollout', port) },
      });
      console.log(loadLine('php-fpm', run));
      expectRecipeWorked(run, 'v1', 'v2', { sameMaster: true });
    } finally {
      await stopAll();
    }
  }, 60_000);

  test('$realpath_root alone, with no reload at all: every request already runs the new release', async () => {
    const { fpm, port } = await start();
    try {
      const { 'health-url': healthUrl, 'health-expect': healthExpect } = docInputs('php-fpm rollout', port);
      const run = await runRollout(w.fleet, {
        artifact: appArtifact(w.base, 'php-fpm', 'v3'),
        'release-id': 'v3',
        'health-url': healthUrl,
        'health-expect': healthExpect,
        'health-timeout': '2s',
      });
      expect(run.outputs.result).toBe('success');
      for (const url of fpm.urls) expect((await sample(url)).releases).toEqual({ v3: 60 });
    } finally {
      await stopAll();
    }
  }, 60_000);

  test('trap $document_root and no PHP-FPM reload: the workers keep running the old release; the host is put back', async () => {
    const from = w.fleet.currentRelease(0);
    const { fpm, port } = await start((block) => {
      if (!block.includes('$realpath_root$fastcgi_script_name') || !block.includes('DOCUMENT_ROOT $realpath_root'))
        throw new Error(`unexpected server block: ${block}`);
      return block.replaceAll('$realpath_root', '$document_root');
    });
    try {
      // Every worker serves the old release once, so each has resolved and compiled it (as on any busy host).
      for (const url of fpm.urls) {
        const seen = new Set<number>();
        for (let round = 0; seen.size < 4 && round < 10; round++) {
          const s = await sample(url, 20);
          expect(s.releases).toEqual({ [from]: 20 });
          for (const pid of s.pids) seen.add(pid);
        }
        expect(seen.size).toBe(4); // pm.max_children
      }
      const { 'health-url': healthUrl, 'health-expect': healthExpect } = docInputs('php-fpm rollout', port);
      const run = await runRollout(w.fleet, {
        artifact: appArtifact(w.base, 'php-fpm', 'v4'),
        'release-id': 'v4',
        'health-url': healthUrl,
        'health-expect': healthExpect,
        'health-timeout': '2s',
      });
      expectTrapCaught(run, w.fleet, from, 'v4');
    } finally {
      await stopAll();
    }
  }, 60_000);
});

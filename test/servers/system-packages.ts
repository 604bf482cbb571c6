// The Debian packages that the tests, the demo and the benchmark start real servers from, in one list,
// and one way to get them: whatever is missing is installed with apt by scripts/ensure-packages.sh.
// Jest's global setup (test/global-setup.mjs) installs the whole test set before any suite starts, so
// `npm ci && npm test` passes on a fresh machine; each server starter also asks for its own package, so
// the demo, the benchmark and a single test file run outside that setup install what they use.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SystemPackage {
  /** Debian package name. */
  name: string;
  /** Absolute paths of the programs it must provide; present = installed. */
  provides: string[];
  /** Who needs it (for messages). */
  usedBy: string;
}

const PACKAGES = {
  'openssh-server': { provides: ['/usr/sbin/sshd'], usedBy: 'the SSH fleet (a real sshd per host)' },
  'openssh-client': {
    provides: ['/usr/bin/ssh-keygen', '/usr/bin/ssh-keyscan'],
    usedBy: 'host keys and @cert-authority certificates',
  },
  prometheus: {
    provides: ['/usr/bin/prometheus', '/usr/bin/promtool'],
    usedBy: 'metric-watch against a real Prometheus, the demo, promtool on the generated rules',
  },
  'prometheus-alertmanager': {
    provides: ['/usr/bin/prometheus-alertmanager', '/usr/bin/amtool'],
    usedBy: 'the generated Alertmanager configuration (amtool check-config) and paging end to end',
  },
  'nagios4-core': { provides: ['/usr/sbin/nagios4'], usedBy: 'fivestep check run by a real Nagios' },
  haproxy: {
    provides: ['/usr/sbin/haproxy'],
    usedBy: "the load-balancer tests, the demo's canary at 10%, the under-load benchmark",
  },
  nginx: { provides: ['/usr/sbin/nginx'], usedBy: 'the nginx load-balancer tests' },
  socat: { provides: ['/usr/bin/socat'], usedBy: "haproxy's runtime API over SSH" },
  curl: {
    provides: ['/usr/bin/curl'],
    usedBy: "the alert-rules workflow's reload command (POST /-/reload on the host)",
  },
  git: { provides: ['/usr/bin/git'], usedBy: "auto-revert's git revert" },
  iproute2: { provides: ['/usr/bin/ss'], usedBy: 'counting open connections in the SIGTERM and drain tests' },
  procps: { provides: ['/usr/bin/pgrep'], usedBy: 'finding server processes' },
  'util-linux': { provides: ['/usr/bin/unshare'], usedBy: 'a private /srv per host (mount namespaces)' },
  ansible: { provides: ['/usr/bin/ansible-playbook'], usedBy: "the benchmark's peer (Ansible serial)" },
  // graphite-web's render API (a Django app; python3-django comes with it) and carbon-cache, which stores
  // what the tests write, for metric-watch's graphite source against the real thing.
  'graphite-web': {
    provides: [
      '/usr/bin/graphite-manage',
      '/usr/lib/python3/dist-packages/graphite/settings.py',
      '/usr/lib/python3/dist-packages/django/__init__.py',
    ],
    usedBy: 'metric-watch against a real graphite-web (render API)',
  },
  'graphite-carbon': {
    provides: ['/usr/bin/carbon-cache'],
    usedBy: 'metric-watch against a real graphite-web (carbon-cache stores the points)',
  },
  // The app servers of docs/app-servers.md, each reloaded by its recipe under load (test/recipes/).
  starman: { provides: ['/usr/bin/starman'], usedBy: 'the Starman recipe (test/recipes/starman.test.ts)' },
  gunicorn: {
    provides: ['/usr/bin/gunicorn'],
    usedBy: 'the gunicorn and systemd recipes (test/recipes/gunicorn.test.ts, systemd.test.ts)',
  },
  puma: { provides: ['/usr/bin/puma'], usedBy: 'the Puma recipe (test/recipes/puma.test.ts)' },
  unicorn: { provides: ['/usr/bin/unicorn'], usedBy: 'the unicorn recipe (test/recipes/unicorn.test.ts)' },
  'php8.2-fpm': { provides: ['/usr/sbin/php-fpm8.2'], usedBy: 'the PHP-FPM recipe (test/recipes/php-fpm.test.ts)' },
} as const satisfies Record<string, Omit<SystemPackage, 'name'>>;

export type PackageName = keyof typeof PACKAGES;

/** Every package some test needs: what `npm test` installs before the first suite. */
export const TEST_PACKAGES: PackageName[] = [
  'openssh-server',
  'openssh-client',
  'prometheus',
  'prometheus-alertmanager',
  'nagios4-core',
  'haproxy',
  'nginx',
  'socat',
  'curl',
  'git',
  'iproute2',
  'procps',
  'util-linux',
  'graphite-web',
  'graphite-carbon',
  'starman',
  'gunicorn',
  'puma',
  'unicorn',
  'php8.2-fpm',
];
/** What `npm run demo` needs: the fleet, Prometheus, and haproxy in front of the shops (socat drives it). */
export const DEMO_PACKAGES: PackageName[] = [
  'openssh-server',
  'openssh-client',
  'prometheus',
  'haproxy',
  'socat',
  'iproute2',
  'procps',
  'util-linux',
];

export function systemPackage(name: PackageName): SystemPackage {
  return { name, ...PACKAGES[name], provides: [...PACKAGES[name].provides] };
}

/** The packages of `names` whose programs are not all on this machine. */
export function missingPackages(names: readonly PackageName[]): SystemPackage[] {
  return missingOf(names.map(systemPackage));
}

const missingOf = (packages: SystemPackage[]) => packages.filter((p) => !p.provides.every((bin) => existsSync(bin)));

/**
 * Installs whatever of `names` is missing (apt, through scripts/ensure-packages.sh) and checks that
 * every program is there afterwards. Throws naming each package still missing, what needs it and the
 * installer's own error, so a machine without apt or without the registry says why in one message.
 */
export function ensurePackages(names: readonly PackageName[], options: { quiet?: boolean } = {}): void {
  installPackages(names.map(systemPackage), options);
}

/** ensurePackages for packages given whole (the tests use one Debian does not have). */
export function installPackages(packages: SystemPackage[], options: { quiet?: boolean } = {}): void {
  const missing = missingOf(packages);
  if (missing.length === 0) return;
  let installerError = '';
  try {
    execFileSync('bash', [join(REPO, 'scripts', 'ensure-packages.sh'), ...missing.map((p) => p.name)], {
      stdio: ['ignore', options.quiet ? 'ignore' : 'inherit', 'pipe'],
      encoding: 'utf8',
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    installerError = (e.stderr || e.message).trim().split('\n').slice(-3).join(' / ');
  }
  const still = missingOf(missing);
  if (still.length === 0) return;
  throw new Error(
    `could not install ${still.map((p) => `${p.name} (for ${p.usedBy}; missing ${p.provides.filter((b) => !existsSync(b)).join(', ')})`).join('; ')}` +
      `${installerError ? `: ${installerError}` : ''}. Install by hand: apt-get install -y ${still.map((p) => p.name).join(' ')}`,
  );
}

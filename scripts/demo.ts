// `npm run demo`: a five-host SSH fleet on loopback, three releases rolled out with ssh-rollout.
// v1 and v2 roll out in waves; v3 fails its health check on the canary wave and is reverted.
// (The full five-step pipeline with metrics and the RCA issue grows from here.)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../src/common/inputs.js';
import type { Logger } from '../src/common/logger.js';
import { sshRollout } from '../src/rollout/main.js';
import { formatMs } from '../src/rollout/report.js';
import type { RolloutReport } from '../src/rollout/rollout.js';
import { connectSsh } from '../src/ssh/connection.js';
import { Fleet } from '../test/servers/fleet.js';

const say = (text: string) => console.log(`\n\x1b[1m▶ ${text}\x1b[0m`);
const quietLogger: Logger = {
  debug() {},
  info(m) {
    console.log(`    ${m}`);
  },
  warning(m) {
    console.log(`    ⚠ ${m}`);
  },
  error(m) {
    console.log(`    ✗ ${m}`);
  },
  group: async (name, fn) => {
    console.log(`  ${name}`);
    return fn();
  },
};

if (process.getuid?.() !== 0) {
  console.error('The demo starts real sshd servers on loopback and needs root.');
  process.exit(1);
}
if (!existsSync('/usr/sbin/sshd')) execFileSync('bash', ['scripts/ensure-packages.sh', 'openssh-server', 'openssh-client'], { stdio: 'inherit' });

const work = mkdtempSync(join(tmpdir(), 'fivestep-demo-'));
function release(version: string, healthy: boolean): string {
  const dir = join(work, version);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'VERSION'), `${version}\n`);
  writeFileSync(join(dir, 'index.html'), `<h1>shop ${version}</h1>\n`);
  // The app's own health check: a release that cannot serve says so.
  writeFileSync(join(dir, 'healthcheck.sh'), healthy ? 'test -s index.html\n' : 'echo "database migration missing" >&2; exit 1\n');
  return dir;
}

const started = Date.now();
say('Starting a fleet of 5 real OpenSSH servers on loopback, each with its own /srv');
const fleet = await Fleet.start(5, { distinctAddresses: true });
const results: { version: string; report: RolloutReport; result: string }[] = [];
try {
  for (const h of fleet.hosts) console.log(`    ${h.id}  (host key ${h.hostKey.split(' ')[0]}, verified against known_hosts)`);
  const common = {
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    'deploy-path': '/srv/app',
    waves: '1, 25%, 100%',
    'wave-wait': '1s',
    'shared-paths': 'log',
    'reload-command': 'echo "$(date -u +%FT%TZ) reloaded $RELEASE_ID (was ${PREVIOUS_RELEASE_ID:-none})" >> "$DEPLOY_PATH/shared/log/reload.log"',
    'health-command': 'sh healthcheck.sh',
    'health-timeout': '3s',
  };
  const steps: [string, string, boolean][] = [
    ['v1', 'Step 3, deploy script: v1 goes out in waves (1 canary, 25%, the rest)', true],
    ['v2', 'v2 follows the same path: staged everywhere first, then an atomic symlink switch per host', true],
    ['v3', 'v3 is broken: its health check fails on the canary, so the rollout stops and reverts', false],
  ];
  for (const [version, story, healthy] of steps) {
    say(story);
    const out = await sshRollout(objectInputs({ ...common, artifact: release(version, healthy), 'release-id': version }), {
      connector: connectSsh,
      logger: quietLogger,
      mask: () => {},
      env: { ...process.env, RUNNER_TEMP: work },
    });
    const report = JSON.parse(readFileSync(String(out.outputs.report), 'utf8')) as RolloutReport;
    results.push({ version, report, result: String(out.outputs.result) });
    console.log(`  → result: ${out.outputs.result}${out.failure ? ` (${out.failure})` : ''}`);
  }

  say('Where every host stands now');
  for (const [i, h] of fleet.hosts.entries()) {
    const current = readlinkSync(fleet.path(i, '/srv/app/current'));
    const log = readFileSync(fleet.path(i, '/srv/app/.fivestep/deploy.log'), 'utf8').trim().split('\n');
    console.log(`    ${h.id.padEnd(22)} current → ${current.padEnd(12)} deploy log: ${log.length} lines, last: ${JSON.parse(log[log.length - 1]).result}`);
  }

  say('Summary');
  console.log('    release  result     hosts  waves  duration');
  for (const r of results) {
    console.log(
      `    ${r.version.padEnd(8)} ${r.result.padEnd(10)} ${String(r.report.hosts.length).padEnd(6)} ${String(r.report.waves.length).padEnd(6)} ${formatMs(r.report.durationMs)}`,
    );
  }
  const ok = results.map((r) => r.result).join(',') === 'success,success,reverted';
  console.log(`\n${ok ? '✓' : '✗'} demo finished in ${formatMs(Date.now() - started)}: the fleet is on v2, v3 never got past the canary.`);
  if (!ok) process.exitCode = 1;
} finally {
  await fleet.stop();
  console.log('  (fleet stopped, everything it started is gone)');
}

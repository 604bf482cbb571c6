// The 20-host rollout of bench/rollout.ts (waves `1, 25%, 100%`, a ~2 MB artifact, reload and health
// commands, real OpenSSH on loopback), run by this checkout's ssh-rollout bundle (dist/) and by the bundle
// of an earlier commit, alternately on the same fleet, in the same run: a change to the engine's structure
// must not cost time. The base is FIVESTEP_BENCH_BASE (a git revision), by default the last commit before
// the step table (engine/steps.ts) replaced the per-step dispatch.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from '../src/common/stats.js';
import { Fleet } from '../test/servers/fleet.js';
import { HEALTH, RELOAD, WAVES, buildArtifact } from './rollout.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOSTS = 20;
const DEFAULT_BASE = '229a009';

export interface BeforeAfterBench {
  base: string;
  runs: number;
  currentMs: number[];
  baseMs: number[];
  lines: string[];
}

/** Runs one bundle as the runner would (INPUT_* variables), returning its wall time. */
export async function runBundle(bundle: string, inputs: Record<string, string>, workDir: string): Promise<number> {
  const outputFile = join(workDir, `out-${Math.random().toString(36).slice(2)}`);
  writeFileSync(outputFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: outputFile,
    RUNNER_TEMP: workDir,
    GITHUB_REPOSITORY: 'bench/bench',
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const started = performance.now();
  const child = spawn(process.execPath, [bundle], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  const result = /^result<<(\S+)\n(.*)\n\1$/m.exec(readFileSync(outputFile, 'utf8'))?.[2];
  if (code !== 0 || result !== 'success')
    throw new Error(`${bundle}: exit ${code}, result ${result}\n${stdout.slice(-2000)}`);
  return ms;
}

export async function benchBeforeAfter(runs = 5, log: (line: string) => void = console.log): Promise<BeforeAfterBench> {
  const base = process.env.FIVESTEP_BENCH_BASE ?? DEFAULT_BASE;
  const dir = join(REPO, '.tmp', 'bench-before-after');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'runner'), { recursive: true });
  // The whole bundle folder (its package.json makes index.js a module; it loads its source-map helper).
  const archive = spawnSync('sh', ['-c', `git archive ${base} dist/ssh-rollout | tar -x -C ${JSON.stringify(dir)}`], {
    cwd: REPO,
  });
  if (archive.status !== 0) throw new Error(`git archive ${base} dist/ssh-rollout: ${archive.stderr.toString()}`);
  const baseBundle = join(dir, 'dist', 'ssh-rollout', 'index.js');
  const current = join(REPO, 'dist', 'ssh-rollout', 'index.js');
  const artifact = join(dir, 'artifact');
  buildArtifact(artifact);
  const fleet = await Fleet.start(HOSTS);
  const currentMs: number[] = [];
  const baseMs: number[] = [];
  try {
    const inputs = (release: string) => ({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      artifact,
      'release-id': release,
      waves: WAVES,
      'health-command': HEALTH,
      'reload-command': RELOAD,
      delta: 'false',
    });
    const stamp = Date.now().toString(36);
    // Alternating, the order flipped every run, so neither bundle always follows the other.
    for (let i = 0; i < runs; i++) {
      const order: ['current' | 'base', string][] = [
        ['current', current],
        ['base', baseBundle],
      ];
      if (i % 2) order.reverse();
      for (const [which, bundle] of order) {
        const ms = await runBundle(bundle, inputs(`ba-${stamp}-${which}-${i + 1}`), join(dir, 'runner'));
        (which === 'current' ? currentMs : baseMs).push(ms);
      }
      log(`  run ${i + 1}/${runs}  this checkout ${sec(currentMs.at(-1)!)}  ${base} ${sec(baseMs.at(-1)!)}`);
    }
  } finally {
    await fleet.stop();
  }
  const lines = [
    `ssh-rollout before and after, ${HOSTS} OpenSSH hosts on loopback, waves ${WAVES}, whole artifact, ` +
      `the bundles run alternately, ${runs} runs each:`,
    `  this checkout ${sec(median(currentMs))} median (${currentMs.map(sec).join(', ')})`,
    `  ${base} ${sec(median(baseMs))} median (${baseMs.map(sec).join(', ')})`,
  ];
  for (const l of lines) log(l);
  return { base, runs, currentMs, baseMs, lines };
}

function sec(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

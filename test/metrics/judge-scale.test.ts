// The pooled Mann-Whitney and Hodges-Lehmann figures decide nothing: at fleet scale they must cost a
// bounded, small part of a tick. Each case runs in a child process (judge-scale.ts), so its peak memory
// is the judge's own and a runaway is killed, not waited for.
import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit } from '../servers/child-processes.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');

interface Cost {
  ms: number;
  grewMb: number;
  significant: boolean;
  readings: { canary: number; baseline: number };
  mannWhitney: { u: number; shift: number; shiftSample?: { pairs: number; of: number } };
}

/** Judges one rule of `canaries` + `baselines` hosts with `readings` each; rejects after `limitMs`. */
function judgeInChild(canaries: number, baselines: number, readings: number, limitMs = 20_000): Promise<Cost> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(HERE, 'judge-scale.ts'), String(canaries), String(baselines), String(readings)],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    killOnExit(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Cost);
      else
        reject(
          new Error(
            `the judge did not finish (${signal ? `killed after ${limitMs} ms` : `exit ${code}`}): ${err.slice(-500)}`,
          ),
        );
    });
  });
}

describe('the judge at fleet scale', () => {
  test("1,000 canary readings against 3,000 (the issue's 6.7 s): well under a second, a few MB", async () => {
    const cost = await judgeInChild(1, 3, 1000);
    expect(cost.readings).toEqual({ canary: 1000, baseline: 3000 });
    expect(cost.ms).toBeLessThan(250);
    expect(cost.grewMb).toBeLessThan(64);
    // 3,000,000 pairs: the shift comes from a quantile sample, and says so.
    expect(cost.mannWhitney.shiftSample).toEqual({ pairs: 250_000, of: 3_000_000 });
  }, 30_000);

  test("5,000 × 5,000 readings (the issue's 36 s and 1.3 GB): well under a second, bounded memory", async () => {
    const cost = await judgeInChild(5, 5, 1000);
    expect(cost.ms).toBeLessThan(250);
    expect(cost.grewMb).toBeLessThan(64);
  }, 30_000);

  test('1,000 hosts × 3,000 readings each (3 million readings in one rule): about half a second, memory linear in the readings', async () => {
    const cost = await judgeInChild(100, 900, 3000);
    expect(cost.readings).toEqual({ canary: 300_000, baseline: 2_700_000 });
    expect(cost.significant).toBe(false);
    // Measured 0.43 s here; the budget leaves room for a loaded CI machine. The readings alone are 24 MB.
    expect(cost.ms).toBeLessThan(2000);
    expect(cost.grewMb).toBeLessThan(128);
    expect(cost.mannWhitney.shiftSample?.of).toBe(300_000 * 2_700_000);
  }, 30_000);
});

// `npm run demo` end to end: the five steps on a real fleet, shop apps behind haproxy, load and Prometheus, in under 90 s.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');

test('npm run demo walks the five steps: v2 everywhere with 0 failed requests, v3 reverted at the canary, RCA written', async () => {
  const started = Date.now();
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    // tsx directly (what `npm run demo` runs), so a timeout can stop the demo itself, which then cleans up.
    const child = spawn(join(REPO, 'node_modules', '.bin', 'tsx'), ['scripts/demo.ts'], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGINT'), 110_000);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c, out: text });
    });
  });
  const elapsed = Date.now() - started;
  if (code !== 0) console.log(out.slice(-6000));
  expect(code).toBe(0);
  expect(out).toMatch(/[^\d]0 failed requests during the rollouts \(goal: 0\)/);
  expect(out).toMatch(/fleet: 5 of 5 hosts on v2/);
  expect(out).toMatch(/test-gate ran `node --test` on the shop: 3 tests, 0 failing/);
  expect(out).toContain('check run "test-gate": success');
  expect(out).toMatch(/status test-gate\/tree = success/);
  expect(out).toMatch(
    /result: reverted \(rollout of v3 stopped and reverted: metric watch failed during the bake of wave 1: revenue per minute/,
  );
  const rca = /RCA: (\S+)/.exec(out)?.[1];
  expect(rca).toBeDefined();
  expect(existsSync(rca!)).toBe(true);
  const body = readFileSync(rca!, 'utf8');
  expect(body).toMatch(/^# Incident: release v3 reverted/);
  expect(body).toContain('Release **v3**');
  expect(body).toMatch(/\| revenue per minute \| 127\.\d+\.\d+\.1 \|/);
  expect(body).toContain('## Five whys');
  // Always behind a real haproxy: every host drained around its switch, the v2 canary at its 10% while baking.
  expect(out).toMatch(/haproxy \(\/usr\/sbin\/haproxy\) balances the 5 shops/);
  expect(out).toMatch(/drained before the switch and back in rotation after health: 5 of 5 hosts, 0 failed requests/);
  expect(out.match(/^ +drained in \d+ ms: out of rotation/gm)?.length).toBeGreaterThanOrEqual(6);
  const share = /canary served (\d+(?:\.\d+)?)% of requests during its bake \(target 10%\)/.exec(out);
  expect(share).not.toBeNull();
  expect(Number(share![1])).toBeGreaterThanOrEqual(6);
  expect(Number(share![1])).toBeLessThanOrEqual(14);
  expect(out).toMatch(/stopped: prometheus, load generator, haproxy, shop apps, fleet/);
  expect(out).not.toMatch(/skipp|No haproxy|⚠/);
  expect(elapsed).toBeLessThan(90_000);
}, 120_000);

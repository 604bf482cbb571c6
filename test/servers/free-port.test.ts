// The fleet's free-port picker never hands out a port twice (a flaky CI run once put two sshds of one
// fleet on the same kernel-chosen port, so a host was "listed twice").
import { createPortPicker, freePort } from './fleet.js';

test('a port the kernel offers again is skipped, not handed out twice', async () => {
  const offers = [40001, 40001, 40002, 40001, 40003];
  const pick = createPortPicker(async () => offers.shift()!);
  expect([await pick(), await pick(), await pick()]).toEqual([40001, 40002, 40003]);
});

test('concurrent real free ports are all different and unprivileged', async () => {
  const ports = await Promise.all(Array.from({ length: 100 }, () => freePort()));
  expect(new Set(ports).size).toBe(100);
  for (const p of ports) expect(p).toBeGreaterThan(1023);
});

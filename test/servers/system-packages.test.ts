// The packages `npm test` and `npm run demo` install: present after the global setup, and an install
// that cannot happen is one clear error naming the package, what needs it and apt's own words.
import { existsSync } from 'node:fs';
import { DEMO_PACKAGES, TEST_PACKAGES, installPackages, missingPackages, systemPackage } from './system-packages.js';

test('after the global setup every program the tests and the demo start is on this machine', () => {
  expect(missingPackages(TEST_PACKAGES)).toEqual([]);
  for (const bin of ['/usr/sbin/sshd', '/usr/bin/prometheus', '/usr/sbin/haproxy', '/usr/sbin/nginx', '/usr/bin/socat'])
    expect(existsSync(bin)).toBe(true);
  // The demo needs nothing the tests do not install.
  expect(DEMO_PACKAGES.filter((p) => !TEST_PACKAGES.includes(p))).toEqual([]);
  expect(systemPackage('haproxy')).toEqual({
    name: 'haproxy',
    provides: ['/usr/sbin/haproxy'],
    usedBy: expect.stringContaining('canary'),
  });
});

test("a package apt cannot install fails at once, naming it, what needs it and apt's error", () => {
  const ghost = { name: 'fivestep-no-such-package', provides: ['/nonexistent/fivestep-ghost'], usedBy: 'this test' };
  let message = '';
  try {
    installPackages([systemPackage('git'), ghost], { quiet: true });
  } catch (err) {
    message = (err as Error).message;
  }
  expect(message).toMatch(
    /^could not install fivestep-no-such-package \(for this test; missing \/nonexistent\/fivestep-ghost\): /,
  );
  expect(message).toMatch(/Unable to locate package fivestep-no-such-package/);
  expect(message).toMatch(/Install by hand: apt-get install -y fivestep-no-such-package$/);
  // What is present is neither reinstalled nor named.
  expect(message).not.toMatch(/\bgit\b/);
}, 120_000);

// Stack traces as each runtime and test framework prints them: the `path:line` frames read from them.
import { stackFrames } from '../../src/gate/junit-frames.js';

test('stack frames: node, java, python, go, .NET styles', () => {
  const trace = [
    'at Object.<anonymous> (/a/b.test.ts:12:5)',
    ' at com.x.Y.m(Y.java:7)',
    '  tests/t.py:3: AssertionError',
    '    x_test.go:9: bad',
    '  File "/a/c.py", line 4, in f',
    '   at Shop.Tests.CartTests.AppliesDiscount() in /w/tests/CartTests.cs:line 24',
  ].join('\n');
  expect(stackFrames(trace)).toMatchObject([
    { path: '/a/b.test.ts', line: 12 },
    { path: 'Y.java', line: 7, fn: 'com.x.Y.m' },
    { path: 'tests/t.py', line: 3 },
    { path: 'x_test.go', line: 9 },
    { path: '/a/c.py', line: 4, fn: 'f' },
    { path: '/w/tests/CartTests.cs', line: 24, fn: 'Shop.Tests.CartTests.AppliesDiscount' },
  ]);
});

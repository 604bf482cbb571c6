// Figures as people read them: one rendering of a time taken, of a configured duration, of a count.
import { formatBytes, formatDuration, formatDurationInput, plural } from '../../src/common/format.js';

test('formatDuration: ms below a second, then seconds to three figures below 10 s, one decimal above', () => {
  expect([0, 999.4, 999.6, 1000, 1234, 9_994, 12_345, 125_000].map(formatDuration)).toEqual([
    '0 ms',
    '999 ms',
    '1000 ms',
    '1.00 s',
    '1.23 s',
    '9.99 s',
    '12.3 s',
    '125.0 s',
  ]);
});

test('formatDurationInput: a configured duration exactly, as the inputs take it back', () => {
  expect([300_000, 30_000, 250, 0].map(formatDurationInput)).toEqual(['300s', '30s', '0.25s', '0s']);
});

test('plural: the noun takes an s for every count but one', () => {
  expect([0, 1, 2].map((n) => plural(n, 'host'))).toEqual(['0 hosts', '1 host', '2 hosts']);
});

test('formatBytes: B below a KiB, then one decimal', () => {
  const sizes = [512, 2048, 1.5 * 1024 * 1024, 64 * 1024 ** 3];
  expect(sizes.map(formatBytes)).toEqual(['512 B', '2.0 KiB', '1.5 MiB', '64.0 GiB']);
});

// The median every report takes, and what it is of nothing.
import { median } from '../../src/common/stats.js';

test('the middle value, or the mean of the two middle ones; the input is left unsorted', () => {
  const values = [3, 1, 2, 10];
  expect(median(values)).toBe(2.5);
  expect(values).toEqual([3, 1, 2, 10]);
  expect(median([7, -1, 3])).toBe(3);
  expect(median([4])).toBe(4);
});

test('no values: NaN, no middle (a caller showing one checks for an empty list first)', () => {
  expect(median([])).toBeNaN();
});

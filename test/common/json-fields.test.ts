// The field readers of every report reader: one time rule (ISO 8601, epoch seconds or ms by magnitude),
// text and lists from wrong types, notes capped against hostile files.
import { describe, expect, test } from '@jest/globals';
import { MAX_NOTES, NoteList, readTime, shown, stringList, text } from '../../src/common/json-fields.js';

describe('readTime: the one time rule', () => {
  const ms = Date.parse('2023-11-14T22:13:20Z');

  test('an ISO 8601 string, epoch ms and epoch seconds name the same instant', () => {
    expect(readTime('2023-11-14T22:13:20Z')).toBe(ms);
    expect(readTime('2023-11-14T22:13:20.000+00:00')).toBe(ms);
    expect(readTime(ms)).toBe(ms);
    expect(readTime(ms / 1000)).toBe(ms);
  });

  test('1,700,000,000 is seconds (2023), as the RCA read it, not ms (January 1970), as replay did', () => {
    expect(readTime(1_700_000_000)).toBe(1_700_000_000_000);
    expect(new Date(readTime(1_700_000_000)!).toISOString()).toBe('2023-11-14T22:13:20.000Z');
  });

  test('fractional seconds (Prometheus) become whole ms; ms keep what they hold', () => {
    expect(readTime(1_700_000_000.123)).toBe(1_700_000_000_123);
    expect(readTime(1_700_000_000_123.5)).toBe(1_700_000_000_123.5);
  });

  test('the boundary: below 1e11 seconds, from 1e11 ms', () => {
    expect(readTime(99_999_999_999)).toBe(99_999_999_999_000); // the year 5138
    expect(readTime(100_000_000_000)).toBe(100_000_000_000); // March 1973
    expect(readTime(0)).toBe(0);
  });

  test.each([
    ['a negative number', -5],
    ['past the last instant a Date holds', 8.64e15 + 1],
    ['a huge number', 1e300],
    ['Infinity', Infinity],
    ['NaN', NaN],
    ['an empty string', ''],
    ['blanks', '   '],
    ['words', 'yesterday'],
    ['a digit string too long for a date', '1700000000'],
    ['null', null],
    ['a boolean', true],
    ['an object', { t: 1 }],
    ['a list', [1_700_000_000]],
    ['undefined', undefined],
  ])('%s is no time', (_, x) => {
    expect(readTime(x)).toBeUndefined();
  });

  test('every time read prints (a hostile number never makes toISOString throw)', () => {
    for (const x of [0, 99_999_999_999, 1e11, 8.64e15, '+275760-09-13T00:00:00.000Z']) {
      expect(() => new Date(readTime(x)!).toISOString()).not.toThrow();
    }
  });
});

describe('text, lists and notes', () => {
  test('text: strings as they are, numbers as digits, anything else empty', () => {
    expect(text('v2')).toBe('v2');
    expect(text(7)).toBe('7');
    expect([null, undefined, true, {}, ['v2']].map(text)).toEqual(['', '', '', '', '']);
  });

  test('stringList keeps the non-empty strings of a list; not a list is undefined', () => {
    expect(stringList(['a', '', 3, null, 'b', { h: 1 }])).toEqual(['a', 'b']);
    expect(stringList('a,b')).toBeUndefined();
    expect(stringList({ 0: 'a' })).toBeUndefined();
  });

  test('shown quotes a value as JSON, cut short', () => {
    expect(shown('x')).toBe('"x"');
    expect(shown(undefined)).toBe('undefined');
    expect(shown('y'.repeat(10_000))).toHaveLength(81);
  });

  test('a list of notes keeps the first ones and counts the rest', () => {
    const notes = new NoteList();
    for (let i = 0; i < 100_000; i++) notes.add(`entry ${i} is bad`);
    const list = notes.list();
    expect(list).toHaveLength(MAX_NOTES + 1);
    expect(list[0]).toBe('entry 0 is bad');
    expect(list[MAX_NOTES]).toBe(`… and ${100_000 - MAX_NOTES} more`);
    expect(new NoteList().list()).toEqual([]);
  });
});

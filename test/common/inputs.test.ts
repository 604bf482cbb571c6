// The pure input parsers every action uses; errors name the input at fault.
import {
  InputError,
  hostId,
  objectInputs,
  optional,
  parseBool,
  parseCount,
  parseDuration,
  parseHostSpec,
  parseInteger,
  parseList,
  required,
  resolveCount,
} from '../../src/common/inputs.js';

const defaults = { user: 'deploy', port: 22 };

describe('parseHostSpec', () => {
  test.each([
    ['web1', { user: 'deploy', host: 'web1', port: 22 }],
    ['ops@web1.example.com:2222', { user: 'ops', host: 'web1.example.com', port: 2222 }],
    ['10.0.0.5:2200', { user: 'deploy', host: '10.0.0.5', port: 2200 }],
    ['  root@10.0.0.5  ', { user: 'root', host: '10.0.0.5', port: 22 }],
    ['[::1]:2222', { user: 'deploy', host: '::1', port: 2222 }],
    ['ci@[2001:db8::1]', { user: 'ci', host: '2001:db8::1', port: 22 }],
    ['[::ffff:127.0.0.1]:22', { user: 'deploy', host: '::ffff:127.0.0.1', port: 22 }],
    ['web-1.internal.', { user: 'deploy', host: 'web-1.internal.', port: 22 }],
  ])('%j', (text, expected) => {
    expect(parseHostSpec('hosts', text, defaults)).toEqual(expected);
  });

  test.each([
    '',
    'a@@b',
    'web1:',
    'web1:0',
    'web1:65536',
    'web1:22:23',
    '::1',
    '[::1',
    '[web1]:22',
    'web 1',
    'web1;id',
    'web1$(id)',
    '-oProxyCommand=id',
    'bad user@web1',
    'us;er@web1',
    '-x@web1',
    'web_1',
    '-web1',
  ])('%j is an InputError naming the input', (text) => {
    expect(() => parseHostSpec('jump-host', text, defaults)).toThrow(InputError);
    expect(() => parseHostSpec('jump-host', text, defaults)).toThrow(/^input 'jump-host': /);
  });

  test('hostId: host:port, IPv6 in brackets, never the user', () => {
    expect(hostId(parseHostSpec('hosts', 'ops@web1:2222', defaults))).toBe('web1:2222');
    expect(hostId(parseHostSpec('hosts', 'ops@[2001:db8::1]:2222', defaults))).toBe('[2001:db8::1]:2222');
  });
});

describe('parseDuration', () => {
  test.each([
    ['90', 90_000],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['1.5s', 1500],
    [' 2 m ', 120_000],
    ['0', 0],
  ])('%j → %i ms', (text, ms) => {
    expect(parseDuration('wave-wait', text)).toBe(ms);
  });

  test.each(['5x', '', 'm', '1 minute', '-1s', '1h30m', 's5'])('%j is an InputError naming the input', (text) => {
    expect(() => parseDuration('wave-wait', text)).toThrow(/^input 'wave-wait': '.*' is not a duration/);
  });
});

describe('parseCount and resolveCount', () => {
  test('N and N%', () => {
    expect(parseCount('max-failures', '0')).toEqual({ kind: 'count', value: 0 });
    expect(parseCount('max-failures', ' 3 ')).toEqual({ kind: 'count', value: 3 });
    expect(parseCount('max-failures', '12.5%')).toEqual({ kind: 'percent', value: 12.5 });
    for (const bad of ['', 'x', '-1', '1.5', '0%', '101%', '%', '5 %%'])
      expect(() => parseCount('max-failures', bad)).toThrow(/^input 'max-failures': /);
  });

  test('a percent is of the total, rounded up, at least the minimum', () => {
    expect(resolveCount({ kind: 'percent', value: 25 }, 5)).toBe(2);
    expect(resolveCount({ kind: 'percent', value: 10 }, 3)).toBe(1);
    expect(resolveCount({ kind: 'percent', value: 1 }, 200)).toBe(2);
    expect(resolveCount({ kind: 'percent', value: 100 }, 7)).toBe(7);
    expect(resolveCount({ kind: 'percent', value: 10 }, 0)).toBe(1);
    expect(resolveCount({ kind: 'percent', value: 10 }, 0, 0)).toBe(0);
    expect(resolveCount({ kind: 'count', value: 4 }, 2)).toBe(4);
  });
});

describe('parseList', () => {
  test('one item a line, commas too, blank lines and # comments ignored', () => {
    expect(parseList('a\n\n  b, c ,\n# all of this\nd # trailing comment\r\ne#f')).toEqual(['a', 'b', 'c', 'd', 'e#f']);
    expect(parseList('x, y', { commas: false })).toEqual(['x, y']);
    expect(parseList('')).toEqual([]);
  });
});

describe('other parsers', () => {
  test('parseBool', () => {
    expect(['true', 'YES', 'on', '1'].map((v) => parseBool('dry-run', v, false))).toEqual([true, true, true, true]);
    expect(['false', 'No', 'off', '0'].map((v) => parseBool('dry-run', v, true))).toEqual([false, false, false, false]);
    expect(parseBool('dry-run', ' ', true)).toBe(true);
    expect(() => parseBool('dry-run', 'maybe', false)).toThrow("input 'dry-run': expected true or false, got 'maybe'");
  });

  test('parseInteger with bounds', () => {
    expect(parseInteger('keep-releases', ' 5 ', { min: 1 })).toBe(5);
    expect(() => parseInteger('keep-releases', '0', { min: 1 })).toThrow(
      "input 'keep-releases': must be at least 1, got 0",
    );
    expect(() => parseInteger('port', '70000', { max: 65535 })).toThrow(
      "input 'port': must be at most 65535, got 70000",
    );
    expect(() => parseInteger('port', '22x')).toThrow("input 'port': '22x' is not a whole number");
  });

  test('objectInputs, required, optional', () => {
    const source = objectInputs({ a: '  x  ', n: 3, b: true, empty: '' });
    expect([source('a'), source('n'), source('b'), source('missing')]).toEqual(['x', '3', 'true', '']);
    expect(required(source, 'a')).toBe('x');
    expect(() => required(source, 'empty')).toThrow("input 'empty': is required");
    expect(optional(source, 'missing', 'fallback')).toBe('fallback');
    const err = (() => {
      try {
        required(source, 'missing');
      } catch (e) {
        return e as InputError;
      }
    })();
    expect(err).toMatchObject({ name: 'InputError', input: 'missing' });
  });
});

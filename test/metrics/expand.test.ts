// `{host}` lands in URLs and PromQL as data: escaped for the string it stands in, refused outside one.
import { describe, expect, test } from '@jest/globals';
import {
  expandPromQL,
  expandUrl,
  hostOutsideString,
  promqlString,
  regexLiteral,
} from '../../src/metrics/sources/expand.js';
import { QueryError } from '../../src/metrics/sources/types.js';

const HOSTILE = 'web1"} or vector(0) or up{job="x';

describe('PromQL string escaping', () => {
  test('backslash, the quote and line breaks are escaped per PromQL (Go) string rules', () => {
    expect(promqlString(HOSTILE)).toBe('web1\\"} or vector(0) or up{job=\\"x');
    expect(promqlString('a\\b"c\nd\re')).toBe('a\\\\b\\"c\\nd\\re');
    expect(promqlString(`it's "x"`, "'")).toBe(`it\\'s "x"`);
    expect(promqlString('web1.example.com:9100')).toBe('web1.example.com:9100');
  });

  test('a regex matcher gets the host matched literally', () => {
    expect(regexLiteral('[::1]:9100')).toBe('\\[::1\\]:9100');
    expect(regexLiteral('web1.example.com')).toBe('web1\\.example\\.com');
  });

  test('{host} in a label value is escaped for the string it stands in', () => {
    expect(expandPromQL('up{instance="{host}"}', HOSTILE)).toBe('up{instance="web1\\"} or vector(0) or up{job=\\"x"}');
    expect(expandPromQL("up{instance='{host}'}", "a'b")).toBe("up{instance='a\\'b'}");
    expect(expandPromQL('sum(rate(x{instance=~"{host}:.*"}[1m]))', 'web1.example.com')).toBe(
      'sum(rate(x{instance=~"web1\\\\.example\\\\.com:.*"}[1m]))',
    );
    expect(expandPromQL('up{instance!~ "{host}"}', '[::1]:9100')).toBe('up{instance!~ "\\\\[::1\\\\]:9100"}');
    expect(expandPromQL('up{instance=`{host}`}', '[::1]:9100')).toBe('up{instance=`[::1]:9100`}');
    expect(expandPromQL('up{instance=~`{host}`}', '[::1]:9100')).toBe('up{instance=~`\\[::1\\]:9100`}');
    expect(expandPromQL('up{instance="127.0.0.1:9100"} # {host}\n', 'a\nb')).toBe(
      'up{instance="127.0.0.1:9100"} # a b\n',
    );
    // A quote escaped inside the string does not end it.
    expect(expandPromQL('up{a="x\\"{host}"}', 'h"')).toBe('up{a="x\\"h\\""}');
    expect(expandPromQL('sum(up)', HOSTILE)).toBe('sum(up)');
  });

  test('{host} outside a string literal is refused: there a host would be query syntax', () => {
    expect(hostOutsideString('shop_users_{host}')).toBe(true);
    expect(hostOutsideString('up{instance="{host}"} # {host}')).toBe(false);
    expect(() => expandPromQL('shop_users_{host}', 'web1')).toThrow(QueryError);
    expect(() => expandPromQL('shop_users_{host}', 'web1')).toThrow(/\{host\} stands outside a quoted string/);
    expect(() => expandPromQL('up{instance=`{host}`}', 'a`b')).toThrow(/raw/);
  });
});

describe('URLs', () => {
  test('{host} as written in the authority (IPv6 in brackets), percent-encoded in the path and query', () => {
    expect(expandUrl('http://{host}:9100/metrics', 'web1')).toBe('http://web1:9100/metrics');
    expect(expandUrl('http://{host}/metrics', '127.0.0.1:9101')).toBe('http://127.0.0.1:9101/metrics');
    expect(expandUrl('http://{host}:9100/metrics', '::1')).toBe('http://[::1]:9100/metrics');
    expect(expandUrl('http://{host}/metrics', '[::1]:9100')).toBe('http://[::1]:9100/metrics');
    expect(expandUrl('http://agg.internal/hosts/{host}/stats?h={host}#{host}', '[::1]:9100')).toBe(
      'http://agg.internal/hosts/%5B::1%5D:9100/stats?h=%5B::1%5D:9100#%5B::1%5D:9100',
    );
    expect(expandUrl('http://agg/x?host={host}', 'a&b=c#d/e')).toBe('http://agg/x?host=a%26b%3Dc%23d%2Fe');
    expect(expandUrl('http://agg/x', 'web1')).toBe('http://agg/x');
  });
});

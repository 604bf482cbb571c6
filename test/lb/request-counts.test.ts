// Requests per host and the shares of a window, pure parts. The fixtures are real `show stat app 4 -1`
// output of this machine's haproxy 2.6.12 (captured by hand, byte for byte):
// - http: `mode http`, s0 up, s1's port closed; 10 requests: s0 served 5, s1 was picked 5 times and
//   each one tried 4 times (3 retries), so s1 has stot 20 but req_tot 0 (why req_tot, not stot).
// - tcp: `mode tcp`, 50 keep-alive requests on one connection: stot 1, req_tot empty.
import { readFileSync } from 'node:fs';
import { parseRequests, parseSessions } from '../../src/lb/haproxy.js';
import { LoadBalancerError, sharesBetween, perHost, type LbServer, type RequestCounts } from '../../src/lb/index.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

test('req_tot per server from real show stat (mode http): the retried dead server counts 0, not its stot 20', () => {
  const csv = fixture('haproxy-2.6-show-stat-http.csv');
  expect(parseRequests(csv, 'app')).toEqual(
    new Map([
      ['s0', 5],
      ['s1', 0],
    ]),
  );
  // The stot column of the same output, to show what counting sessions would have said.
  expect(csv.split('\n')[2].split(',').slice(0, 8).join(',')).toBe('app,s1,0,0,0,1,,20');
  expect(parseSessions(csv, 'app')).toEqual(
    new Map([
      ['s0', 0],
      ['s1', 0],
    ]),
  );
  expect(parseRequests(csv, 'other')).toEqual(new Map());
});

test('mode tcp has no req_tot: an error naming the server, not a share of connections', () => {
  const csv = fixture('haproxy-2.6-show-stat-tcp.csv');
  expect(() => parseRequests(csv, 'app')).toThrow(
    new LoadBalancerError(
      "haproxy counts no HTTP requests for server app/s0 (req_tot ''): the backend must be in mode http",
    ),
  );
  expect(() => parseRequests("Unknown command: 'show stat'\n", 'app')).toThrow(/unexpected 'show stat' output/);
});

test('counts are taken per host from its server', () => {
  const s = (name: string): LbServer => ({ name, address: '10.0.0.1', port: 8080, weight: 1, state: 'ready' });
  const byHost = new Map([
    ['10.0.0.1:22', s('a')],
    ['10.0.0.2:22', s('c')],
  ]);
  const n: Record<string, number> = { a: 3, b: 4, c: 10 };
  expect(perHost(byHost, (x) => n[x.name])).toEqual({ '10.0.0.1:22': 3, '10.0.0.2:22': 10 });
});

test('shares between two measured readings: the growth of each host over the total growth', () => {
  const before: RequestCounts = { measured: true, byHost: { a: 100, b: 50, c: 7 } };
  const after: RequestCounts = { measured: true, byHost: { a: 190, b: 140, c: 27 } };
  expect(sharesBetween(before, after)).toEqual({ measured: true, total: 200, share: { a: 0.45, b: 0.45, c: 0.1 } });
  // A host missing from the first reading counts from 0; the hosts are the second reading's.
  expect(
    sharesBetween({ measured: true, byHost: { a: 1, gone: 9 } }, { measured: true, byHost: { a: 4, b: 1 } }),
  ).toEqual({ measured: true, total: 4, share: { a: 0.75, b: 0.25 } });
});

test('no request in the window, or a counter that went backwards (haproxy restarted): null', () => {
  const r: RequestCounts = { measured: true, byHost: { a: 5, b: 5 } };
  expect(sharesBetween(r, r)).toBeNull();
  expect(sharesBetween(r, { measured: true, byHost: { a: 2, b: 90 } })).toBeNull();
  expect(sharesBetween({ measured: true, byHost: {} }, { measured: true, byHost: {} })).toBeNull();
});

test('configured readings (nginx): the weights in rotation as shares, marked not measured', () => {
  const weights: RequestCounts = { measured: false, byHost: { a: 9, b: 9, c: 2, d: 0 } };
  expect(sharesBetween(weights, weights)).toEqual({
    measured: false,
    total: 20,
    share: { a: 0.45, b: 0.45, c: 0.1, d: 0 },
  });
  expect(sharesBetween(weights, { measured: false, byHost: { a: 0, b: 0 } })).toBeNull();
  expect(() => sharesBetween(weights, { measured: true, byHost: { a: 1 } })).toThrow(LoadBalancerError);
});

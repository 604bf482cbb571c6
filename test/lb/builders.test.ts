// The balancer's pure parts: runtime-API lines and commands (exact strings), parsers, matching, weights, inputs.
import { InputError, objectInputs } from '../../src/common/inputs.js';
import {
  parseServersState,
  parseSessions,
  runtimeCommand,
  setStateLine,
  setWeightLine,
  showServersStateLine,
  showStatLine,
} from '../../src/lb/haproxy.js';
import {
  appPorts,
  canaryWeights,
  computeSplit,
  matchServers,
  parseLbServers,
  parseShare,
  readRolloutLbSettings,
  LoadBalancerError,
  type LbServer,
} from '../../src/lb/index.js';
import { parseUpstream, rewriteUpstream, upstreamFor, workersCommand } from '../../src/lb/nginx.js';

const STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 app 1 s1 127.1.2.1 2 0 100 100 0 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0
3 app 2 s2 127.1.2.2 2 8 5 1 0 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0
3 app 3 s3 127.1.2.3 2 1 1 1 0 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0
`;

test('haproxy runtime API lines', () => {
  expect(setStateLine('app', 's1', 'drain')).toBe('set server app/s1 state drain');
  expect(setWeightLine('app', 's1', 42)).toBe('set server app/s1 weight 42');
  expect(showServersStateLine('app')).toBe('show servers state app');
  expect(showStatLine('app')).toBe('show stat app 4 -1');
  expect(() => setWeightLine('app', 's1', 257)).toThrow(LoadBalancerError);
  expect(() => setStateLine('app;shutdown', 's1', 'ready')).toThrow(LoadBalancerError);
  expect(() => setStateLine('app', "s'1", 'ready')).toThrow(LoadBalancerError);
});

test('haproxy request command: socat, else nc -U, lines joined by ;', () => {
  expect(runtimeCommand('/run/haproxy/admin.sock', ['set server app/s1 state drain', 'show stat app 4 -1'])).toBe(
    [
      'if command -v socat >/dev/null 2>&1; then',
      "  printf '%s\\n' 'set server app/s1 state drain; show stat app 4 -1' | socat -t 10 stdio UNIX-CONNECT:/run/haproxy/admin.sock",
      'elif command -v nc >/dev/null 2>&1; then',
      "  printf '%s\\n' 'set server app/s1 state drain; show stat app 4 -1' | nc -U /run/haproxy/admin.sock",
      'else',
      "  echo 'fivestep: neither socat nor nc is installed on the balancer host' >&2; exit 127",
      'fi',
    ].join('\n'),
  );
  expect(() => runtimeCommand('/tmp/a b.sock', ['show info'])).toThrow(LoadBalancerError);
  expect(() => runtimeCommand('/tmp/a.sock', ["show info'; rm -rf /"])).toThrow(LoadBalancerError);
});

test('parse show servers state: weights, ready/drain/maint, config weight', () => {
  expect(parseServersState(STATE, 'app')).toEqual([
    { name: 's1', address: '127.1.2.1', port: 8080, weight: 100, state: 'ready', configWeight: 100 },
    { name: 's2', address: '127.1.2.2', port: 8080, weight: 5, state: 'drain', configWeight: 1 },
    { name: 's3', address: '127.1.2.3', port: 8080, weight: 1, state: 'maint', configWeight: 1 },
  ]);
  expect(() => parseServersState("Can't find backend.\n", 'nope')).toThrow(/no backend 'nope'/);
});

test('parse show stat: current sessions per server', () => {
  const csv = '# pxname,svname,qcur,qmax,scur,smax\napp,s1,0,0,3,9\napp,s2,0,0,0,1\napp,BACKEND,0,0,3,9\n';
  expect(parseSessions(csv, 'app')).toEqual(
    new Map([
      ['s1', 3],
      ['s2', 0],
    ]),
  );
});

const server = (name: string, address: string, weight = 1): LbServer => ({
  name,
  address,
  port: 8080,
  weight,
  state: 'ready',
});

const d = (host: string, port = 22) => ({ user: 'd', host, port });
const at = (name: string, address: string, port: number): LbServer => ({
  name,
  address,
  port,
  weight: 1,
  state: 'ready',
});
const matched = (m: Map<string, LbServer>) => Object.fromEntries([...m].map(([h, s]) => [h, s.name]));

test('hosts are matched to servers by address (or haproxy name), one server each', () => {
  const servers = [server('a', '10.0.0.1'), server('web3', '10.0.0.3')];
  expect(matched(matchServers([d('10.0.0.1'), d('web3')], servers, 'app'))).toEqual({
    '10.0.0.1:22': 'a',
    'web3:22': 'web3',
  });
  expect(() => matchServers([d('10.0.0.9'), d('10.0.0.8', 2222)], servers, 'app')).toThrow(
    /no server of 'app' has the address 10\.0\.0\.9; 10\.0\.0\.8:2222: no server of 'app' has the address 10\.0\.0\.8\..*nothing was changed/,
  );
});

test('hosts on one address: matched by address and port, never all four to every server', () => {
  // The fault: hosts named by one address and distinct ports, every server on that address: matching by
  // address alone gave each host all four servers, so draining one drained them all.
  const servers = [8001, 8002, 8003, 8004].map((p, i) => at(`s${i}`, '127.0.0.1', p));
  expect(
    matched(
      matchServers(
        [8001, 8002, 8003, 8004].map((p) => d('127.0.0.1', p)),
        servers,
        'app',
      ),
    ),
  ).toEqual({
    '127.0.0.1:8001': 's0',
    '127.0.0.1:8002': 's1',
    '127.0.0.1:8003': 's2',
    '127.0.0.1:8004': 's3',
  });
  // SSH ports that are not the apps' ports: an input error naming lb-servers, before anything changes.
  const err = (() => {
    try {
      matchServers([d('127.0.0.1', 2201), d('127.0.0.1', 2202)], servers, 'app');
    } catch (e) {
      return e as InputError;
    }
  })();
  expect(err).toBeInstanceOf(InputError);
  expect(err!.input).toBe('lb-servers');
  expect(err!.message).toContain(
    "127.0.0.1:2201: 4 servers of 'app' have the address 127.0.0.1 (s0 (127.0.0.1:8001), s1 (127.0.0.1:8002), s2 (127.0.0.1:8003), s3 (127.0.0.1:8004)) and none has port 2201",
  );
  expect(err!.message).toContain(
    "Name each host's server in lb-servers (`host[:port]=server`, one a line); nothing was changed",
  );
});

test('lb-servers names each host its server, Unix sockets included; one host per server', () => {
  const servers = [
    at('unix:/run/web1.sock', 'unix:/run/web1.sock', 0),
    at('unix:/run/web2.sock', 'unix:/run/web2.sock', 0),
  ];
  const named = new Map([
    ['127.0.0.1:2201', 'unix:/run/web1.sock'],
    ['127.0.0.1:2202', 'unix:/run/web2.sock'],
  ]);
  expect(matched(matchServers([d('127.0.0.1', 2201), d('127.0.0.1', 2202)], servers, 'app', named))).toEqual({
    '127.0.0.1:2201': 'unix:/run/web1.sock',
    '127.0.0.1:2202': 'unix:/run/web2.sock',
  });
  // Two hosts, one server: refused.
  expect(() =>
    matchServers(
      [d('127.0.0.1', 2201), d('127.0.0.1', 2202)],
      servers,
      'app',
      new Map([...named, ['127.0.0.1:2202', 'unix:/run/web1.sock']]),
    ),
  ).toThrow(
    /127\.0\.0\.1:2201 and 127\.0\.0\.1:2202 are all matched to server unix:\/run\/web1\.sock: one host per server/,
  );
  // A server the balancer does not have, and a host that is not in hosts.
  expect(() =>
    matchServers(
      [d('127.0.0.1', 2201)],
      servers,
      'app',
      new Map([
        ['127.0.0.1:2201', 'unix:/run/nope.sock'],
        ['10.9.9.9:22', 'x'],
      ]),
    ),
  ).toThrow(
    /10\.9\.9\.9:22 is named in lb-servers but is not one of the hosts; 127\.0\.0\.1:2201: 'app' has no server unix:\/run\/nope\.sock/,
  );
});

test('lb-servers input: host[:port]=server lines, the port defaulting to `port`; bad names refused', () => {
  const defaults = { user: 'deploy', port: 22 };
  expect([
    ...parseLbServers('web1=unix:/run/web1.sock\n127.0.0.1:2202 = 127.0.0.1:8002\n# note\n', 'nginx', defaults),
  ]).toEqual([
    ['web1:22', 'unix:/run/web1.sock'],
    ['127.0.0.1:2202', '127.0.0.1:8002'],
  ]);
  expect([...parseLbServers('web1=s1', 'haproxy', defaults)]).toEqual([['web1:22', 's1']]);
  expect(() => parseLbServers('web1=unix:/run/a.sock', 'haproxy', defaults)).toThrow(
    "input 'lb-servers': 'unix:/run/a.sock' is not a haproxy server name",
  );
  expect(() => parseLbServers("web1=a'; reboot", 'nginx', defaults)).toThrow(/is not an nginx server address/);
  expect(() => parseLbServers('web1', 'nginx', defaults)).toThrow(
    "input 'lb-servers': 'web1' is not host[:port]=server",
  );
  expect(() => parseLbServers('web1=a:1\nweb1:22=b:1', 'nginx', defaults)).toThrow('web1:22 is named twice');
  expect(() => readRolloutLbSettings(objectInputs({ 'lb-servers': 'web1=s1' }))).toThrow(
    "input 'lb-servers': is set but load-balancer is empty",
  );
  expect(() => readRolloutLbSettings(objectInputs({ 'health-url': 'http://{host}:{port}/' }))).toThrow(
    /input 'health-url': uses \{port\}.*load-balancer is empty/,
  );
});

test('{port} needs a balancer server with a port: a Unix-socket server is an input error naming the host', () => {
  const lb = {
    serverOf: (h: string) =>
      h === 'a:22' ? at('s1', '10.0.0.1', 8080) : at('unix:/run/b.sock', 'unix:/run/b.sock', 0),
  };
  expect(appPorts(lb, [d('a')])).toEqual(new Map([['a:22', 8080]]));
  expect(() => appPorts(lb, [d('a'), d('b')])).toThrow(
    "input 'health-url': uses {port}, but the balancer server of b:22 (unix:/run/b.sock) has no port (a Unix socket): check those hosts with health-command",
  );
});

test('nginx upstreams of Unix sockets parse, rewrite and keep their other parameters', () => {
  const text = 'upstream app {\n  server unix:/run/web1.sock max_fails=0;\n  server unix:/run/web2.sock weight=3;\n}\n';
  expect(parseUpstream(text, 'app')).toEqual([
    { name: 'unix:/run/web1.sock', address: 'unix:/run/web1.sock', port: 0, weight: 1, state: 'ready' },
    { name: 'unix:/run/web2.sock', address: 'unix:/run/web2.sock', port: 0, weight: 3, state: 'ready' },
  ]);
  expect(rewriteUpstream(text, 'app', new Map([['unix:/run/web1.sock', { weight: 1, down: true }]]))).toBe(
    'upstream app {\n  server unix:/run/web1.sock max_fails=0 down;\n  server unix:/run/web2.sock weight=3;\n}\n',
  );
});

test('canary weights give the canary its share; the rest keep their ratios', () => {
  const servers = [server('c', '1'), server('x', '2'), server('y', '3'), server('z', '4', 2)];
  const w = canaryWeights(servers, new Set(['c']), 0.1, 256);
  expect(Object.fromEntries(w)).toEqual({ x: 128, y: 128, z: 256, c: 57 });
  const byHost = new Map(servers.map((s) => [s.address, s]));
  expect(computeSplit('canary', byHost, (s) => w.get(s.name)!).share['1']).toBeCloseTo(10, 0);
  expect(computeSplit('x', byHost, (s) => s.weight).share).toEqual({ '1': 20, '2': 20, '3': 20, '4': 40 });
});

test('nginx upstream: parse and rewrite weight= and down, everything else untouched', () => {
  const text = [
    '# managed',
    'upstream other {',
    '  server 10.0.0.9:80;',
    '}',
    'upstream app {',
    '    server 10.0.0.1:8080 max_fails=3; # web1',
    '    server 10.0.0.2:8080 weight=5 down;',
    '    keepalive 8;',
    '}',
    '',
  ].join('\n');
  expect(parseUpstream(text, 'app')).toEqual([
    { name: '10.0.0.1:8080', address: '10.0.0.1', port: 8080, weight: 1, state: 'ready' },
    { name: '10.0.0.2:8080', address: '10.0.0.2', port: 8080, weight: 5, state: 'maint' },
  ]);
  const out = rewriteUpstream(
    text,
    'app',
    new Map([
      ['10.0.0.1:8080', { weight: 9, down: true }],
      ['10.0.0.2:8080', { weight: 1, down: false }],
    ]),
  );
  expect(out).toBe(
    [
      '# managed',
      'upstream other {',
      '  server 10.0.0.9:80;',
      '}',
      'upstream app {',
      '    server 10.0.0.1:8080 weight=9 max_fails=3 down; # web1',
      '    server 10.0.0.2:8080;',
      '    keepalive 8;',
      '}',
      '',
    ].join('\n'),
  );
  expect(parseUpstream('server 10.0.0.1:8080;\nserver web2;\n', 'app').map((s) => `${s.address}:${s.port}`)).toEqual([
    '10.0.0.1:8080',
    'web2:80',
  ]);
  expect(() => parseUpstream(text, 'missing')).toThrow(/no 'upstream missing \{' block/);
  expect(workersCommand(42)).toBe(`ps -eo pid=,ppid=,args= | awk '$2 == 42 { $2 = ""; print }'`);
});

test('nginx upstream file for a change: as captured byte for byte when every server is as captured', () => {
  const file = (first: string) => `upstream app {\n  server ${first};\n  server 10.0.0.2:8080;\n}\n`;
  const text = file('10.0.0.1:8080   weight=1');
  const captured = parseUpstream(text, 'app');
  /** The captured servers, the first one changed as given. */
  const next = (changed: Partial<LbServer>) =>
    new Map(captured.map((s, i) => [s.name, { ...s, ...(i === 0 ? changed : {}) }]));
  expect(upstreamFor(text, 'app', captured, next({}))).toBe(text);
  // nginx has no weight below 1: weight 0 in rotation is weight 1, as captured.
  expect(upstreamFor(text, 'app', captured, next({ state: 'ready', weight: 0 }))).toBe(text);
  expect(upstreamFor(text, 'app', captured, next({ state: 'drain' }))).toBe(file('10.0.0.1:8080 down'));
  expect(upstreamFor(text, 'app', captured, next({ weight: 7 }))).toBe(file('10.0.0.1:8080 weight=7'));
});

test('inputs: load-balancer settings, canary-weight, drain defaults', () => {
  const base = { 'load-balancer': 'haproxy', 'lb-host': 'lb.example.com', 'lb-backend': 'app' };
  expect(readRolloutLbSettings(objectInputs(base))).toEqual({
    kind: 'haproxy',
    host: { user: 'deploy', host: 'lb.example.com', port: 22 },
    backend: 'app',
    socket: '/run/haproxy/admin.sock',
    upstreamFile: '',
    servers: new Map(),
    canaryShare: null,
    drain: true,
    drainTimeoutMs: 30_000,
  });
  expect(readRolloutLbSettings(objectInputs({}))).toBeNull();
  expect(
    readRolloutLbSettings(objectInputs({ ...base, 'canary-weight': '5%', drain: 'false', 'drain-timeout': '5s' })),
  ).toMatchObject({ canaryShare: 0.05, drain: false, drainTimeoutMs: 5000 });
  expect(parseShare('canary-weight', '10')).toBe(0.1);
  expect(() => parseShare('canary-weight', '100%')).toThrow(InputError);
  expect(() => readRolloutLbSettings(objectInputs({ 'lb-host': 'x' }))).toThrow(/lb-host.*load-balancer is empty/);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'load-balancer': 'nginx' }))).toThrow(/lb-upstream-file/);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'lb-socket': 'relative.sock' }))).toThrow(InputError);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'lb-backend': 'a b' }))).toThrow(/lb-backend/);
});

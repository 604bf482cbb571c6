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
import { canaryWeights, computeSplit, matchServers, parseShare, readRolloutLbSettings, LoadBalancerError, type LbServer } from '../../src/lb/index.js';
import { parseUpstream, rewriteUpstream, workersCommand } from '../../src/lb/nginx.js';

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
  expect(parseSessions(csv, 'app')).toEqual(new Map([['s1', 3], ['s2', 0]]));
});

const server = (name: string, address: string, weight = 1): LbServer => ({ name, address, port: 8080, weight, state: 'ready' });

test('hosts are matched to servers by address (or server name); an unknown host names every missing one', () => {
  const servers = [server('a', '10.0.0.1'), server('b', '10.0.0.1'), server('web3', '10.0.0.3')];
  const m = matchServers(
    [
      { user: 'd', host: '10.0.0.1', port: 22 },
      { user: 'd', host: 'web3', port: 22 },
    ],
    servers,
    'app',
  );
  expect([...m].map(([h, s]) => [h, s.map((x) => x.name)])).toEqual([
    ['10.0.0.1:22', ['a', 'b']],
    ['web3:22', ['web3']],
  ]);
  expect(() => matchServers([{ user: 'd', host: '10.0.0.9', port: 22 }, { user: 'd', host: '10.0.0.8', port: 2222 }], servers, 'app')).toThrow(
    /does not know 10\.0\.0\.9:22, 10\.0\.0\.8:2222 in 'app'/,
  );
});

test('canary weights give the canary its share; the rest keep their ratios', () => {
  const servers = [server('c', '1'), server('x', '2'), server('y', '3'), server('z', '4', 2)];
  const w = canaryWeights(servers, new Set(['c']), 0.1, 256);
  expect(Object.fromEntries(w)).toEqual({ x: 128, y: 128, z: 256, c: 57 });
  const byHost = new Map(servers.map((s) => [s.address, [s]]));
  expect(computeSplit('canary', byHost, (s) => w.get(s.name)!).share['1']).toBeCloseTo(10, 0);
  expect(computeSplit('x', byHost, (s) => s.weight).share).toEqual({ '1': 20, '2': 20, '3': 20, '4': 40 });
});

test('nginx upstream: parse and rewrite weight= and down, everything else untouched', () => {
  const text = ['# managed', 'upstream other {', '  server 10.0.0.9:80;', '}', 'upstream app {', '    server 10.0.0.1:8080 max_fails=3; # web1', '    server 10.0.0.2:8080 weight=5 down;', '    keepalive 8;', '}', ''].join('\n');
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
  expect(out).toBe(['# managed', 'upstream other {', '  server 10.0.0.9:80;', '}', 'upstream app {', '    server 10.0.0.1:8080 weight=9 max_fails=3 down; # web1', '    server 10.0.0.2:8080;', '    keepalive 8;', '}', ''].join('\n'));
  expect(parseUpstream('server 10.0.0.1:8080;\nserver web2;\n', 'app').map((s) => `${s.address}:${s.port}`)).toEqual(['10.0.0.1:8080', 'web2:80']);
  expect(() => parseUpstream(text, 'missing')).toThrow(/no 'upstream missing \{' block/);
  expect(workersCommand(42)).toBe("ps -eo pid=,ppid= | awk '$2 == 42 { print $1 }'");
});

test('inputs: load-balancer settings, canary-weight, drain defaults', () => {
  const base = { 'load-balancer': 'haproxy', 'lb-host': 'lb.example.com', 'lb-backend': 'app' };
  expect(readRolloutLbSettings(objectInputs(base))).toEqual({
    kind: 'haproxy',
    host: { user: 'deploy', host: 'lb.example.com', port: 22 },
    backend: 'app',
    socket: '/run/haproxy/admin.sock',
    upstreamFile: '',
    canaryShare: null,
    drain: true,
    drainTimeoutMs: 30_000,
  });
  expect(readRolloutLbSettings(objectInputs({}))).toBeNull();
  expect(readRolloutLbSettings(objectInputs({ ...base, 'canary-weight': '5%', drain: 'false', 'drain-timeout': '5s' }))).toMatchObject({ canaryShare: 0.05, drain: false, drainTimeoutMs: 5000 });
  expect(parseShare('canary-weight', '10')).toBe(0.1);
  expect(() => parseShare('canary-weight', '100%')).toThrow(InputError);
  expect(() => readRolloutLbSettings(objectInputs({ 'lb-host': 'x' }))).toThrow(/lb-host.*load-balancer is empty/);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'load-balancer': 'nginx' }))).toThrow(/lb-upstream-file/);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'lb-socket': 'relative.sock' }))).toThrow(InputError);
  expect(() => readRolloutLbSettings(objectInputs({ ...base, 'lb-backend': 'a b' }))).toThrow(/lb-backend/);
});

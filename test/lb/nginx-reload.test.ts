// nginx acts on a reload signal later than `nginx -s reload` returns. Against a master that takes its
// time (a fake one: the commands answer as the real ones would), a change is done only once the master has
// acted, so a drain right after another one still waits for every worker that served the host.
import { createNginx, parseWorkers, workersCommand } from '../../src/lb/nginx.js';
import type { ExecResult } from '../../src/ssh/types.js';

const FILE = '/etc/nginx/conf.d/app-upstream.conf';
const UPSTREAM = 'upstream app {\n  server 10.0.0.1:8080;\n  server 10.0.0.2:8080;\n  server 10.0.0.3:8080;\n}\n';

/** A master (pid 10) with one worker; each reload is acted on only after `lag` worker lists. */
function slowMaster(lag: number) {
  let next = 100;
  let workers: { pid: number; retiring: boolean; exitsIn: number }[] = [{ pid: next++, retiring: false, exitsIn: 0 }];
  const pending: number[] = [];
  const log: string[] = [];
  const tick = () => {
    // A pending reload is acted on: the serving workers retire, a new one starts.
    if (pending.length && --pending[0] <= 0) {
      pending.shift();
      for (const w of workers) if (!w.retiring) Object.assign(w, { retiring: true, exitsIn: 3 });
      workers.push({ pid: next++, retiring: false, exitsIn: 0 });
    }
    workers = workers.filter((w) => !w.retiring || --w.exitsIn > 0);
  };
  const ok = (stdout: string): ExecResult => ({ code: 0, stdout, stderr: '' });
  const exec = async (command: string): Promise<ExecResult> => {
    if (command.startsWith('cat ')) return ok(UPSTREAM);
    if (command.includes('nginx: master process')) return ok('10 /etc/nginx/nginx.conf\n');
    if (command === workersCommand(10)) {
      tick();
      const lines = workers.map((w) => `${w.pid}  nginx: worker process${w.retiring ? ' is shutting down' : ''}`);
      return ok(`${lines.join('\n')}\n`);
    }
    if (command.includes('-s reload')) {
      pending.push(lag);
      log.push(`reload (serving: ${workers.filter((w) => !w.retiring).map((w) => w.pid)})`);
      return ok('');
    }
    throw new Error(`unexpected command: ${command}`);
  };
  return { exec, log, serving: () => workers.filter((w) => !w.retiring).map((w) => w.pid), all: () => workers };
}

const hosts = ['10.0.0.1:22', '10.0.0.2:22', '10.0.0.3:22'].map((h) => {
  const [host, port] = h.split(':');
  return { user: 'deploy', host, port: Number(port) };
});

test('the worker list names the workers a reload has retired', () => {
  expect(workersCommand(42)).toBe(`ps -eo pid=,ppid=,args= | awk '$2 == 42 { $2 = ""; print }'`);
  expect(parseWorkers('101  nginx: worker process\n100  nginx: worker process is shutting down\n')).toEqual([
    { pid: 101, retiring: false },
    { pid: 100, retiring: true },
  ]);
});

test('two drains at once: the second waits for the worker the first reload started, though the master acts late', async () => {
  const master = slowMaster(4);
  const lb = createNginx({ upstream: 'app', file: FILE, exec: master.exec, sleep: async () => undefined, pollMs: 1 });
  await lb.inspect(hosts);
  const first = lb.drain('10.0.0.1:22', 10_000);
  // When the second drain is done, no worker that had 10.0.0.2 in rotation may be left: not 100 (from before
  // both reloads), and not 101, which the first reload started while 10.0.0.2 was still in rotation.
  const second = lb.drain('10.0.0.2:22', 10_000).then(() => master.all().map((w) => w.pid));
  await first;
  expect(await second).toEqual([102]);
  expect(master.log).toEqual(['reload (serving: 100)', 'reload (serving: 101)']);
});

test('a master that never acts on a reload fails the change instead of passing it as done', async () => {
  const master = slowMaster(Infinity);
  let t = 0;
  const lb = createNginx({
    upstream: 'app',
    file: FILE,
    exec: master.exec,
    now: () => t,
    sleep: async (ms) => void (t += ms),
    pollMs: 500,
  });
  await lb.inspect(hosts);
  await expect(lb.drain('10.0.0.1:22', 10_000)).rejects.toThrow(/nginx did not act on the reload within 10s/);
});

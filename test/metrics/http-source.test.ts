// A metric endpoint's answer is read up to a cap: an endless or huge answer is refused, not held in memory.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_ANSWER_BYTES, httpGet } from '../../src/metrics/sources/http.js';
import { QueryError } from '../../src/metrics/sources/types.js';

let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/small') return res.end('{"ok":true}');
    // Never ends: 1 MiB chunks for as long as the client reads.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const write = () => {
      while (res.write(chunk));
      res.once('drain', write);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    write();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));

test('an endless answer is refused at the cap, naming it, without holding more than the cap', async () => {
  const before = process.memoryUsage().rss;
  const t0 = Date.now();
  const err = await httpGet(`${url}/endless`, { timeoutMs: 30_000, retries: 0 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QueryError);
  expect((err as Error).message).toBe(
    `${url}/endless answered with more than 32.0 MiB: narrow the query (a rule reads one series, or one per host)`,
  );
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(process.memoryUsage().rss - before).toBeLessThan(4 * MAX_ANSWER_BYTES);
});

test('an answer under the cap is read whole', async () => {
  expect(await httpGet(`${url}/small`, { timeoutMs: 5000, retries: 0 })).toEqual({ status: 200, body: '{"ok":true}' });
});

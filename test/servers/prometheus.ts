// Debian's Prometheus on a free loopback port with its own config and tmp storage, scraping given targets
// every second. Ready when the first sample is queryable (~6 s after start, NOTES.md): poll, don't sleep.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './fleet.js';
import { ensurePackages } from './system-packages.js';
import { killOnExit } from './child-processes.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface PrometheusServer {
  url: string;
  close(): Promise<void>;
}

/** One free-port picker for every test server (it never hands out a port twice). */
export { freePort };

async function firstSample(url: string, query: string, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.json()) as { data?: { result?: unknown[] } };
      if ((body.data?.result?.length ?? 0) > 0) return true;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Starts Prometheus scraping `targets` (host:port) each second; resolves once `readyQuery` has a sample. */
export async function startPrometheus(
  targets: string[],
  readyQuery = 'up',
  timeoutMs = 30_000,
): Promise<PrometheusServer> {
  ensurePackages(['prometheus']);
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-prom-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: app',
    '    static_configs:',
    `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), `${config}\n`);
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += String(d)));
    killOnExit(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const close = async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    };
    const ready = await Promise.race([firstSample(url, readyQuery, Date.now() + timeoutMs), exited.then(() => false)]);
    if (ready) return { url, close };
    if (child.exitCode === null) {
      await close();
      throw new Error(`Prometheus had no sample of '${readyQuery}' within ${timeoutMs} ms: ${stderr.slice(-500)}`);
    }
    // Lost the port to someone else between picking and binding: try another.
    if (!/address already in use/.test(stderr)) throw new Error(`Prometheus exited: ${stderr.slice(-500)}`);
  }
  throw new Error('Prometheus could not bind a port');
}

/** Polls until `count_over_time(<series>[window])` holds at least `points` samples (history for before:), or `timeoutMs`. */
export async function waitForHistory(
  prom: PrometheusServer,
  series: string,
  points: number,
  window = '1m',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(
      `${prom.url}/api/v1/query?query=${encodeURIComponent(`count_over_time(${series}[${window}])`)}`,
    );
    const n = Number(
      ((await res.json()) as { data: { result: { value: [number, string] }[] } }).data.result[0]?.value[1] ?? 0,
    );
    if (n >= points || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

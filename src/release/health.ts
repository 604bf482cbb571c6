// The health check shared by ssh-rollout and auto-revert: `health-command` on the host and/or
// `health-url` from the runner, each retried until one deadline (`health-timeout`).
import type { HostSpec } from '../common/inputs.js';
import { sleep as realSleep } from '../common/concurrency.js';
import type { RemoteSession } from '../ssh/types.js';
import { userCommand, type ReleaseEnv } from './commands.js';

export interface HealthSettings {
  deployPath: string;
  /** Runs in `<deploy-path>/current` with the release env; exit 0 is healthy. '' = none. */
  healthCommand: string;
  /** Polled from the runner; `{host}` is replaced; any 2xx is healthy. '' = none. */
  healthUrl: string;
  healthTimeoutMs: number;
}

export interface HealthResult {
  ok: boolean;
  /** `healthy after 3 attempt(s), 412 ms`, or why not (the last failure). */
  detail: string;
  attempts: number;
  ms: number;
}

/** Same shape as rollout's HealthChecker: one call per host, never rejects. */
export type HealthCheck = (session: RemoteSession, host: HostSpec, env: ReleaseEnv) => Promise<HealthResult>;

export interface HealthOptions {
  fetch?: typeof fetch;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** First pause between attempts; doubles up to maxIntervalMs. A revert is timed, so start small. */
  intervalMs?: number;
  maxIntervalMs?: number;
  /** Per-request cap for health-url, so one hung request cannot eat the whole timeout. */
  requestTimeoutMs?: number;
}

/** `{host}` → the host's name (IPv6 in brackets, as a URL needs). */
export function healthUrlFor(template: string, host: HostSpec): string {
  const name = host.host.includes(':') ? `[${host.host}]` : host.host;
  return template.replace(/\{host\}/g, name);
}

/** Whether there is anything to check at all. */
export function hasHealthCheck(s: Pick<HealthSettings, 'healthCommand' | 'healthUrl'>): boolean {
  return s.healthCommand !== '' || s.healthUrl !== '';
}

/**
 * Builds the checker. The command runs first, then the URL, both within one `healthTimeoutMs`
 * deadline. With neither configured every host is healthy at once.
 */
export function createHealthCheck(settings: HealthSettings, options: HealthOptions = {}): HealthCheck {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? realSleep;
  const doFetch = options.fetch ?? fetch;
  const firstInterval = options.intervalMs ?? 200;
  const maxInterval = options.maxIntervalMs ?? 2000;
  const requestTimeout = options.requestTimeoutMs ?? 10_000;

  return async (session, host, env) => {
    const start = now();
    const deadline = start + settings.healthTimeoutMs;
    let attempts = 0;

    async function retry(what: string, attempt: (remainingMs: number) => Promise<string | null>): Promise<string | null> {
      let interval = firstInterval;
      let last = '';
      for (;;) {
        attempts++;
        const remaining = Math.max(1, deadline - now());
        last = (await attempt(remaining)) ?? '';
        if (last === '') return null;
        if (now() + interval >= deadline) return `${what} not healthy after ${formatSeconds(now() - start)}: ${last}`;
        await sleep(interval);
        interval = Math.min(maxInterval, interval * 2);
      }
    }

    if (settings.healthCommand) {
      const failure = await retry('health-command', async (remaining) => {
        try {
          const r = await session.exec(userCommand(`${settings.deployPath}/current`, settings.healthCommand, env), { timeoutMs: remaining });
          if (r.code === 0) return null;
          return `exit ${r.code}${tail(r.stderr || r.stdout)}`;
        } catch (err) {
          return err instanceof Error ? err.message : String(err);
        }
      });
      if (failure) return { ok: false, detail: failure, attempts, ms: now() - start };
    }

    if (settings.healthUrl) {
      const url = healthUrlFor(settings.healthUrl, host);
      const failure = await retry(`health-url ${url}`, async (remaining) => {
        try {
          const res = await doFetch(url, { signal: AbortSignal.timeout(Math.min(remaining, requestTimeout)), redirect: 'manual' });
          // Drain the body so the socket is reused and nothing leaks between attempts.
          await res.arrayBuffer().catch(() => undefined);
          return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
        } catch (err) {
          return fetchFailure(err);
        }
      });
      if (failure) return { ok: false, detail: failure, attempts, ms: now() - start };
    }

    const ms = now() - start;
    return { ok: true, detail: hasHealthCheck(settings) ? `healthy after ${attempts} attempt(s), ${ms} ms` : 'no health check configured', attempts, ms };
  };
}

function tail(text: string): string {
  const t = text.trim();
  if (!t) return '';
  const last = t.split('\n').slice(-3).join(' | ');
  return `: ${last.length > 300 ? `…${last.slice(-300)}` : last}`;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** fetch() says only "fetch failed"; the useful part (ECONNREFUSED, a timeout) is in its cause. */
function fetchFailure(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? e?.message ?? String(err);
}

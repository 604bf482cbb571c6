// The health check shared by ssh-rollout and auto-revert: `health-command` on the host and/or
// `health-url` from the runner, each retried until one deadline (`health-timeout`). With
// `health-expect`, a 2xx counts only when its body contains the expected text, so a host still
// serving the old release (a reload that did not take) is not healthy.
import type { HostSpec } from '../common/inputs.js';
import { errorMessage } from '../common/errors.js';
import { formatDuration } from '../common/format.js';
import { clip, lastLines } from '../common/text.js';
import { sleep as realSleep } from '../common/concurrency.js';
import type { RemoteSession } from '../ssh/types.js';
import { userCommand, type ReleaseEnv } from './commands.js';

export interface HealthSettings {
  deployPath: string;
  /** Runs in `<deploy-path>/current` with the release env; exit 0 is healthy. '' = none. */
  healthCommand: string;
  /**
   * Polled from the runner; `{host}` (and `{port}`, the host's balancer server's port) replaced; any 2xx is
   * healthy. '' = none.
   */
  healthUrl: string;
  /**
   * Text a health-url 2xx body must contain to count as healthy; `{release}` is replaced by the
   * release id being checked. '' (or absent) = any 2xx is healthy.
   */
  healthExpect?: string;
  /**
   * Consecutive health-url answers, each on a new connection, that must all be healthy (default 1): a
   * prefork server gives each connection to one worker, so one answer proves one worker switched.
   */
  healthSamples?: number;
  healthTimeoutMs: number;
}

export interface HealthResult {
  ok: boolean;
  /** `healthy after 3 attempt(s), 412 ms`, or why not (the last failure). */
  detail: string;
  attempts: number;
  ms: number;
}

/** One call per host, never rejects; `appPort` is `{port}` in health-url (the host's balancer server's port). */
export type HealthCheck = (
  session: RemoteSession,
  host: HostSpec,
  env: ReleaseEnv,
  appPort?: number,
) => Promise<HealthResult>;

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

/**
 * `{host}` → the host's name (IPv6 in brackets, as a URL needs); `{port}` → its app's port (checked when the
 * balancer opened).
 */
export function healthUrlFor(template: string, host: HostSpec, appPort?: number): string {
  const name = host.host.includes(':') ? `[${host.host}]` : host.host;
  const url = template.replace(/\{host\}/g, name);
  if (!url.includes('{port}')) return url;
  if (appPort === undefined) throw new Error(`health-url uses {port} but no balancer server gives ${host.host} a port`);
  return url.replace(/\{port\}/g, String(appPort));
}

/** The text a health-url body must contain: `{release}` → the release id being checked. */
export function expectedText(template: string, releaseId: string): string {
  return template.replace(/\{release\}/g, () => releaseId);
}

/** At most this much of a health-url body is read when looking for health-expect. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Whether there is anything to check at all. */
export function hasHealthCheck(s: Pick<HealthSettings, 'healthCommand' | 'healthUrl'>): boolean {
  return s.healthCommand !== '' || s.healthUrl !== '';
}

/**
 * Builds the checker. The command runs first, then the URL, both within one `healthTimeoutMs`
 * deadline. With neither configured every host is healthy at once.
 */
export function createHealthCheck(settings: HealthSettings, options: HealthOptions = {}): HealthCheck {
  const checker: Checker = {
    settings,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? realSleep,
    fetch: options.fetch ?? fetch,
    firstInterval: options.intervalMs ?? 200,
    maxInterval: options.maxIntervalMs ?? 2000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    samples: settings.healthSamples ?? 1,
  };
  return async (session, host, env, appPort) => {
    const check = new HostCheck(checker);
    if (settings.healthCommand) {
      const failure = await checkCommand(check, session, env);
      if (failure) return check.failed(failure);
    }
    if (settings.healthUrl) {
      let url: string;
      try {
        url = healthUrlFor(settings.healthUrl, host, appPort);
      } catch (err) {
        return check.failed(errorMessage(err));
      }
      const failure = await checkUrl(check, url, env);
      if (failure) return check.failed(failure);
    }
    return check.healthy();
  };
}

/** The settings and the options, defaults filled in: what every host's check shares. */
interface Checker {
  settings: HealthSettings;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  fetch: typeof fetch;
  /** First pause between attempts; doubles up to maxInterval. */
  firstInterval: number;
  maxInterval: number;
  /** Per-request cap for health-url. */
  requestTimeout: number;
  /** health-url answers in a row that must be healthy. */
  samples: number;
}

/** One host's check: its start, its deadline, and the attempts the command and the URL made together. */
class HostCheck {
  readonly start: number;
  readonly deadline: number;
  /**
   * Time one answer is given on the last attempt; an attempt of several answers gets that each (up to half
   * the timeout).
   */
  private readonly answerWindow: number;
  private attempts = 0;

  constructor(readonly checker: Checker) {
    const timeoutMs = checker.settings.healthTimeoutMs;
    this.start = checker.now();
    this.deadline = this.start + timeoutMs;
    this.answerWindow = Math.min(checker.requestTimeout, Math.max(50, timeoutMs / 10));
  }

  /** Milliseconds to the deadline, at least 1. */
  remaining(): number {
    return Math.max(1, this.deadline - this.checker.now());
  }

  /** Runs `attempt` (null: healthy, else why not) until healthy or the deadline: null, or why not at the end. */
  async retry(
    what: string,
    attempt: (remainingMs: number) => Promise<string | null>,
    answers = 1,
  ): Promise<string | null> {
    const { now, sleep, settings } = this.checker;
    const lastWindow = Math.max(this.answerWindow, Math.min(this.answerWindow * answers, settings.healthTimeoutMs / 2));
    let interval = this.checker.firstInterval;
    let last = '';
    for (;;) {
      this.attempts++;
      const remaining = this.remaining();
      last = (await attempt(remaining)) ?? '';
      if (last === '') return null;
      // The last pause is cut short so one attempt still starts just before the deadline, with
      // time left to answer (a 1 ms window would only ever time out).
      const lastStart = this.deadline - lastWindow;
      if (now() >= lastStart) return `${what} not healthy after ${formatDuration(now() - this.start)}: ${last}`;
      await sleep(Math.min(interval, lastStart - now()));
      interval = Math.min(this.checker.maxInterval, interval * 2);
    }
  }

  failed(detail: string): HealthResult {
    return { ok: false, detail, attempts: this.attempts, ms: this.checker.now() - this.start };
  }

  healthy(): HealthResult {
    const { settings, samples } = this.checker;
    const ms = this.checker.now() - this.start;
    const inARow = settings.healthUrl && samples > 1 ? ` (${samples} health-url answers in a row)` : '';
    const detail = hasHealthCheck(settings)
      ? `healthy after ${this.attempts} attempt(s)${inARow}, ${formatDuration(ms)}`
      : 'no health check configured';
    return { ok: true, detail, attempts: this.attempts, ms };
  }
}

/** health-command, retried: null once it exits 0, else why not. */
function checkCommand(check: HostCheck, session: RemoteSession, env: ReleaseEnv): Promise<string | null> {
  const { settings } = check.checker;
  return check.retry('health-command', async (remaining) => {
    try {
      const command = userCommand(`${settings.deployPath}/current`, settings.healthCommand, env);
      const r = await session.exec(command, { timeoutMs: remaining });
      if (r.code === 0) return null;
      return `exit ${r.code}${tail(r.stderr || r.stdout)}`;
    } catch (err) {
      return errorMessage(err);
    }
  });
}

/** health-url, retried: null once `samples` answers in a row are healthy, else why not. */
function checkUrl(check: HostCheck, url: string, env: ReleaseEnv): Promise<string | null> {
  const { settings, samples } = check.checker;
  const expected = settings.healthExpect ? expectedText(settings.healthExpect, env.releaseId) : '';
  const attempt = async (remaining: number): Promise<string | null> => {
    // Every one of `samples` answers in a row, so a host whose old workers still answer does not pass.
    for (let i = 1; i <= samples; i++) {
      const why = await answer(check.checker, url, expected, i === 1 ? remaining : check.remaining());
      if (why) return samples > 1 && i > 1 ? `answer ${i} of ${samples} in a row: ${why}` : why;
    }
    return null;
  };
  return check.retry(`health-url ${url}`, attempt, samples);
}

/** One answer, on a new connection: '' when healthy, else why not. */
async function answer(checker: Checker, url: string, expected: string, remaining: number): Promise<string> {
  const { fetch: doFetch, requestTimeout } = checker;
  try {
    const signal = AbortSignal.timeout(Math.min(remaining, requestTimeout));
    const res = await doFetch(url, { signal, redirect: 'manual', headers: { connection: 'close' } });
    const ok = res.status >= 200 && res.status < 300;
    if (!ok || expected === '') {
      // Drain the body so nothing leaks between attempts.
      await res.arrayBuffer().catch(() => undefined);
      return ok ? '' : `HTTP ${res.status}`;
    }
    const body = await readCapped(res, MAX_BODY_BYTES);
    if (body.includes(expected)) return '';
    const wanted = JSON.stringify(clip(expected, 200));
    return `HTTP ${res.status} but the body does not contain ${wanted} (body: ${excerpt(body)})`;
  } catch (err) {
    return fetchFailure(err);
  }
}

/** The body as text, reading at most maxBytes (the rest is not fetched). */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      const part = value.byteLength > maxBytes - size ? value.subarray(0, maxBytes - size) : value;
      chunks.push(part);
      size += part.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A short single-line view of a body for a failure detail. */
function excerpt(body: string): string {
  // eslint-disable-next-line no-control-regex -- a body excerpt must be one printable line
  const line = body.replace(/[\s\x00-\x1f\x7f]+/g, ' ').trim();
  return line === '' ? 'empty' : JSON.stringify(clip(line, 80));
}

/** The last lines of a health command's output (untrusted text: one printable line). */
function tail(text: string): string {
  const last = lastLines(text, { max: 300 });
  return last ? `: ${last}` : '';
}

/** fetch() says only "fetch failed"; the useful part (ECONNREFUSED, a timeout) is in its cause. */
function fetchFailure(err: unknown): string {
  const e = err as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string; errors?: { code?: string }[] };
  };
  if (e?.name === 'TimeoutError') return 'timed out';
  const cause = e?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? e?.message ?? String(err);
}

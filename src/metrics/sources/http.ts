// HTTP for the sources: a timeout per request, retries for what may pass (network, 5xx, 429),
// and QueryError for what will not (other 4xx).
import { QueryError } from './types.js';
import { errorMessage } from '../../common/errors.js';
import { formatBytes } from '../../common/format.js';
import { readCapped } from '../../common/http-body.js';
import { redactUrl } from '../../common/url.js';
import { redact } from '../redact.js';

export interface HttpOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  retries: number;
  signal?: AbortSignal;
  /** Treat these statuses as answers (Prometheus explains a bad query in a 400/422 JSON body). */
  acceptStatus?: number[];
  /** What the request carries that is secret (header values): redacted from an error's answer before it is kept. */
  secrets?: readonly string[];
}

export class TransientError extends Error {}

/** An answer is read up to this size; a larger one is refused, not read into memory. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

async function once(url: string, opts: HttpOptions): Promise<{ status: number; body: string }> {
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { 'user-agent': 'fivestep-metric-watch', ...opts.headers },
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    throw new TransientError(`${errorMessage(err)}${cause}`);
  }
  const read = await readCapped(res, MAX_ANSWER_BYTES).catch((err) => {
    throw new TransientError(`reading the body: ${errorMessage(err)}`);
  });
  if (read.truncated)
    throw new QueryError(
      `${redactUrl(url)} answered with more than ${formatBytes(MAX_ANSWER_BYTES)}: narrow the query (a rule ` +
        `reads one series, or one per host)`,
    );
  const body = read.text;
  if (res.ok || opts.acceptStatus?.includes(res.status)) return { status: res.status, body };
  // A server may echo the request (its Authorization header) in an error: redacted before it is kept.
  const snippet = redact(body, opts.secrets ?? [])
    .slice(0, 200)
    .replace(/\s+/g, ' ');
  if (res.status >= 500 || res.status === 429 || res.status === 408)
    throw new TransientError(`HTTP ${res.status}: ${snippet}`);
  throw new QueryError(`HTTP ${res.status} from ${redactUrl(url)}: ${snippet}`);
}

/** GET with retries; throws TransientError after the last attempt, QueryError at once. */
export async function httpGet(url: string, opts: HttpOptions): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) await pause(Math.min(1000, 100 * 2 ** (attempt - 1)), opts.signal);
    if (opts.signal?.aborted) break;
    try {
      return await once(url, opts);
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      last = err;
    }
  }
  throw last instanceof Error ? last : new TransientError('aborted');
}

/**
 * A source's url as logs and the watch report show it: a server's URL redacted (common/url.ts), replay's
 * file path as it is (a path holds no secret, and redacted it would read `(not a valid URL)`).
 */
export function sourceUrlShown(url: string): string {
  return URL.canParse(url) ? redactUrl(url) : url;
}

export function parseJson(body: string, what: string, secrets: readonly string[] = []): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new TransientError(
      `${what} answered with something that is not JSON: ${redact(body, secrets).slice(0, 120)}`,
    );
  }
}

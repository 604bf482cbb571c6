// A PagerDuty Events API v2 stand-in (POST /v2/enqueue) on a free loopback port. It checks each event as the
// Events API documents it and answers as PagerDuty does: 202 {"status":"success","message":"Event processed",
// "dedup_key":...} for a valid event, 400 {"status":"invalid event","message":"Event object is invalid",
// "errors":[...]} otherwise. It keeps the accepted events (with their arrival time) and each dedup_key's incident
// state, so a test sees what would have paged someone, and what resolved it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface PagerDutyEventV2 {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: unknown;
  };
  client?: string;
  client_url?: string;
  links?: unknown[];
  images?: unknown[];
}

export interface ReceivedEvent {
  event: PagerDutyEventV2;
  /** The dedup_key the event was filed under (PagerDuty makes one up for a trigger without it). */
  dedupKey: string;
  /** performance.now() when it arrived. */
  at: number;
}

export interface PagerDutyStandIn {
  /** The Events API endpoint: `http://127.0.0.1:PORT/v2/enqueue`. */
  url: string;
  /** Accepted events, in order. */
  events: ReceivedEvent[];
  /** Refused events: the body and why. */
  rejected: { body: string; errors: string[] }[];
  /** dedup_key → the incident's state after the last event for it. */
  incidents: Map<string, 'triggered' | 'acknowledged' | 'resolved'>;
  /** Resolves with the first accepted event (from now on or already there) that `match` accepts. */
  waitFor(match: (e: ReceivedEvent) => boolean, timeoutMs: number): Promise<ReceivedEvent>;
  close(): Promise<void>;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const ACTIONS = ['trigger', 'acknowledge', 'resolve'];

/** The Events API v2's rules for one event; [] when it is valid. */
export function eventErrors(e: unknown, routingKeys?: ReadonlySet<string>): string[] {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return ['event must be a JSON object'];
  const ev = e as Record<string, unknown>;
  const errors: string[] = [];
  if (typeof ev.routing_key !== 'string' || ev.routing_key === '') errors.push("'routing_key' is missing or blank");
  else if (routingKeys && !routingKeys.has(ev.routing_key)) errors.push("'routing_key' is not a known integration key");
  if (typeof ev.event_action !== 'string' || !ACTIONS.includes(ev.event_action))
    errors.push("'event_action' must be one of trigger, acknowledge, resolve");
  if (ev.dedup_key !== undefined && (typeof ev.dedup_key !== 'string' || ev.dedup_key.length > 255))
    errors.push("'dedup_key' must be a string of at most 255 characters");
  if ((ev.event_action === 'acknowledge' || ev.event_action === 'resolve') && !ev.dedup_key)
    errors.push(`'dedup_key' is required to ${String(ev.event_action)}`);
  if (ev.event_action === 'trigger') {
    const p = ev.payload as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') errors.push("'payload' is required to trigger");
    else {
      if (typeof p.summary !== 'string' || p.summary === '') errors.push("'payload.summary' is missing or blank");
      else if (p.summary.length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
      if (typeof p.source !== 'string' || p.source === '') errors.push("'payload.source' is missing or blank");
      if (typeof p.severity !== 'string' || !SEVERITIES.includes(p.severity))
        errors.push("'payload.severity' must be one of critical, error, warning, info");
      if (p.timestamp !== undefined && Number.isNaN(Date.parse(String(p.timestamp))))
        errors.push("'payload.timestamp' is not an ISO 8601 date");
    }
  }
  return errors;
}

/** Starts the stand-in; with `routingKeys`, events for any other key are refused, as PagerDuty refuses them. */
export async function startPagerDuty(opts: { routingKeys?: string[] } = {}): Promise<PagerDutyStandIn> {
  const keys = opts.routingKeys ? new Set(opts.routingKeys) : undefined;
  const events: ReceivedEvent[] = [];
  const rejected: { body: string; errors: string[] }[] = [];
  const incidents = new Map<string, 'triggered' | 'acknowledged' | 'resolved'>();
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method !== 'POST' || req.url !== '/v2/enqueue') return answer(404, { status: 'not found' });
      const body = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        rejected.push({ body, errors: ['body is not JSON'] });
        return answer(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] });
      }
      const errors = eventErrors(parsed, keys);
      if (errors.length > 0) {
        rejected.push({ body, errors });
        return answer(400, { status: 'invalid event', message: 'Event object is invalid', errors });
      }
      const event = parsed as PagerDutyEventV2;
      const dedupKey = event.dedup_key ?? randomBytes(16).toString('hex');
      events.push({ event, dedupKey, at: performance.now() });
      const state = { trigger: 'triggered', acknowledge: 'acknowledged', resolve: 'resolved' } as const;
      // Acknowledging or resolving an incident that is not open does nothing at PagerDuty.
      if (event.event_action === 'trigger' || incidents.get(dedupKey) !== undefined)
        incidents.set(dedupKey, state[event.event_action]);
      for (const w of waiters) w();
      answer(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`;
  return {
    url,
    events,
    rejected,
    incidents,
    waitFor(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `no matching PagerDuty event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.event))}` +
                (rejected.length ? `; refused ${JSON.stringify(rejected)}` : ''),
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

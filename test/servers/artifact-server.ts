/**
 * A small artifact server on 127.0.0.1 for the `artifact-url` tests: what a release bucket or GitHub's
 * release-asset redirect looks like to a host's curl or wget.
 *
 *   const server = await ArtifactServer.start({
 *     '/app.tgz': { body: tgz },
 *     '/missing.tgz': { status: 404 },
 *     '/cut.tgz': { body: tgz, truncateAt: 100 },          // Content-Length says all, 100 bytes come, then a reset
 *     '/latest.tgz': { redirect: '/signed/app.tgz?token=s' }, // 302 (a path here, or an absolute URL)
 *     '/signed/app.tgz': { body: tgz, token: 's' },          // 403 unless ?token=s
 *     '/private.tgz': { body: tgz, basicAuth: 'ci:pw' },     // 401 (Basic challenge) unless those credentials
 *   });
 *   server.url('/app.tgz')   // http://127.0.0.1:PORT/app.tgz
 *   server.requests          // [{ method, url: '/signed/app.tgz?token=s', ... }] in arrival order
 *   server.bytesServed       // body bytes written, over all requests
 *   await server.close()
 *
 * With `{ tls }` (see selfSignedCertificate) it serves https instead.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ArtifactRoute {
  /** Served with 200 (unless `status` says otherwise). */
  body?: Buffer | string;
  /** Answer this status with a short text body (e.g. 404, 500). */
  status?: number;
  /** Announce the whole body's Content-Length, send only this many bytes, then destroy the socket. */
  truncateAt?: number;
  /** Answer 302 with this Location. */
  redirect?: string;
  /** Answer 403 unless the query has `token=<token>`. */
  token?: string;
  /** `user:password` the request must send as HTTP Basic auth, else 401 with a Basic challenge. */
  basicAuth?: string;
  /** Wait this long after the headers before sending the body (a download in progress). */
  delayMs?: number;
}

export interface ArtifactRequest {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  headers: IncomingMessage['headers'];
  status: number;
}

export interface TlsFiles {
  cert: string;
  key: string;
  /** The certificate file (PEM) a client trusts it by (CURL_CA_BUNDLE, wget's ca_certificate). */
  certFile: string;
  /** Removes the files. */
  remove(): void;
}

/** A self-signed certificate for 127.0.0.1 (made with openssl, valid one day); needs the openssl CLI. */
export function selfSignedCertificate(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'fivestep-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  // The hosts' login user must read the certificate to trust it (the key stays private).
  chmodSync(dir, 0o755);
  chmodSync(certFile, 0o644);
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    certFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export class ArtifactServer {
  readonly requests: ArtifactRequest[] = [];
  bytesServed = 0;
  private readonly routes = new Map<string, ArtifactRoute>();
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly scheme: 'http' | 'https',
  ) {}

  static async start(
    routes: Record<string, ArtifactRoute> = {},
    options: { tls?: { cert: string; key: string } } = {},
  ): Promise<ArtifactServer> {
    const routing = (req: IncomingMessage, res: ServerResponse) => self.handle(req, res);
    const server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, routing)
      : createHttpServer(routing);
    const self = new ArtifactServer(server, options.tls ? 'https' : 'http');
    for (const [path, route] of Object.entries(routes)) self.set(path, route);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    self.port = (server.address() as AddressInfo).port;
    return self;
  }

  /** `http(s)://127.0.0.1:PORT<path>`. */
  url(path: string): string {
    return `${this.scheme}://127.0.0.1:${this.port}${path}`;
  }

  set(path: string, route: ArtifactRoute): void {
    this.routes.set(path, route);
  }

  /** Forgets the requests and bytes counted so far. */
  reset(): void {
    this.requests.length = 0;
    this.bytesServed = 0;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = new URL(req.url ?? '/', 'http://x');
    const route = this.routes.get(target.pathname);
    const record = (status: number) =>
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, status });
    const send = (status: number, body: Buffer, headers: Record<string, string | number> = {}) => {
      record(status);
      res.writeHead(status, { 'content-length': body.length, ...headers });
      this.bytesServed += body.length;
      res.end(body);
    };
    if (!route) return send(404, Buffer.from('no such artifact\n'));
    if (
      route.basicAuth !== undefined &&
      req.headers.authorization !== `Basic ${Buffer.from(route.basicAuth).toString('base64')}`
    ) {
      return send(401, Buffer.from('credentials needed\n'), { 'www-authenticate': 'Basic realm="artifacts"' });
    }
    if (route.token !== undefined && target.searchParams.get('token') !== route.token)
      return send(403, Buffer.from('bad or missing token\n'));
    if (route.redirect !== undefined) return send(302, Buffer.from('moved\n'), { location: route.redirect });
    if (route.status !== undefined) return send(route.status, Buffer.from(`status ${route.status} on purpose\n`));
    const body = Buffer.from(route.body ?? '');
    const write = () => {
      if (route.truncateAt === undefined) {
        this.bytesServed += body.length;
        res.end(body);
        return;
      }
      const part = body.subarray(0, route.truncateAt);
      this.bytesServed += part.length;
      // Flushed before the reset, so the client holds exactly `truncateAt` bytes.
      res.write(part, () => setTimeout(() => res.destroy(), 50));
    };
    record(200);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/gzip' });
    if (route.delayMs) {
      res.flushHeaders();
      setTimeout(write, route.delayMs);
    } else write();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

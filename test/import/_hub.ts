/**
 * A stub model hub on 127.0.0.1 with Hugging Face's URL layout (`/<owner>/<repo>/resolve/<rev>/<file>`) or
 * any other path: GET and HEAD, byte ranges (206 / 416), gated repos (401 without the right bearer token),
 * redirects to a second server on another port (a CDN), and scripted faults: a status some number of
 * times, or a body cut off half-way through what was asked for.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface HubFault {
  readonly path: string;
  times: number;
  /** `cut`: half of what was asked for, then the connection drops; `stall`: half, then silence. */
  readonly reply: { readonly status: number } | 'cut' | 'stall';
}

export interface HubRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly authorization?: string;
}

export interface StubHubOptions {
  /** Path → bytes. */
  readonly files: Map<string, Uint8Array>;
  /** Paths that start with one of these need `Authorization: Bearer <token>`. */
  readonly gated?: readonly string[];
  readonly token?: string;
  /** Answer file requests on the hub with a 302 to the same path on a CDN server (another origin). */
  readonly redirectToCdn?: boolean;
  readonly faults?: HubFault[];
  /** Gzip every body for a client that accepts it, as CDNs do for text. */
  readonly gzip?: boolean;
}

export interface StubHub {
  readonly url: string;
  readonly cdnUrl: string;
  readonly requests: HubRequest[];
  close(): Promise<void>;
}

function serveFile(req: http.IncomingMessage, res: http.ServerResponse, bytes: Uint8Array, fault?: 'cut' | 'stall'): void {
  const total = bytes.length;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  if (m && start >= total) {
    res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
    return;
  }
  const body = bytes.subarray(start);
  const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'accept-ranges': 'bytes' };
  res.writeHead(m ? 206 : 200, m ? { ...headers, 'content-range': `bytes ${start}-${total - 1}/${total}` } : headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (!fault) {
    res.end(body);
    return;
  }
  // half of what was asked for, then the connection drops or falls silent: Content-Length promised more
  res.write(body.subarray(0, Math.floor(body.length / 2)), () => fault === 'cut' && res.destroy());
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startHub(o: StubHubOptions): Promise<StubHub> {
  const requests: HubRequest[] = [];
  const handler = (role: 'hub' | 'cdn') => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://stub').pathname);
    requests.push({ server: role, method: req.method ?? 'GET', path, range: req.headers.range, authorization: req.headers.authorization });
    const serves = !(role === 'hub' && o.redirectToCdn);
    // a cut or a stall happens where the bytes are served; a status wherever the request first lands
    const fault = o.faults?.find((f) => f.times > 0 && f.path === path && req.method === 'GET' && (typeof f.reply === 'object' || serves));
    if (fault) fault.times--;
    if (fault && typeof fault.reply === 'object') {
      res.writeHead(fault.reply.status, { 'content-type': 'text/plain' }).end(`stub fault ${fault.reply.status}`);
      return;
    }
    if (role === 'hub' && o.gated?.some((g) => path.startsWith(g)) && req.headers.authorization !== `Bearer ${o.token}`) {
      const error = 'Access to this model is restricted. You must have access to it and be authenticated.';
      res.writeHead(401, { 'content-type': 'application/json', 'x-error-code': 'GatedRepo', 'x-error-message': error }).end(req.method === 'HEAD' ? undefined : JSON.stringify({ error }));
      return;
    }
    const bytes = o.files.get(path);
    if (!bytes) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found' }).end(req.method === 'HEAD' ? undefined : JSON.stringify({ error: 'Entry not found' }));
      return;
    }
    if (!serves) {
      res.writeHead(302, { location: `${cdnUrl}${path}` }).end();
      return;
    }
    const gzip = o.gzip && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    if (gzip) res.setHeader('content-encoding', 'gzip');
    serveFile(req, res, gzip ? zlib.gzipSync(bytes) : bytes, typeof fault?.reply === 'string' ? fault.reply : undefined);
  };
  const hub = http.createServer(handler('hub')), cdn = http.createServer(handler('cdn'));
  const [url, cdnUrl] = await Promise.all([listen(hub), listen(cdn)]);
  return {
    url,
    cdnUrl,
    requests,
    close: async () => {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    },
  };
}

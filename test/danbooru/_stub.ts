/** A stub Danbooru on 127.0.0.1: tags.json, tag_aliases.json, tag_implications.json, and scripted faults. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubTag {
  readonly name: string;
  readonly post_count: number;
  readonly category: number;
}

export interface StubRelation {
  readonly id: number;
  readonly antecedent_name: string;
  readonly consequent_name: string;
  readonly status: 'active' | 'deleted' | 'retired';
}

export interface Fault {
  /** e.g. `tags.json` */
  readonly endpoint: string;
  /** The `page` parameter it hits; any page when absent. */
  readonly page?: string;
  /** How many requests it spoils. */
  times: number;
  readonly reply: 'html502' | 'json500' | 'rate429' | 'slow' | 'json401';
  readonly retryAfter?: string;
  readonly delayMs?: number;
}

export interface StubOptions {
  readonly tags: readonly StubTag[];
  readonly aliases?: readonly StubRelation[];
  readonly implications?: readonly StubRelation[];
  /** Like a site that does not filter on `search[post_count]`. */
  readonly ignorePostCount?: boolean;
  /** Serve under a path prefix, e.g. `/booru`. */
  readonly prefix?: string;
  readonly faults?: Fault[];
}

export interface Recorded {
  readonly endpoint: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly at: number;
}

export interface Stub {
  readonly url: string;
  readonly requests: Recorded[];
  /** Requests to one endpoint, as `page` values (`1`, `2`, `b123`, or `` for none). */
  pages(endpoint: string, category?: number): string[];
  close(): Promise<void>;
}

const HTML_502 = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';

function atLeast(filter: string | null): number {
  const m = /^>=(\d+)$/.exec(filter ?? '');
  return m ? Number(m[1]) : -Infinity;
}

function serveTags(o: StubOptions, q: URLSearchParams): unknown[] {
  const limit = Math.min(Number(q.get('limit') ?? 20), 1000);
  const page = Number(q.get('page') ?? 1);
  const category = q.get('search[category]');
  const min = o.ignorePostCount ? -Infinity : atLeast(q.get('search[post_count]'));
  const rows = o.tags
    .filter((t) => (category === null || t.category === Number(category)) && t.post_count >= min)
    .sort((a, b) => (q.get('search[order]') === 'count' ? b.post_count - a.post_count : 0) || (a.name < b.name ? -1 : 1));
  return rows.slice((page - 1) * limit, page * limit).map((t, i) => ({ id: i + 1, ...t, is_deprecated: false, words: t.name.split('_') }));
}

function serveRelations(records: readonly StubRelation[], q: URLSearchParams): unknown[] {
  const limit = Math.min(Number(q.get('limit') ?? 20), 1000);
  const status = q.get('search[status]');
  const before = /^b(\d+)$/.exec(q.get('page') ?? '');
  return records
    .filter((r) => (status === null || r.status === status) && (!before || r.id < Number(before[1])))
    .sort((a, b) => b.id - a.id)
    .slice(0, limit)
    .map((r) => ({ ...r, creator_id: 1, reason: '', created_at: '2020-01-01T00:00:00.000+09:00' }));
}

export async function startStub(o: StubOptions): Promise<Stub> {
  const requests: Recorded[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const prefix = o.prefix ?? '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const endpoint = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length + 1) : url.pathname;
    requests.push({ endpoint, query: url.searchParams, headers: req.headers, at: performance.now() });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
    };
    const fault = o.faults?.find((f) => f.times > 0 && f.endpoint === endpoint && (f.page === undefined || f.page === (url.searchParams.get('page') ?? '')));
    const answer = () => {
      if (endpoint === 'tags.json') return json(200, serveTags(o, url.searchParams));
      if (endpoint === 'tag_aliases.json') return json(200, serveRelations(o.aliases ?? [], url.searchParams));
      if (endpoint === 'tag_implications.json') return json(200, serveRelations(o.implications ?? [], url.searchParams));
      return json(404, { success: false, error: 'ActiveRecord::RecordNotFound', message: 'That record was not found.' });
    };
    if (!fault) return answer();
    fault.times--;
    if (fault.reply === 'html502') return res.writeHead(502, { 'content-type': 'text/html' }).end(HTML_502);
    if (fault.reply === 'json500') return json(500, { success: false, error: 'PG::QueryCanceled', message: 'The database timed out running your query.' });
    if (fault.reply === 'json401') return json(401, { success: false, error: 'SessionLoader::AuthenticationFailure', message: 'Invalid API key' });
    if (fault.reply === 'rate429') return json(429, { success: false, message: 'Too many requests' }, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) answer();
    }, fault.delayMs ?? 2000);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    requests,
    pages: (endpoint, category) =>
      requests.filter((r) => r.endpoint === endpoint && (category === undefined || r.query.get('search[category]') === String(category))).map((r) => r.query.get('page') ?? ''),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

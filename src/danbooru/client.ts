/**
 * A Danbooru API client: https by default, a User-Agent, optional credentials (HTTP basic auth, so the
 * key stays out of URLs and error messages), a per-request timeout, and retries with exponential
 * backoff on 429 (honouring Retry-After), 408, 5xx, timeouts and network errors.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TagbooruError, errorMessage } from '../errors.ts';
import { defined } from '../option-values.ts';
import { VERSION } from '../package.ts';

export const DEFAULT_BASE_URL = 'https://danbooru.donmai.us';

/** Danbooru has refused generic clients (one of the original's download-tags complaints); name ours. */
export const USER_AGENT = `tagbooru/${VERSION}`;

export interface ClientOptions {
  /** A Danbooru-compatible site; a path prefix is kept (`https://host/booru/`). */
  readonly baseUrl: string;
  readonly userAgent: string;
  readonly username?: string;
  readonly apiKey?: string;
  /** Per request, body included. */
  readonly timeoutMs: number;
  /** Retries after the first attempt. */
  readonly retries: number;
  /** The first backoff; it doubles on each retry, capped at a minute. */
  readonly backoffMs: number;
  /** A Retry-After longer than this fails at once instead of stalling. */
  readonly maxRetryAfterMs: number;
  readonly fetch: typeof fetch;
  /** Told about each failed attempt that will be retried. */
  readonly onRetry?: (message: string) => void;
}

export const CLIENT_DEFAULTS = {
  baseUrl: DEFAULT_BASE_URL,
  userAgent: USER_AGENT,
  timeoutMs: 30_000,
  retries: 5,
  backoffMs: 1000,
  maxRetryAfterMs: 300_000,
} satisfies Partial<ClientOptions>;

export type Params = Record<string, string | number>;

export interface DanbooruClient {
  readonly baseUrl: string;
  /** GET `<base>/<path>` and parse JSON; throws E_IO naming the URL, the status and the server's message. */
  get(path: string, params: Params): Promise<unknown>;
}

/** Validate a base URL: http(s), no credentials in it, ends with `/` so relative paths keep its prefix. */
export function normaliseBaseUrl(raw: string, flag = '--base-url', credentialsHint = 'use --username and --api-key'): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TagbooruError('E_USAGE', `Expected an http or https URL for ${flag} but received "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TagbooruError('E_USAGE', `Expected an http or https URL for ${flag} but received "${raw}"`);
  if (url.username || url.password) throw new TagbooruError('E_USAGE', `${flag} must not contain credentials; ${credentialsHint}`);
  url.search = url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

export function isLoopback(url: URL): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
}

/** Seconds or an HTTP date, in ms from now. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The gist of an error body: Danbooru's JSON `message`, an HTML page's title, or the start of the text. */
export function describeBody(body: string, contentType: string | null): string {
  const text = body.trim();
  if (text === '') return 'an empty body';
  if (contentType?.includes('json') || text.startsWith('{')) {
    try {
      const j = JSON.parse(text) as { message?: unknown; error?: unknown };
      const m = [j.error, j.message].filter((x) => typeof x === 'string' && x !== '').join(': ');
      if (m) return `"${m}"`;
    } catch {
      // fall through to plain text
    }
  }
  if (contentType?.includes('html') || /^<(!doctype|html)/i.test(text)) {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    const gist = title || text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ');
    return `an HTML page: "${clip(gist)}"`;
  }
  return `"${clip(text)}"`;
}

function clip(s: string, n = 160): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

/** Readable, e.g. `search[post_count]=>=500`; the URL never holds credentials. */
function displayUrl(url: URL): string {
  const query = [...url.searchParams].map(([k, v]) => `${k}=${v}`).join('&');
  return `${url.origin}${url.pathname}${query ? `?${query}` : ''}`;
}

const seconds = (ms: number) => `${+(ms / 1000).toFixed(ms < 1000 ? 3 : 1)} s`;

export interface Failure {
  readonly message: string;
  readonly retryable: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;
}

export function networkFailure(e: unknown, timedOut: boolean, timeoutMs: number): Failure {
  if (timedOut) return { message: `no complete response within ${seconds(timeoutMs)}`, retryable: true };
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return { message: `network error: ${cause?.code ?? cause?.message ?? errorMessage(e)}`, retryable: true };
}

function authHint(status: number | undefined, hasCredentials: boolean): string {
  if (status !== 401 && status !== 403) return '';
  return hasCredentials ? '. Check --username and --api-key' : '. The site may need --username and --api-key';
}

export function createDanbooruClient(options: Partial<ClientOptions> = {}): DanbooruClient {
  const given = defined(options);
  const o = { ...CLIENT_DEFAULTS, fetch: globalThis.fetch, ...given } satisfies ClientOptions;
  const base = normaliseBaseUrl(o.baseUrl);
  if ((o.username === undefined) !== (o.apiKey === undefined)) throw new TagbooruError('E_USAGE', 'give both --username and --api-key, or neither');
  const hasCredentials = o.username !== undefined;
  const headers: Record<string, string> = { 'User-Agent': o.userAgent, Accept: 'application/json' };
  if (hasCredentials) headers.Authorization = `Basic ${Buffer.from(`${o.username}:${o.apiKey}`).toString('base64')}`;

  async function attempt(url: URL): Promise<{ value: unknown } | Failure> {
    const signal = AbortSignal.timeout(o.timeoutMs);
    let response: Response, body: string;
    try {
      response = await o.fetch(url, { headers, signal });
      body = await response.text();
    } catch (e) {
      return networkFailure(e, signal.aborted, o.timeoutMs);
    }
    const type = response.headers.get('content-type');
    if (!response.ok) {
      const { status } = response;
      const retryable = status === 429 || status === 408 || status >= 500;
      return { status, retryable, message: `HTTP ${status} with ${describeBody(body, type)}`, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
    }
    try {
      return { value: JSON.parse(body) as unknown };
    } catch {
      return { retryable: false, message: `expected JSON but received ${type ?? 'no content type'}, ${describeBody(body, type)}. Is --base-url a Danbooru site?` };
    }
  }

  return {
    baseUrl: base.href,
    async get(path, params) {
      const url = new URL(path.replace(/^\/+/, ''), base);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
      for (let n = 0; ; n++) {
        const r = await attempt(url);
        if ('value' in r) return r.value;
        const tries = n > 0 ? ` (${n + 1} attempts)` : '';
        if (!r.retryable || n >= o.retries) throw new TagbooruError('E_IO', `GET ${displayUrl(url)} failed: ${r.message}${tries}${authHint(r.status, hasCredentials)}`);
        const wait = r.retryAfterMs ?? Math.min(o.backoffMs * 2 ** n, 60_000);
        if (wait > o.maxRetryAfterMs) throw new TagbooruError('E_IO', `GET ${displayUrl(url)} failed: ${r.message}; the server asks to wait ${seconds(wait)}, try again later`);
        o.onRetry?.(`GET ${displayUrl(url)}: ${r.message}; retry ${n + 1}/${o.retries} in ${seconds(wait)}`);
        await sleep(wait);
      }
    },
  };
}

/**
 * The download client of `tagbooru pull`, on Node's fetch. Hubs answer with redirects to a CDN, so
 * redirects are followed by hand: a bounded number, and the token goes only to the origin it is meant for
 * (never to the CDN a redirect names). A file is written to `<file>.part` and renamed when complete and
 * verified; a part left by a cut connection or an earlier run is resumed with an HTTP Range request.
 * Network errors, stalls, 408, 429 and 5xx are retried with exponential backoff, a bounded number of times.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { USER_AGENT, describeBody, networkFailure, parseRetryAfter, type Failure } from '../danbooru/client.ts';
import { TagbooruError } from '../errors.ts';
import { defined } from '../option-values.ts';

export interface HubClientOptions {
  readonly fetch: typeof fetch;
  readonly userAgent: string;
  /** Sent as `Authorization: Bearer` to `tokenOrigin` only. */
  readonly token?: string;
  readonly tokenOrigin?: string;
  /** Retries after the first attempt. */
  readonly retries: number;
  /** The first backoff; it doubles on each retry, capped at a minute. */
  readonly backoffMs: number;
  readonly maxRedirects: number;
  /** A response or a body that sends nothing for this long is abandoned (and retried). */
  readonly stallMs: number;
  readonly onRetry?: (message: string) => void;
}

export const HUB_CLIENT_DEFAULTS = {
  userAgent: USER_AGENT,
  retries: 4,
  backoffMs: 1000,
  maxRedirects: 8,
  stallMs: 60_000,
} satisfies Partial<HubClientOptions>;

/** What a file must be; either may be unknown. */
export interface Expected {
  readonly bytes?: number;
  readonly sha256?: string;
}

export interface DownloadTarget {
  readonly url: URL;
  /** Where the verified file ends up; `<file>.part` holds it meanwhile. */
  readonly file: string;
  readonly expected: Expected;
  /** Appended to an HTTP failure's message: what a 401 or a 404 means for this file. */
  readonly explain?: (status: number) => string;
  /** Told as bytes arrive; `total` when the server or the table says it. */
  readonly onBytes?: (done: number, total: number | undefined) => void;
}

export interface HubClient {
  /** Does the URL name a file? HEAD, following redirects: 2xx yes, 404 no, anything else throws. */
  exists(url: URL, explain?: (status: number) => string): Promise<boolean>;
  /** Download (or finish downloading) one file, verified; returns its size. */
  download(target: DownloadTarget): Promise<number>;
}

/** Without the query: CDN URLs carry signatures, and the path is what the user can act on. */
const shown = (url: URL) => `${url.origin}${url.pathname}`;
const seconds = (ms: number) => `${+(ms / 1000).toFixed(1)} s`;
const amount = (n: number) => (n < 2 ** 20 ? `${n} bytes` : `${(n / 2 ** 20).toFixed(1)} MiB`);

type Attempt<T> = { readonly value: T } | Failure;

/** An HTTP status as a failure: retryable for 408, 429 and 5xx. */
async function statusFailure(response: Response, url: URL, explain?: (status: number) => string): Promise<Failure> {
  const { status } = response;
  // a HEAD has no body: the hub then says why in X-Error-Message (as huggingface_hub reads it)
  const body = (await response.text().catch(() => '')) || (response.headers.get('x-error-message') ?? '');
  const hint = explain?.(status) ?? '';
  return {
    status,
    retryable: status === 408 || status === 429 || status >= 500,
    message: `${shown(url)} answered HTTP ${status} with ${describeBody(body, response.headers.get('content-type'))}${hint ? `. ${hint}` : ''}`,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
  };
}

/** `bytes 100-199/1000` → { start: 100, total: 1000 }; `bytes *\/1000` (a 416's) → { total: 1000 }. */
function contentRange(value: string | null): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(value?.trim() ?? '');
  if (!m) return {};
  return { start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const sizeOf = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

export function createHubClient(options: Partial<HubClientOptions> = {}): HubClient {
  const given = defined(options);
  const o = { ...HUB_CLIENT_DEFAULTS, fetch: globalThis.fetch, ...given } satisfies HubClientOptions;

  /** One request with redirects followed; the signal aborts when nothing arrives for `stallMs`. */
  async function request(start: URL, method: 'GET' | 'HEAD', extra: Record<string, string>, watchdog: Watchdog): Promise<{ response: Response; url: URL }> {
    let url = start;
    for (let hops = 0; ; hops++) {
      // NOTE: identity, or fetch inflates a gzipped body and its length no longer matches the file's
      const headers: Record<string, string> = { 'User-Agent': o.userAgent, 'Accept-Encoding': 'identity', ...extra };
      // NOTE: the token only to its own origin: a redirect to a CDN or another host must not carry it
      if (o.token && url.origin === o.tokenOrigin) headers.Authorization = `Bearer ${o.token}`;
      watchdog.arm();
      const response = await o.fetch(url, { method, headers, redirect: 'manual', signal: watchdog.signal });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status > 399 || location === null) return { response, url };
      await response.body?.cancel();
      // a HEAD redirected to another origin has its answer: the file exists (signed CDN URLs may refuse HEAD)
      if (method === 'HEAD' && new URL(location, url).origin !== url.origin) return { response, url };
      if (hops >= o.maxRedirects) throw new TagbooruError('E_IO', `${shown(start)}: more than ${o.maxRedirects} redirects (last to ${shown(new URL(location, url))})`);
      url = new URL(location, url);
    }
  }

  async function withRetries<T>(what: string, run: () => Promise<Attempt<T>>, onGiveUp: (failure: Failure, tries: string) => TagbooruError): Promise<T> {
    for (let n = 0; ; n++) {
      const r = await run();
      if ('value' in r) return r.value;
      const tries = n > 0 ? ` (${n + 1} attempts)` : '';
      if (!r.retryable || n >= o.retries) throw onGiveUp(r, tries);
      const wait = Math.min(r.retryAfterMs ?? o.backoffMs * 2 ** n, 60_000);
      o.onRetry?.(`${what}: ${r.message}; retry ${n + 1}/${o.retries} in ${seconds(wait)}`);
      await sleep(wait);
    }
  }

  async function existsOnce(url: URL, explain?: (status: number) => string): Promise<Attempt<boolean>> {
    const watchdog = new Watchdog(o.stallMs);
    try {
      const { response, url: last } = await request(url, 'HEAD', {}, watchdog);
      if (response.ok || (response.status >= 300 && response.status < 400)) return { value: true };
      if (response.status === 404) return { value: false };
      return await statusFailure(response, last, explain);
    } catch (e) {
      if (e instanceof TagbooruError) throw e;
      return watchdog.stalled ? watchdog.failure() : networkFailure(e, false, o.stallMs);
    } finally {
      watchdog.disarm();
    }
  }

  /** One GET from where the part ends; a complete part is the value, anything less a failure. */
  async function downloadOnce(t: DownloadTarget, part: string): Promise<Attempt<number>> {
    const have = sizeOf(part);
    const watchdog = new Watchdog(o.stallMs);
    let written = 0;
    try {
      const { response, url } = await request(t.url, 'GET', have > 0 ? { Range: `bytes=${have}-` } : {}, watchdog);
      if (response.status === 416) {
        // nothing after `have`: complete when the server's size agrees, else the part is not of this file
        const total = contentRange(response.headers.get('content-range')).total ?? t.expected.bytes;
        if (total === have && (t.expected.bytes === undefined || t.expected.bytes === have)) return { value: have };
        fs.rmSync(part, { force: true });
        return { retryable: true, message: `the ${amount(have)} already downloaded do not fit the server's file; starting again` };
      }
      if (response.status !== 200 && response.status !== 206) return await statusFailure(response, url, t.explain);
      const range = contentRange(response.headers.get('content-range'));
      if (response.status === 206 && range.start !== have) {
        await response.body?.cancel();
        fs.rmSync(part, { force: true });
        return { retryable: true, message: `asked for bytes from ${have} but received ${response.headers.get('content-range') ?? 'no Content-Range'}; starting again` };
      }
      const resumed = response.status === 206;
      const length = Number(response.headers.get('content-length') ?? NaN);
      const offered = response.status === 206 ? range.total : Number.isFinite(length) ? length : undefined;
      if (offered !== undefined && t.expected.bytes !== undefined && offered !== t.expected.bytes) {
        await response.body?.cancel();
        fs.rmSync(part, { force: true });
        throw new TagbooruError('E_IO', `${shown(url)} offers ${offered} bytes but ${t.expected.bytes} were expected: the file at this revision is not the one tagbooru knows`);
      }
      const total = t.expected.bytes ?? offered;
      const start = resumed ? have : 0;
      const out = fs.openSync(part, resumed ? 'a' : 'w');
      try {
        t.onBytes?.(start, total);
        for await (const chunk of response.body ?? []) {
          watchdog.arm();
          fs.writeSync(out, chunk as Uint8Array);
          written += (chunk as Uint8Array).byteLength;
          t.onBytes?.(start + written, total);
        }
      } finally {
        fs.closeSync(out);
      }
      const size = start + written;
      if (total !== undefined && size < total) return { retryable: true, message: `the transfer ended at ${size} of ${total} bytes` };
      if (total !== undefined && size > total) {
        fs.rmSync(part, { force: true });
        throw new TagbooruError('E_IO', `${shown(url)} sent ${size} bytes, more than the ${total} expected; the partial file was deleted`);
      }
      return { value: size };
    } catch (e) {
      if (e instanceof TagbooruError) throw e;
      const got = written > 0 ? ` after ${amount(written)}` : '';
      const failure = watchdog.stalled ? watchdog.failure() : networkFailure(e, false, o.stallMs);
      return { ...failure, message: `${failure.message}${got}` };
    } finally {
      watchdog.disarm();
    }
  }

  return {
    exists(url, explain) {
      return withRetries(`HEAD ${shown(url)}`, () => existsOnce(url, explain), (f, tries) => new TagbooruError('E_IO', `${f.message}${tries}`));
    },

    async download(t) {
      const part = `${t.file}.part`;
      // a finished file from an earlier run: reuse it when it can be checked, else let the server confirm it
      if (fs.existsSync(t.file)) {
        if (t.expected.bytes !== undefined && sizeOf(t.file) === t.expected.bytes && (!t.expected.sha256 || (await sha256Of(t.file)) === t.expected.sha256)) return t.expected.bytes;
        fs.renameSync(t.file, part);
      }
      const size = await withRetries(`GET ${shown(t.url)}`, () => downloadOnce(t, part), (f, tries) => {
        const kept = sizeOf(part);
        const resume = kept > 0 ? `; the ${amount(kept)} received are kept in ${part}: run the same command again to resume` : '';
        return new TagbooruError('E_IO', `${f.message}${tries}${resume}`);
      });
      if (t.expected.sha256) {
        const actual = await sha256Of(part);
        if (actual !== t.expected.sha256) {
          fs.rmSync(part, { force: true });
          throw new TagbooruError('E_IO', `${shown(t.url)}: sha256 ${actual} does not match the expected ${t.expected.sha256}; the download was deleted (run the command again to download it afresh)`);
        }
      }
      fs.renameSync(part, t.file);
      return size;
    },
  };
}

/** Aborts a request when nothing arrives for `ms`; re-armed on every response and chunk. */
class Watchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  stalled = false;

  constructor(private readonly ms: number) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.stalled = true;
      this.controller.abort();
    }, this.ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
  }

  failure(): Failure {
    return { retryable: true, message: `nothing received for ${seconds(this.ms)}` };
  }
}


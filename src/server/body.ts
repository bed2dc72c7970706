/**
 * Request bodies under a size and a time: a body larger than its limit is refused with 413 as soon as that shows
 * (from Content-Length, or while it streams), and one that has not arrived within the body timeout is cut off with
 * 408. Both answer before the body has been read, so the connection is closed after the answer (see app.ts).
 * Node's own cut-offs (headers or body far too slow, a malformed request) answer in the same JSON shape.
 */
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { HttpError } from './errors.ts';
import type { ResolvedOptions } from './options.ts';

export interface BodyLimit {
  readonly bytes: number;
  /** How the limit reads in a message, e.g. `the upload limit of 1048576 bytes (--max-upload)`. */
  readonly name: string;
}

export interface BodyLimits {
  /** Each uploaded file. */
  readonly file: BodyLimit;
  /** The whole body, every part together. */
  readonly request: BodyLimit;
  /** A raw body: one file, and the whole request. */
  readonly raw: BodyLimit;
  readonly timeoutMs: number;
}

export function bodyLimits(o: ResolvedOptions): BodyLimits {
  const file = { bytes: o.maxUploadBytes, name: `the upload limit of ${o.maxUploadBytes} bytes (--max-upload)` };
  const request = { bytes: o.maxRequestBytes, name: `the request size limit of ${o.maxRequestBytes} bytes (--max-request)` };
  return { file, request, raw: file.bytes <= request.bytes ? file : request, timeoutMs: o.bodyTimeoutMs };
}

export const tooLarge = (what: string, limit: BodyLimit) => new HttpError('E_TOO_LARGE', `${what} is larger than ${limit.name}`);

/** Refuse a body whose declared Content-Length is already over the limit, before a byte of it is read. */
export function checkDeclaredLength(headers: IncomingHttpHeaders, limit: BodyLimit): void {
  if (Number(headers['content-length']) > limit.bytes) throw tooLarge('the request body', limit);
}

const bodyTimeout = (ms: number) => new HttpError('E_BODY_TIMEOUT', `the request body did not arrive within the body timeout of ${ms} ms`);

/** `reading`, or a 408 when it has not settled within `ms`; whatever it does after that is moot (the connection closes). */
export function withinBodyTimeout<T>(reading: Promise<T>, ms: number): Promise<T> {
  reading.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(bodyTimeout(ms)), ms);
  });
  return Promise.race([reading, late]).finally(() => clearTimeout(timer));
}

/** A whole raw body (`Content-Type: image/png` and the like) as one buffer, within the limit and the body timeout. */
export function readRawBody(payload: Readable, headers: IncomingHttpHeaders, limit: BodyLimit, timeoutMs: number): Promise<Buffer> {
  checkDeclaredLength(headers, limit);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (error?: Error) => {
      clearTimeout(timer);
      payload.off('data', onData).off('end', onEnd).off('error', stop);
      if (!error) return;
      payload.pause(); // read no more of a refused body
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit.bytes) return stop(tooLarge('the request body', limit));
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const timer = setTimeout(() => stop(bodyTimeout(timeoutMs)), timeoutMs);
    payload.on('data', onData).on('end', onEnd).on('error', stop);
  });
}

/**
 * Fastify's `clientErrorHandler`: Node's own answers (a request past `requestTimeout`, headers too large, a
 * malformed request) in the API's `{ error, message }` shape instead of Fastify's.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const failure = error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? { status: 408, code: 'E_BODY_TIMEOUT', message: 'the request did not arrive within the request timeout' }
    : error.code === 'HPE_HEADER_OVERFLOW'
      ? { status: 431, code: 'E_TOO_LARGE', message: 'the request headers are larger than the header size limit' }
      : { status: 400, code: 'E_USAGE', message: 'malformed HTTP request' };
  const body = JSON.stringify({ error: failure.code, message: failure.message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${failure.status} ${STATUS_CODES[failure.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

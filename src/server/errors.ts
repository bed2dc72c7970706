/**
 * The one place errors become HTTP statuses. Library failures carry a TagbooruError code; the server adds the
 * conditions only HTTP has (busy, timed out, unauthorised, too large). Fastify's and @fastify/multipart's own
 * errors are folded in by their status, so every error body has one shape: `{ "error": code, "message": … }`
 * (danbooru/autotagger's shape, with our code in place of a Python exception name).
 */
import { TagbooruError, errorMessage, type ErrorCode } from '../errors.ts';

export type HttpErrorCode = ErrorCode | 'E_AUTH' | 'E_BUSY' | 'E_TIMEOUT' | 'E_BODY_TIMEOUT' | 'E_TOO_LARGE' | 'E_MEDIA_TYPE' | 'E_NOT_FOUND';

const STATUS: Record<HttpErrorCode, number> = {
  E_USAGE: 400,
  E_IMAGE: 400,
  E_AUTH: 401,
  E_NOT_FOUND: 404,
  E_BODY_TIMEOUT: 408,
  E_TOO_LARGE: 413,
  E_MEDIA_TYPE: 415,
  E_BUSY: 503,
  E_TIMEOUT: 503,
  E_WORKER: 503, // the pool is replacing the worker: a retry is likely to succeed
  E_IO: 500,
  E_MODEL: 500,
  E_BUNDLE: 500,
  E_INTERNAL: 500,
};

/** A condition of the HTTP layer; `retryAfter` (seconds) goes out as the `Retry-After` header. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface HttpFailure {
  readonly status: number;
  readonly code: HttpErrorCode;
  readonly message: string;
  readonly retryAfter?: number;
}

/** Fastify and plugin errors say their status; name them by it. */
function codeOfStatus(status: number): HttpErrorCode {
  if (status === 401) return 'E_AUTH';
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 408) return 'E_BODY_TIMEOUT';
  if (status === 413) return 'E_TOO_LARGE';
  if (status === 406 || status === 415) return 'E_MEDIA_TYPE';
  if (status === 503) return 'E_BUSY';
  if (status >= 400 && status < 500) return 'E_USAGE';
  return 'E_INTERNAL';
}

const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_REQ_FILE_TOO_LARGE: 'an uploaded file is larger than the upload limit',
  FST_FILES_LIMIT: 'too many files in one request',
  FST_FIELDS_LIMIT: 'too many form fields in one request',
  FST_PARTS_LIMIT: 'too many parts in one multipart body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is larger than the upload limit',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'Expected multipart/form-data for the request body',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Expected multipart/form-data or an image/* body',
};

export function toHttpFailure(error: unknown): HttpFailure {
  if (error instanceof HttpError) return { status: STATUS[error.code], code: error.code, message: error.message, retryAfter: error.retryAfter };
  if (error instanceof TagbooruError) {
    // a replacement worker starts in about a second: say when to retry, as a 503 should
    return { status: STATUS[error.code], code: error.code, message: error.message, ...(error.code === 'E_WORKER' && { retryAfter: 1 }) };
  }
  const e = error as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600) {
    const code = codeOfStatus(e.statusCode);
    const known = typeof e.code === 'string' ? FRAMEWORK_MESSAGES[e.code] : undefined;
    return { status: code === 'E_MEDIA_TYPE' ? 415 : e.statusCode, code, message: known ?? errorMessage(error) };
  }
  return { status: 500, code: 'E_INTERNAL', message: errorMessage(error) };
}

/**
 * The messages every worker thread and its caller exchange: a start handshake (`ready` with what the worker
 * offers, or `failed`), requests by id, one answer per id, and errors as plain data that become coded errors
 * again on the other side.
 */
import { TagbooruError, errorMessage, isErrorCode, type ErrorCode } from '../errors.ts';

/** An error crossing the thread boundary; structured cloning would drop its class and code. */
export interface WireError {
  readonly code?: string;
  readonly message: string;
  readonly cause?: string;
}

/** What the next request meets instead of an answer (tests only): a death from inside, or a worker that holds it. */
export type NextCall = { readonly exit: number } | 'hold';

/** A request; a stop (close after what runs now); or, for tests, what the next request is to meet. */
export type ToWorker =
  | { readonly id: number; readonly request: unknown }
  | { readonly id: -1; readonly stop: true }
  | { readonly id: -1; readonly nextCall: NextCall };

export type FromWorker =
  | { readonly type: 'ready'; readonly info: unknown }
  | { readonly type: 'failed'; readonly error: WireError }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'error'; readonly id: number; readonly error: WireError };

export function toWire(error: unknown): WireError {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: unknown };
  return {
    code: typeof code === 'string' ? code : undefined,
    message: errorMessage(error),
    cause: cause === undefined ? undefined : errorMessage(cause),
  };
}

/** The error again, with its code when it had one of ours, else `uncoded`; a cause comes back as its text. */
export function fromWire(error: WireError, uncoded: ErrorCode): TagbooruError {
  return new TagbooruError(isErrorCode(error.code) ? error.code : uncoded, error.message, error.cause === undefined ? undefined : { cause: error.cause });
}

/** A value whose buffers move to the other thread instead of being copied. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: readonly ArrayBuffer[],
  ) {}
}

/** `value`, with `buffers` moved rather than copied. */
export const transfer = <T>(value: T, buffers: readonly ArrayBufferLike[]): Transfer<T> => new Transfer(value, buffers as ArrayBuffer[]);

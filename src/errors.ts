/**
 * Every failure the library reports carries a code. The CLI maps codes to exit statuses and the server
 * to HTTP statuses, each in one place; nothing else inspects messages.
 */
export type ErrorCode =
  | 'E_USAGE' // a bad option or argument
  | 'E_IMAGE' // an input that is not a decodable image, or is too large
  | 'E_IO' // a file that cannot be read or written
  | 'E_MODEL' // an unknown architecture or a model that does not fit its tags
  | 'E_BUNDLE' // a model bundle that is missing or malformed
  | 'E_WORKER' // a worker thread died (crash, out of memory, terminated): what died, its exit code, how to retry
  | 'E_INTERNAL';

// a Record, so a code added above cannot compile without being known here
const CODES: Record<ErrorCode, true> = { E_USAGE: true, E_IMAGE: true, E_IO: true, E_MODEL: true, E_BUNDLE: true, E_WORKER: true, E_INTERNAL: true };

/** A code as it arrives from elsewhere (another thread, a wire): one of ours or not. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(CODES, code);
}

export class TagbooruError extends Error {
  override readonly name = 'TagbooruError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A broken internal invariant: a bug in tagbooru if it fires, never a user's mistake (those are TagbooruErrors
 * with a code). The lint rule allows plain errors only under this name, so `grep InvariantError` lists them all.
 */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** A value as an error message shows it: `"x"`, `null`, `an array of length 3`, `1.5 of type number`. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `${typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value)} of type ${typeof value}`;
}

/** `Expected number between 0 and 1 for threshold but received 1.5 of type number`, then why, when it is not plain. */
export function invalidOption(name: string, expected: string, received: unknown, why?: string): TagbooruError {
  return new TagbooruError('E_USAGE', `Expected ${expected} for ${name} but received ${describeValue(received)}${why ? `: ${why}` : ''}`);
}

export function expectNumberInRange(name: string, value: unknown, min: number, max: number, integer = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!ok) throw invalidOption(name, `${integer ? 'integer' : 'number'} between ${min} and ${max}`, value);
  return value;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

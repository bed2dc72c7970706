/**
 * A request's images and fields: multipart `file` parts (repeatable) and text fields, or, where a route allows
 * it, a raw `image/*` body. Query parameters count as fields, as Flask's `request.values` merges them. Field
 * names are the CLI's option names; `mask_threshold` reads as `mask-threshold`, for clients that prefer it.
 * A multipart body is read here, under the request size limit (every part together) and the body timeout; a raw
 * body was read by its content-type parser under the same limits (body.ts).
 */
import type { MultipartFile } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { TagbooruError, errorMessage } from '../errors.ts';
import { checkDeclaredLength, tooLarge, withinBodyTimeout, type BodyLimit, type BodyLimits } from './body.ts';
import { HttpError } from './errors.ts';
import { Fields } from './fields.ts';
import type { Upload } from './tagging.ts';

export const FILE_FIELD = 'file';

export interface Form {
  readonly files: Upload[];
  readonly fields: Fields;
}

export interface FormOptions {
  /** Field names the route accepts besides `file`. */
  readonly known: readonly string[];
  /** Called as soon as a field is read, so an error can be answered in the format it asked for. */
  readonly onField?: (name: string, value: string) => void;
}

/** `top_k` and `top-k` name the same field. */
const fieldName = (name: string) => name.replace(/_/g, '-');

function addTo(map: Map<string, string[]>, name: string, value: string): void {
  const list = map.get(name);
  if (list) list.push(value);
  else map.set(name, [value]);
}

function queryFields(request: FastifyRequest, options: FormOptions): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [raw, value] of Object.entries((request.query ?? {}) as Record<string, string | string[]>)) {
    const name = fieldName(raw);
    for (const v of Array.isArray(value) ? value : [value]) {
      addTo(map, name, v);
      options.onField?.(name, v);
    }
  }
  return map;
}

export async function readForm(request: FastifyRequest, options: FormOptions, limits: BodyLimits): Promise<Form> {
  const known = [FILE_FIELD, ...options.known];
  const values = queryFields(request, options);
  Fields.check(values.keys(), known);
  const files: Upload[] = [];

  if (Buffer.isBuffer(request.body)) {
    // a raw body has no part header to carry its name: `?filename=` does
    const name = values.get('filename')?.[0] ?? 'upload';
    files.push({ name, data: request.body });
  } else if (request.isMultipart()) {
    checkDeclaredLength(request.headers, limits.request);
    files.push(...(await withinBodyTimeout(readParts(request, { known, options, limits, values }), limits.timeoutMs)));
  } else {
    throw new HttpError('E_MEDIA_TYPE', `Expected multipart/form-data with a "${FILE_FIELD}" field but received ${request.headers['content-type'] ?? 'no content type'}`);
  }
  if (files.length === 0) throw new TagbooruError('E_USAGE', `no image: send one or more files in the multipart field "${FILE_FIELD}"`);
  return { files, fields: new Fields(values) };
}

interface Reading {
  readonly known: readonly string[];
  readonly options: FormOptions;
  readonly limits: BodyLimits;
  /** The fields read so far (the query's), added to as parts arrive. */
  readonly values: Map<string, string[]>;
}

/** The files of a multipart body, its text fields added to `values`; every part counts against the request size. */
async function readParts(request: FastifyRequest, { known, options, limits, values }: Reading): Promise<Upload[]> {
  const files: Upload[] = [];
  let size = 0;
  const count = (bytes: number) => {
    size += bytes;
    if (size > limits.request.bytes) throw tooLarge('the request body', limits.request);
  };
  try {
    for await (const part of request.parts()) {
      const name = fieldName(part.fieldname);
      Fields.check([name], known);
      if (part.type === 'file') {
        if (part.fieldname !== FILE_FIELD) throw new TagbooruError('E_USAGE', `field "${part.fieldname}" holds a file; send images as "${FILE_FIELD}"`);
        const filename = part.filename || `upload ${files.length + 1}`;
        files.push({ name: filename, data: await readFile(part, filename, limits.file, count) });
      } else {
        if (name === FILE_FIELD) throw new TagbooruError('E_USAGE', `field "${FILE_FIELD}" must be a file upload (multipart with a filename), not text`);
        if (part.valueTruncated) throw new HttpError('E_TOO_LARGE', `field "${part.fieldname}" is longer than the field size limit`);
        const value = typeof part.value === 'string' ? part.value : String(part.value);
        count(Buffer.byteLength(value));
        addTo(values, name, value);
        options.onField?.(name, value);
      }
    }
  } catch (e) {
    throw multipartError(e);
  }
  return files;
}

/** One file part's bytes, each chunk counted against the whole request as it arrives. */
async function readFile(part: MultipartFile, filename: string, limit: BodyLimit, count: (bytes: number) => void): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of part.file as AsyncIterable<Buffer>) {
    count(chunk.length);
    chunks.push(chunk);
  }
  if (part.file.truncated) throw tooLarge(`"${filename}"`, limit);
  return Buffer.concat(chunks);
}

/** Busboy's own failures carry no status: they are a body that is not valid multipart. */
function multipartError(e: unknown): unknown {
  if (e instanceof TagbooruError || e instanceof HttpError) return e;
  if (typeof (e as { statusCode?: unknown }).statusCode === 'number') return e;
  return new TagbooruError('E_USAGE', `malformed multipart body: ${errorMessage(e)}`, { cause: e });
}

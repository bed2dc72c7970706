/**
 * safetensors (huggingface/safetensors): an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__: { string: string } }`, then raw data.
 * Only F32 tensors are written; that is all tagbooru keeps. The metadata's `sha256` is the digest of the data
 * section (all that follows the header); a file that records one is checked when read, so a flipped bit is an
 * error, not a silently different model.
 */
import { createHash } from 'node:crypto';
import { TagbooruError } from '../errors.ts';

export interface TensorEntry {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

const bytesOf = (t: TensorEntry) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

export function encodeSafetensors(tensors: ReadonlyMap<string, TensorEntry>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const digest = createHash('sha256');
  for (const name of names) digest.update(bytesOf(tensors.get(name)!));
  const header: Record<string, unknown> = { __metadata__: { ...metadata, sha256: digest.digest('hex') } };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = Buffer.from(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    out.set(bytesOf(tensors.get(name)!), at);
    at += tensors.get(name)!.data.byteLength;
  }
  return out;
}

/** A model's variables (src/models/shapes.ts) as a bundle keeps them (weights.safetensors): every variable under its `<layer>/<variable>` key, with its shape. */
export function encodeWeights(vars: readonly { readonly key: string; readonly shape: readonly number[] }[], weights: ReadonlyMap<string, Float32Array>): Uint8Array {
  const tensors = new Map<string, TensorEntry>();
  for (const v of vars) {
    const data = weights.get(v.key), n = v.shape.reduce((p, d) => p * d, 1);
    if (data?.length !== n) throw new TagbooruError('E_MODEL', `${v.key}: expected ${n} values ([${v.shape.join(',')}]) but received ${data ? data.length : 'none'}`);
    tensors.set(v.key, { data, shape: v.shape });
  }
  return encodeSafetensors(tensors, { format: 'tagbooru-weights' });
}

export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): { tensors: Map<string, TensorEntry>; metadata: Record<string, string> } {
  const fail = (why: string) => new TagbooruError('E_IO', `${source}: ${why}`);
  if (bytes.length < 8) throw fail('file too short');
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > bytes.length) throw fail('truncated header');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as typeof header;
  } catch {
    throw fail('malformed header');
  }
  const base = 8 + n;
  const tensors = new Map<string, TensorEntry>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw fail(`${name} is ${e.dtype}; only F32 is read`);
    const [b, end] = e.data_offsets;
    if (base + end > bytes.length || end - b !== 4 * e.shape.reduce((p, d) => p * d, 1)) throw fail(`${name}: data out of range (truncated file?)`);
    const copy = new Float32Array(e.shape.reduce((p, d) => p * d, 1));
    new Uint8Array(copy.buffer).set(bytes.subarray(base + b, base + end));
    tensors.set(name, { data: copy, shape: e.shape });
  }
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (metadata.sha256 !== undefined) {
    const actual = createHash('sha256').update(bytes.subarray(base)).digest('hex');
    if (actual !== metadata.sha256) throw fail(`checksum mismatch: the tensor data hashes to sha256 ${actual}, the header records ${metadata.sha256}`);
  }
  return { tensors, metadata };
}

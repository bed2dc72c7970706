/**
 * One checkpoint folder: `state.safetensors` (weights and optimizer slots, the data's sha256 in its header) and
 * `checkpoint.json` (counters, the caller's `extra`, the state file's size and sha256, its own sha256). The
 * folder is written whole or not at all. Reading checks the JSON, the size, the digests and that every value
 * is finite, and rejects a damaged checkpoint with E_IO naming the bad file and what is wrong with it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFolderAtomic } from '../atomic-files.ts';
import { TagbooruError, errorMessage } from '../errors.ts';
import { decodeSafetensors, encodeSafetensors, type TensorEntry } from '../formats/safetensors.ts';

export const CHECKPOINT_FORMAT = 'tagbooru-checkpoint';
const VERSION = 2;
const STATE = 'state.safetensors';
const META = 'checkpoint.json';

export interface CheckpointMeta {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: number;
  readonly model: string;
  readonly tags: number;
  readonly counters: { readonly step: number };
  /** The run's save number (1, 2, …), as the folder name carries it. */
  readonly sequence?: number;
  readonly extra: Record<string, unknown>;
  readonly savedAt: string;
  /** The state file's; since version 2, as is `sha256`. A version 1 checkpoint is read unverified. */
  readonly state?: { readonly bytes: number; readonly sha256: string };
  /** Of this JSON without this field, as `JSON.stringify` writes it compactly: a changed position or step is caught too. */
  readonly sha256?: string;
}

export type CheckpointInfo = Omit<CheckpointMeta, 'format' | 'version' | 'state' | 'sha256'> & Record<string, unknown>;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export async function writeCheckpoint(dir: string, tensors: ReadonlyMap<string, TensorEntry>, info: CheckpointInfo): Promise<void> {
  const state = encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT });
  const meta = { format: CHECKPOINT_FORMAT, version: VERSION, ...info, state: { bytes: state.length, sha256: sha256(state) } };
  const text = JSON.stringify({ ...meta, sha256: sha256(JSON.stringify(meta)) }, null, 1);
  await writeFolderAtomic(dir, new Map<string, Uint8Array | string>([[STATE, state], [META, `${text}\n`]]));
}

const rejected = (file: string, why: string) => new TagbooruError('E_IO', `${file}: ${why}`);

async function readPart<T>(file: string, read: (file: string) => Promise<T>): Promise<T> {
  try {
    return await read(file);
  } catch (e) {
    throw rejected(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : errorMessage(e));
  }
}

function parseMeta(text: string, file: string): CheckpointMeta {
  let meta: Partial<CheckpointMeta> | null;
  try {
    meta = JSON.parse(text) as Partial<CheckpointMeta> | null;
  } catch (e) {
    throw rejected(file, `not valid JSON (${errorMessage(e)})`);
  }
  if (meta?.format !== CHECKPOINT_FORMAT) throw rejected(file, `not a tagbooru checkpoint (no "format": "${CHECKPOINT_FORMAT}")`);
  const { sha256: recorded, ...content } = meta;
  const predatesDigests = meta.version === 1 && recorded === undefined && meta.state === undefined;
  if (!predatesDigests) {
    const actual = sha256(JSON.stringify(content));
    if (actual !== recorded) throw rejected(file, recorded === undefined ? 'lacks its "sha256"' : `checksum mismatch: its content hashes to sha256 ${actual}, its "sha256" records ${recorded}`);
  }
  const step = meta.counters?.step;
  if (!Number.isInteger(step) || step! < 0) throw rejected(file, `"counters.step" must be a non-negative integer, got ${JSON.stringify(step)}`);
  return meta as CheckpointMeta;
}

function checkFinite(tensors: ReadonlyMap<string, TensorEntry>, file: string): void {
  for (const [name, { data }] of tensors) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw rejected(file, `${name}[${i}] is ${data[i]}; a checkpoint holds only finite values`);
    }
  }
}

/** The checkpoint in `dir`, verified, or an E_IO error naming the file that fails and why. */
export async function readCheckpoint(dir: string): Promise<{ meta: CheckpointMeta; tensors: Map<string, TensorEntry>; stateFile: string }> {
  const metaFile = path.join(dir, META), stateFile = path.join(dir, STATE);
  const meta = parseMeta(await readPart(metaFile, (f) => fs.readFile(f, 'utf8')), metaFile);
  const bytes = await readPart(stateFile, (f) => fs.readFile(f));
  if (meta.state) {
    const { bytes: size, sha256: recorded } = meta.state;
    if (bytes.length !== size) throw rejected(stateFile, `${bytes.length < size ? 'truncated: ' : ''}${bytes.length} bytes where ${META} records ${size}`);
    const actual = sha256(bytes);
    if (actual !== recorded) throw rejected(stateFile, `checksum mismatch: the file hashes to sha256 ${actual}, ${META} records ${recorded}`);
  }
  const { tensors } = decodeSafetensors(bytes, stateFile);
  checkFinite(tensors, stateFile);
  return { meta, tensors, stateFile };
}

/**
 * The only import of h5wasm: read-only access to the HDF5 files Keras writes (attributes, groups,
 * float datasets). HDF5's own error stack is turned into one line that says what is wrong with the file.
 */
import fs from 'node:fs';
import h5wasm, { ready } from 'h5wasm/node';
import { TagbooruError, errorMessage } from '../errors.ts';

let initialised: Promise<void> | null = null;

/** Load the WebAssembly module once and make HDF5 errors throw instead of printing to stderr. */
function init(): Promise<void> {
  initialised ??= ready.then((module) => {
    module.activate_throwing_error_handler();
  });
  return initialised;
}

/** HDF5 reports a stack of frames; the deepest names the cause ("truncated file: eof = …"). */
function hdf5Reason(e: unknown): string {
  const text = errorMessage(e);
  const frames = [...text.matchAll(/#\d+: .*? in [\w]+\(\): (.*)$/gm)].map((m) => m[1]!.trim());
  return frames.at(-1) ?? text.split('\n')[0]!;
}

export interface FloatArray {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

export class H5File {
  private constructor(
    readonly file: string,
    private readonly h5: InstanceType<typeof h5wasm.File>,
  ) {}

  static async open(file: string): Promise<H5File> {
    await init();
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) throw new TagbooruError('E_IO', `cannot read ${file}: no such file`);
    let h5: InstanceType<typeof h5wasm.File>;
    try {
      h5 = new h5wasm.File(file, 'r');
    } catch (e) {
      const reason = hdf5Reason(e);
      const what = /truncated/i.test(reason) ? 'is truncated (an interrupted download?)' : 'is not a readable HDF5 file';
      throw new TagbooruError('E_MODEL', `${file} ${what}: ${reason}`, { cause: e });
    }
    return new H5File(file, h5);
  }

  private entity(p: string) {
    try {
      return p === '/' || p === '' ? this.h5 : this.h5.get(p);
    } catch (e) {
      throw new TagbooruError('E_MODEL', `${this.file}: cannot read ${p}: ${hdf5Reason(e)}`, { cause: e });
    }
  }

  isGroup(p: string): boolean {
    return this.entity(p) instanceof h5wasm.Group;
  }

  /** Child names of a group, or [] when `p` is not a group. */
  keys(p: string): string[] {
    const g = this.entity(p);
    return g instanceof h5wasm.Group ? g.keys() : [];
  }

  attrNames(p: string): string[] {
    const e = this.entity(p);
    return e instanceof h5wasm.Group || e instanceof h5wasm.Dataset ? Object.keys(e.attrs) : [];
  }

  /** An attribute's value (strings for Keras' byte strings), or undefined when absent. */
  attr(p: string, name: string): unknown {
    const e = this.entity(p);
    if (!(e instanceof h5wasm.Group || e instanceof h5wasm.Dataset)) return undefined;
    const a = e.attrs[name];
    if (!a) return undefined;
    try {
      const v = a.value;
      return ArrayBuffer.isView(v) ? Array.from(v as ArrayLike<number>) : v;
    } catch (e) {
      throw new TagbooruError('E_MODEL', `${this.file}: cannot read attribute ${name} of ${p}: ${hdf5Reason(e)}`, { cause: e });
    }
  }

  /** A float dataset as float32 (float64 is converted). */
  floats(p: string): FloatArray {
    const d = this.entity(p);
    if (!(d instanceof h5wasm.Dataset)) throw new TagbooruError('E_MODEL', `${this.file}: ${d ? `${p} is not a dataset` : `no dataset at ${p}`}`);
    const ds = d;
    let value: unknown;
    try {
      value = ds.value;
    } catch (e) {
      throw new TagbooruError('E_MODEL', `${this.file}: cannot read ${p}: ${hdf5Reason(e)}`, { cause: e });
    }
    const shape = ds.shape ?? [];
    if (value instanceof Float32Array) return { data: value, shape };
    if (value instanceof Float64Array) return { data: Float32Array.from(value), shape };
    throw new TagbooruError('E_MODEL', `${this.file}: ${p} has dtype ${JSON.stringify(ds.dtype)}; expected float32`);
  }

  close(): void {
    this.h5.close();
  }
}

/**
 * The only import of onnxruntime-node. Sessions run one model with the settings the ONNX training
 * experiment found best on CPU (intra-op threads = cores, one inter-op thread, full graph optimisation).
 */
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { TagbooruError, errorMessage } from '../errors.ts';
import { importNative } from '../native.ts';

export interface TensorData {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface IoSpec {
  readonly name: string;
  /** Numbers are fixed sizes; strings or −1 are symbolic. Empty when the model does not say. */
  readonly shape: readonly (number | string)[];
}

export interface SessionOptions {
  /** Intra-op threads; default: the number of CPU cores. */
  readonly threads?: number;
  /** Let idle pool threads spin; turn off for sessions that share the machine with another busy one. */
  readonly spinning?: boolean;
  /**
   * ORT's memory pattern: one planned block for all intermediates. Off for training graphs, where it raised
   * peak RSS by 50–60 % and made the first two runs slow instead of one (see README.md, Benchmarks: training).
   */
  readonly memoryPattern?: boolean;
}

let runtime: Promise<typeof Ort> | undefined;

/** Loaded with the first session, so commands that never run a model never need its binaries. */
function onnxRuntime(): Promise<typeof Ort> {
  return (runtime ??= importNative<typeof Ort>('onnxruntime-node'));
}

export class ModelSession {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    readonly inputs: readonly IoSpec[],
    readonly outputs: readonly IoSpec[],
  ) {}

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<ModelSession> {
    const opts: Ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: options.threads ?? Math.max(1, os.availableParallelism()),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableMemPattern: options.memoryPattern ?? true,
      ...(options.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    const ort = await onnxRuntime();
    let session: Ort.InferenceSession;
    try {
      session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
    } catch (e) {
      const where = typeof model === 'string' ? ` ${model}` : '';
      throw new TagbooruError('E_BUNDLE', `ONNX Runtime could not load the model${where}: ${errorMessage(e)}`, { cause: e });
    }
    const spec = (m: readonly Ort.InferenceSession.ValueMetadata[]) =>
      m.map((v) => ({ name: v.name, shape: v.isTensor ? v.shape.map((d) => (typeof d === 'number' && d < 0 ? 'N' : d)) : [] }));
    return new ModelSession(ort, session, spec(session.inputMetadata), spec(session.outputMetadata));
  }

  async run(feeds: Record<string, TensorData>, fetches?: readonly string[]): Promise<Record<string, TensorData>> {
    const ortFeeds: Record<string, Ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new this.ort.Tensor('float32', t.data, t.dims);
    const result = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    const out: Record<string, TensorData> = {};
    for (const [name, t] of Object.entries(result)) {
      if (t.type !== 'float32') throw new TagbooruError('E_MODEL', `output ${name} is ${t.type}; tagbooru reads float32 outputs`);
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * `createTrainer(...)`: the training API. The engine runs in a worker thread; this side only passes
 * batches and commands, so a server or a progress bar on the main thread stays responsive.
 */
import type { BundleManifest } from '../infer/bundle.ts';
import { siblingModule } from '../package.ts';
import { WorkerClient } from '../workers/client.ts';
import type { Call } from './_worker.ts';
import type { Counters, EngineConfig, SoftTargets, StepResult } from './engine.ts';

const MODULE = siblingModule('./_worker.ts', import.meta.url).href;

export type TrainerConfig = EngineConfig;
type Method = Call['method'];
type ArgsOf<M extends Method> = Extract<Call, { method: M }>['args'];

export class Trainer {
  private constructor(
    private readonly worker: WorkerClient<Call, unknown>,
    readonly config: TrainerConfig,
  ) {}

  static async start(config: TrainerConfig): Promise<Trainer> {
    const worker = await WorkerClient.start<Call, unknown>({
      name: 'the training worker',
      module: MODULE,
      init: { config },
      // the weights lived in the worker: the last checkpoint is what is left
      retry: 'create a new trainer and load the last checkpoint to go on',
      uncodedStart: 'E_MODEL',
    });
    return new Trainer(worker, config);
  }

  private call<M extends Method>(method: M, args: ArgsOf<M>, transfer: ArrayBufferLike[] = []): Promise<unknown> {
    return this.worker.call({ method, args } as Call, transfer);
  }

  /** One optimizer step on exactly `batchSize` images (NHWC floats), their multi-hot labels, optionally which labels are known (0 = unknown), and with distillation the teacher's soft targets. */
  step(x: Float32Array, labels: Float32Array, lr: number, options: { probs?: boolean; mask?: Float32Array; teacher?: SoftTargets } = {}): Promise<StepResult> {
    const { mask, teacher } = options;
    const transfer = [x.buffer, labels.buffer, ...(mask ? [mask.buffer] : []), ...(teacher ? [teacher.logits.buffer, teacher.mask.buffer] : [])];
    return this.call('step', [x, labels, lr, options.probs ?? false, mask, teacher], transfer) as Promise<StepResult>;
  }

  /** Probabilities with the moving BN statistics, for any number of images; the loss when labels are given. */
  evaluate(x: Float32Array, count: number, labels?: Float32Array): Promise<{ probs: Float32Array; loss?: number }> {
    return this.call('evaluate', [x, count, labels]) as Promise<{ probs: Float32Array; loss?: number }>;
  }

  /** Writes the folder whole or not at all; `sequence` numbers the saves of a run (see checkpoints.ts). */
  saveCheckpoint(dir: string, extra: Record<string, unknown> = {}, sequence?: number): Promise<void> {
    return this.call('saveCheckpoint', [dir, extra, sequence]) as Promise<void>;
  }

  /** Restores weights, optimizer slots and counters and returns the `extra` saved with them; a damaged checkpoint is an E_IO error naming the file, and changes nothing. */
  loadCheckpoint(dir: string): Promise<Record<string, unknown>> {
    return this.call('loadCheckpoint', [dir]) as Promise<Record<string, unknown>>;
  }

  /** Returns the keys taken; with `strict: false` mismatched or missing tensors keep their initialisation. */
  setWeights(weights: Map<string, Float32Array>, options: { strict?: boolean } = {}): Promise<string[]> {
    return this.call('setWeights', [weights, options.strict ?? true]) as Promise<string[]>;
  }

  getWeights(): Promise<Map<string, Float32Array>> {
    return this.call('getWeights', []) as Promise<Map<string, Float32Array>>;
  }

  counters(): Promise<Counters> {
    return this.call('counters', []) as Promise<Counters>;
  }

  /** An inference bundle (BN folded, weights baked in) from the current weights. */
  exportBundle(dir: string, manifest: ArgsOf<'exportBundle'>[1]): Promise<string> {
    return this.call('exportBundle', [dir, manifest]) as Promise<string>;
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}

export function createTrainer(config: TrainerConfig): Promise<Trainer> {
  return Trainer.start(config);
}

export type { BundleManifest, SoftTargets };

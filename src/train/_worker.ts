/** The trainer's worker: owns one Engine and answers calls in order, so the main thread never blocks on ORT. */
import { parentPort, workerData } from 'node:worker_threads';
import { writeAtomic } from '../atomic-files.ts';
import { errorMessage } from '../errors.ts';
import { WEIGHTS_FILE, writeBundle, type BundleManifest } from '../infer/bundle.ts';
import { exportInference } from '../models/export.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Engine, type EngineConfig } from './engine.ts';
import { encodeWeights } from '../formats/safetensors.ts';

export type Call =
  | { id: number; method: 'step'; args: [x: Float32Array, labels: Float32Array, lr: number, probs: boolean] }
  | { id: number; method: 'evaluate'; args: [x: Float32Array, count: number, labels?: Float32Array] }
  | { id: number; method: 'saveCheckpoint'; args: [dir: string, extra: Record<string, unknown>, sequence?: number] }
  | { id: number; method: 'loadCheckpoint'; args: [dir: string] }
  | { id: number; method: 'setWeights'; args: [weights: Map<string, Float32Array>, strict: boolean] }
  | { id: number; method: 'getWeights'; args: [] }
  | { id: number; method: 'exportBundle'; args: [dir: string, manifest: Omit<BundleManifest, 'architecture' | 'input' | 'output' | 'model' | 'weights'>] }
  | { id: number; method: 'counters'; args: [] };

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string; code?: string } | { id: -1; ok: true; value: 'ready' };

const port = parentPort!;
const { config } = workerData as { config: EngineConfig };

async function dispatch(engine: Engine, call: Call): Promise<unknown> {
  switch (call.method) {
    case 'step': return engine.step(...call.args);
    case 'evaluate': return engine.evaluate(...call.args);
    case 'saveCheckpoint': return engine.saveCheckpoint(...call.args);
    case 'loadCheckpoint': return engine.loadCheckpoint(...call.args);
    case 'setWeights': return engine.setWeights(call.args[0], { strict: call.args[1] });
    case 'getWeights': return new Map([...engine.getWeights()].map(([k, v]) => [k, v.slice()]));
    case 'counters': return { ...engine.counters };
    case 'exportBundle': {
      const [dir, manifest] = call.args;
      const model = exportInference(engine.spec, engine.getWeights());
      await fs.mkdir(dir, { recursive: true });
      await writeAtomic(path.join(dir, WEIGHTS_FILE), encodeWeights(engine.variables, engine.getWeights()));
      await writeBundle(dir, { ...manifest, architecture: engine.spec.name, model: 'model.onnx', weights: WEIGHTS_FILE, input: { name: 'input', batch: 'dynamic' }, output: { name: 'predictions', activation: 'sigmoid' } }, model);
      return dir;
    }
  }
}

try {
  const engine = await Engine.create(config);
  port.postMessage({ id: -1, ok: true, value: 'ready' } satisfies Reply);
  // calls run strictly one after another: a step must never overlap a checkpoint
  let queue = Promise.resolve();
  port.on('message', (call: Call) => {
    queue = queue.then(async () => {
      try {
        port.postMessage({ id: call.id, ok: true, value: await dispatch(engine, call) } satisfies Reply);
      } catch (e) {
        port.postMessage({ id: call.id, ok: false, message: errorMessage(e), code: (e as { code?: string }).code } satisfies Reply);
      }
    });
  });
} catch (e) {
  port.postMessage({ id: -1, ok: false, message: errorMessage(e), code: (e as { code?: string }).code } satisfies Reply);
}

/** The trainer's worker: owns one Engine and answers calls in order, so the main thread never blocks on ORT. */
import { writeAtomic } from '../atomic-files.ts';
import { SPEC_FILE, WEIGHTS_FILE, writeBundle, type BundleManifest } from '../infer/bundle.ts';
import { exclusiveGroupsOf } from '../models/exclusive.ts';
import { exportInference } from '../models/export.ts';
import { encodeSpec } from '../models/spec-file.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Engine, type EngineConfig, type SoftTargets } from './engine.ts';
import { encodeWeights } from '../formats/safetensors.ts';
import { serve } from '../workers/serve.ts';

export type Call =
  | { method: 'step'; args: [x: Float32Array, labels: Float32Array, lr: number, probs: boolean, mask?: Float32Array, teacher?: SoftTargets] }
  | { method: 'evaluate'; args: [x: Float32Array, count: number, labels?: Float32Array] }
  | { method: 'saveCheckpoint'; args: [dir: string, extra: Record<string, unknown>, sequence?: number] }
  | { method: 'loadCheckpoint'; args: [dir: string] }
  | { method: 'setWeights'; args: [weights: Map<string, Float32Array>, strict: boolean] }
  | { method: 'getWeights'; args: [] }
  | { method: 'exportBundle'; args: [dir: string, manifest: Omit<BundleManifest, 'architecture' | 'input' | 'output' | 'model' | 'weights' | 'spec'>] }
  | { method: 'counters'; args: [] };

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
      // the architecture rebuilt by name lacks the exclusive groups: the layers then travel as spec.json
      const grouped = exclusiveGroupsOf(engine.spec).length > 0;
      if (grouped) await writeAtomic(path.join(dir, SPEC_FILE), encodeSpec(engine.spec));
      await writeBundle(dir, { ...manifest, architecture: engine.spec.name, model: 'model.onnx', weights: WEIGHTS_FILE, ...(grouped && { spec: SPEC_FILE }), input: { name: 'input', batch: 'dynamic' }, output: { name: 'predictions', activation: 'sigmoid' } }, model);
      return dir;
    }
  }
}

// calls run strictly one after another: a step must never overlap a checkpoint
await serve<{ config: EngineConfig }, Call, unknown>(async ({ config }) => {
  const engine = await Engine.create(config);
  return { handle: (call) => dispatch(engine, call) };
}, { serial: true });

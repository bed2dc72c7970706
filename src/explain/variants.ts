/**
 * The models the methods run, built from a bundle on first use: the probe (model.onnx plus `cam` and feature
 * outputs, for cam and scorecam) and the gradient graphs (gradcam, saliency) from the training weights.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import type { Bundle } from '../infer/bundle.ts';
import { buildModel } from '../models/registry.ts';
import type { ModelSpec, Weights } from '../models/spec.ts';
import { decodeSafetensors } from '../train/safetensors.ts';
import { probeVariant, type ProbeVariant } from './surgery.ts';

export type VariantName = 'probe' | 'gradcam' | 'saliency';

export type VariantInfo =
  | ({ readonly variant: 'probe' } & Omit<ProbeVariant, 'model'>)
  | { readonly variant: 'gradcam'; readonly layer: string }
  | { readonly variant: 'saliency' };

/** Input and output names of the gradient graphs (src/autodiff/explain-graph.ts). */
export const GRAD_IO = { x: 'x', seed: 'seed', features: 'features', featuresGrad: 'features_grad', inputGrad: 'input_grad', probs: 'probs' } as const;

/** gradcam and saliency run the unfolded training model: refuse a bundle without one, saying what to use. */
export function requireTrainingModel(bundle: Bundle, method: string): { architecture: string; weights: string } {
  const { architecture, weights } = bundle.manifest;
  if (!weights || !architecture) {
    const missing = [!architecture && '`architecture`', !weights && '`weights`'].filter(Boolean).join(' and ');
    throw new TagbooruError('E_MODEL', `${method} needs a tagbooru-trained or Keras-imported bundle; use scorecam (${bundle.dir}: tagger.json has no ${missing})`);
  }
  return { architecture, weights };
}

/** The unfolded training model of a bundle: its architecture rebuilt and weights.safetensors read. */
export async function loadTrainingModel(bundle: Bundle, method: string): Promise<{ spec: ModelSpec; weights: Weights }> {
  const { architecture, weights } = requireTrainingModel(bundle, method);
  const m = bundle.manifest;
  const spec = buildModel(architecture, { tags: m.tags.length, imageSize: [m.preprocess.height, m.preprocess.width] });
  const file = path.join(bundle.dir, weights);
  const { tensors } = decodeSafetensors(await fs.readFile(file), file);
  return { spec, weights: new Map([...tensors].map(([k, t]) => [k, t.data])) };
}

export async function buildVariant(name: VariantName, bundle: Bundle): Promise<{ model: Uint8Array; info: VariantInfo }> {
  switch (name) {
    case 'probe': {
      const { model, ...rest } = probeVariant(await fs.readFile(bundle.modelPath), bundle.manifest.output.name);
      return { model, info: { variant: 'probe', ...rest } };
    }
    case 'gradcam': {
      const { spec, weights } = await loadTrainingModel(bundle, 'gradcam');
      // loaded on demand: the gradient machinery is large and only these two methods need it
      const { buildGradCamGraph } = await import('../autodiff/explain-graph.ts');
      const { model, layer } = buildGradCamGraph(spec, weights, { batch: 'B' });
      return { model, info: { variant: 'gradcam', layer } };
    }
    case 'saliency': {
      const { spec, weights } = await loadTrainingModel(bundle, 'saliency');
      const { buildSaliencyGraph } = await import('../autodiff/explain-graph.ts');
      return { model: buildSaliencyGraph(spec, weights, { batch: 'B' }).model, info: { variant: 'saliency' } };
    }
  }
}

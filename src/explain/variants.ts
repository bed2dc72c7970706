/**
 * The models the methods run, built from a bundle on first use: the probe (model.onnx plus `cam` and feature
 * outputs, for cam and scorecam) and the gradient graphs (gradcam, saliency) from the training weights.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { readBundleFile, type Bundle, type BundleManifest } from '../infer/bundle.ts';
import { buildModel } from '../models/registry.ts';
import { variables } from '../models/shapes.ts';
import { decodeSpec } from '../models/spec-file.ts';
import { inputLayer, type ModelSpec, type Weights } from '../models/spec.ts';
import { decodeSafetensors } from '../formats/safetensors.ts';
import { probeVariant, type ProbeVariant } from './surgery.ts';

/** `probe@16`: the probe with its `cam` rewritten to a 16-px map (dense.ts). */
export type DenseProbe = `probe@${number}`;
export type VariantName = 'probe' | DenseProbe | 'gradcam' | 'saliency';
/** The info a variant describes itself with: a dense probe is a probe. */
export type VariantKind<V extends VariantName> = V extends DenseProbe ? 'probe' : V;

export type VariantInfo =
  | ({ readonly variant: 'probe' } & Omit<ProbeVariant, 'model'>)
  | { readonly variant: 'gradcam'; readonly layer: string }
  | { readonly variant: 'saliency' };

/** Input and output names of the gradient graphs (src/autodiff/explain-graph.ts). */
export const GRAD_IO = { x: 'x', seed: 'seed', features: 'features', featuresGrad: 'features_grad', inputGrad: 'input_grad', probs: 'probs' } as const;

/** Whether a bundle carries its unfolded training model: the weights and their layer DAG (spec.json, or an architecture to rebuild). */
export function hasTrainingModel(m: BundleManifest): boolean {
  return Boolean(m.weights && (m.spec || m.architecture));
}

/** Keras imports by a tagbooru that kept only model.onnx: importing again adds the weights. */
const OLD_KERAS_IMPORT = /^deepdanbooru-(h5|keras3)$/;

/** gradcam and saliency run the unfolded training model: refuse a bundle without one, saying what to use. */
export function requireTrainingModel(bundle: Bundle, method: string): Pick<BundleManifest, 'architecture' | 'spec'> & { weights: string } {
  const { architecture, spec, weights, provenance } = bundle.manifest;
  if (weights && (spec || architecture)) return { architecture, spec, weights };
  if (OLD_KERAS_IMPORT.test(String(provenance.format))) {
    const source = typeof provenance.source === 'string' ? provenance.source : 'its .h5 or .keras';
    throw new TagbooruError('E_MODEL', `${method} needs the training weights, and ${bundle.dir} was imported by an older tagbooru that kept only model.onnx: import ${source} again with --force (it adds weights.safetensors and spec.json), or use cam or scorecam`);
  }
  const missing = [!weights && '`weights`', !spec && !architecture && '`spec` or `architecture`'].filter(Boolean).join(' and no ');
  throw new TagbooruError('E_MODEL', `${method} needs the training weights that tagbooru-trained bundles and .h5/.keras imports carry; use scorecam (${bundle.dir}: tagger.json has no ${missing})`);
}

/**
 * The unfolded training model of a bundle: the layer DAG from spec.json (an imported Keras graph need not be a
 * registered architecture) or else its architecture rebuilt, and weights.safetensors checked against it.
 */
export async function loadTrainingModel(bundle: Bundle, method: string): Promise<{ spec: ModelSpec; weights: Weights }> {
  const req = requireTrainingModel(bundle, method);
  const m = bundle.manifest, size = [m.preprocess.height, m.preprocess.width] as const;
  const where = (name: string) => path.join(bundle.dir, name);
  let spec: ModelSpec;
  if (req.spec) {
    spec = decodeSpec(Buffer.from(await readBundleFile(bundle, req.spec)).toString('utf8'), where(req.spec));
    const [h, w] = inputLayer(spec).shape;
    if (h !== size[0] || w !== size[1]) throw new TagbooruError('E_BUNDLE', `${where(req.spec)}: the input is ${w}×${h} but tagger.json preprocesses to ${size[1]}×${size[0]}`);
  } else {
    try {
      spec = buildModel(req.architecture!, { tags: m.tags.length, imageSize: size });
    } catch (e) {
      throw new TagbooruError('E_MODEL', `${method}: ${bundle.dir} has no spec.json, and its architecture cannot be rebuilt: ${errorMessage(e)}`, { cause: e });
    }
  }
  const { tensors } = decodeSafetensors(await readBundleFile(bundle, req.weights), where(req.weights));
  for (const v of variables(spec)) {
    const t = tensors.get(v.key);
    if (t?.shape.join() !== v.shape.join()) {
      throw new TagbooruError('E_BUNDLE', `${where(req.weights)}: expected ${v.key} of shape [${v.shape.join(',')}] for model ${spec.name} but received ${t ? `[${t.shape.join(',')}]` : 'none'}`);
    }
  }
  return { spec, weights: new Map([...tensors].map(([k, t]) => [k, t.data])) };
}

export async function buildVariant(name: VariantName, bundle: Bundle): Promise<{ model: Uint8Array; info: VariantInfo }> {
  switch (name) {
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
    default: {
      const mapStride = name === 'probe' ? undefined : Number(name.slice('probe@'.length));
      const { model, ...rest } = probeVariant(bundle.model ?? (await fs.readFile(bundle.modelPath)), bundle.manifest.output.name, mapStride);
      return { model, info: { variant: 'probe', ...rest } };
    }
  }
}

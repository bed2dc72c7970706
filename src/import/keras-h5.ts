/**
 * A legacy Keras HDF5 model (`model.save("x.h5")` in tf.keras 2.x, the format of every DeepDanbooru
 * release): root attributes `model_config` (JSON), `keras_version`, `backend`; `/model_weights` holds one
 * group per layer with a `weight_names` attribute naming its datasets (`conv2d/kernel:0`, …) in save order.
 */
import { TagbooruError } from '../errors.ts';
import { H5File } from './h5.ts';
import { parseKerasModel } from './keras-config.ts';
import { convertKerasModel, mapWeights, type KerasImport, type SavedVariable } from './keras-layers.ts';

/**
 * Keras splits an attribute that would overflow an HDF5 object header into `name0`, `name1`, …
 * (`save_attributes_to_hdf5_group`); read it back whole.
 */
function chunkedAttr(f: H5File, p: string, name: string): unknown[] | undefined {
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : [v]);
  const whole = f.attr(p, name);
  if (whole !== undefined) return list(whole);
  const parts: unknown[] = [];
  for (let i = 0; ; i++) {
    const part = f.attr(p, `${name}${i}`);
    if (part === undefined) break;
    parts.push(...list(part));
  }
  return parts.length > 0 ? parts : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

export async function readKerasH5(file: string, options: { imageSize?: readonly [number, number] } = {}): Promise<KerasImport> {
  const f = await H5File.open(file);
  try {
    const configText = text(f.attr('/', 'model_config'));
    if (configText === undefined) {
      const hint = f.isGroup('/model_weights') || f.attrNames('/').includes('layer_names') ? ' (a weights-only file: save the full model with model.save())' : '';
      throw new TagbooruError('E_MODEL', `${file} has no model_config attribute, so its layers are unknown${hint}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(configText);
    } catch (e) {
      throw new TagbooruError('E_MODEL', `${file}: model_config is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    const model = parseKerasModel(json, file);
    const converted = convertKerasModel(model, file, options);
    const root = f.isGroup('/model_weights') ? '/model_weights' : '/';
    const load = (layer: { name: string }): SavedVariable[] => {
      const group = `${root === '/' ? '' : root}/${layer.name}`;
      if (!f.isGroup(group)) return [];
      const names = (chunkedAttr(f, group, 'weight_names') ?? []).map((n) => text(n) ?? String(n));
      return names.map((n) => ({ name: n, ...f.floats(`${group}/${n}`) }));
    };
    const weights = mapWeights(converted, load, file);
    return { spec: converted.spec, weights, format: 'keras-h5', kerasVersion: text(f.attr('/', 'keras_version')) ?? null };
  } finally {
    f.close();
  }
}

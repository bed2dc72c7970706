/**
 * What an ONNX tagger says about itself: its input's name, layout (NHWC or NCHW from where the 3 channels
 * sit), size and batch, its outputs and their widths, and its parameter count. Names are read from the
 * model, never assumed (WD v2 calls its input `input_1:0`, v3 `input`).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { TagbooruError } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { ModelSession, type IoSpec } from '../infer/session.ts';

export interface OnnxInfo {
  readonly file: string;
  readonly input: IoSpec;
  readonly outputs: readonly (IoSpec & { readonly width: number })[];
  readonly layout: 'NHWC' | 'NCHW';
  readonly height: number;
  readonly width: number;
  readonly batch: number | 'dynamic';
  readonly parameters: number;
}

/** Elements in every initializer of the graph (weights, folded or not). */
export function countParameters(bytes: Uint8Array): number {
  const model = decodeModel(bytes);
  let total = 0;
  for (const t of model.graph?.initializer ?? []) total += (t.dims ?? []).reduce<number>((p, d) => p * Number(d), 1);
  return total;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function inspectOnnx(file: string, options: { imageSize?: readonly [number, number] } = {}): Promise<OnnxInfo> {
  const session = await ModelSession.create(file, { threads: 1, spinning: false });
  try {
    if (session.inputs.length !== 1) {
      throw new TagbooruError('E_MODEL', `${file} has ${session.inputs.length} inputs (${session.inputs.map((i) => i.name).join(', ')}); an image tagger has one`);
    }
    const input = session.inputs[0]!;
    const s = input.shape;
    if (s.length !== 4) throw new TagbooruError('E_MODEL', `${file}: input ${input.name} has shape [${s.join(',')}]; expected an image batch [N,H,W,3] or [N,3,H,W]`);
    const layout = s[3] === 3 ? 'NHWC' : s[1] === 3 ? 'NCHW' : null;
    if (!layout) throw new TagbooruError('E_MODEL', `${file}: input ${input.name} has shape [${s.join(',')}]; neither axis 1 nor axis 3 holds 3 colour channels`);
    const [hDim, wDim] = layout === 'NHWC' ? [s[1], s[2]] : [s[2], s[3]];
    const height = typeof hDim === 'number' ? hDim : options.imageSize?.[0];
    const width = typeof wDim === 'number' ? wDim : options.imageSize?.[1];
    if (!height || !width) throw new TagbooruError('E_MODEL', `${file}: input ${input.name} has an open image size [${s.join(',')}]; give --image-size`);
    const batch = typeof s[0] === 'number' && s[0] > 0 ? s[0] : 'dynamic';

    // output widths: from the declared shapes, or by running one blank image when a width is symbolic
    let widths = session.outputs.map((o) => o.shape.at(-1));
    if (widths.some((w) => typeof w !== 'number')) {
      const n = batch === 'dynamic' ? 1 : batch;
      const dims = layout === 'NHWC' ? [n, height, width, 3] : [n, 3, height, width];
      const out = await session.run({ [input.name]: { data: new Float32Array(n * 3 * height * width), dims } });
      widths = session.outputs.map((o) => out[o.name]?.dims.at(-1));
    }
    const outputs = session.outputs.map((o, i) => ({ ...o, width: widths[i] as number }));
    const parameters = countParameters(await fs.promises.readFile(file));
    return { file, input, outputs, layout, height, width, batch, parameters };
  } finally {
    await session.release();
  }
}

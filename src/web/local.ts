/**
 * The in-browser mode: the bundle's own model in onnxruntime-web (WebAssembly), fed by the very preprocessing
 * code the server runs (src/image/preprocess.ts is plain TypeScript), so both modes give the same scores.
 * The browser decodes instead of sharp: no colour management and no premultiplication, EXIF orientation kept.
 */
import type * as Ort from 'onnxruntime-web';
import type { DecodedImage } from '../image/decode.ts';
import { preprocess } from '../image/preprocess.ts';
import type { BundleManifest } from '../infer/bundle.ts';

let runtime: Promise<typeof Ort> | null = null;

/** onnxruntime-web's module and wasm, served by tagbooru from node_modules (see src/server/web.ts). */
function loadRuntime(base: string): Promise<typeof Ort> {
  runtime ??= (import(/* webpackIgnore: true */ `${base}ort.wasm.min.mjs`) as Promise<typeof Ort>).then((ort) => {
    ort.env.wasm.wasmPaths = base;
    // threads need SharedArrayBuffer, which only a cross-origin-isolated page has
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
    return ort;
  });
  runtime.catch(() => (runtime = null));
  return runtime;
}

/** RGBA bytes exactly as stored in the file: createImageBitmap with no colour conversion or premultiplication. */
export async function decodeInBrowser(image: Blob): Promise<DecodedImage> {
  const bitmap = await createImageBitmap(image, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (!context) throw new Error('this browser has no 2D canvas');
    context.drawImage(bitmap, 0, 0);
    const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace: 'srgb' });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 };
  } finally {
    bitmap.close();
  }
}

export class LocalTagger {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly manifest: BundleManifest,
  ) {}

  static async create(ortBase: string, manifest: BundleManifest, model: Uint8Array): Promise<LocalTagger> {
    const ort = await loadRuntime(ortBase);
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    return new LocalTagger(ort, session, manifest);
  }

  /** WebAssembly threads: more than one only on a cross-origin-isolated page. */
  get threads(): number {
    return this.ort.env.wasm.numThreads ?? 1;
  }

  /** Every tag's probability, in bundle order. */
  async scores(image: Blob): Promise<Float32Array> {
    const { preprocess: spec, input, output, tags } = this.manifest;
    const tensor = preprocess(await decodeInBrowser(image), spec);
    const dims = spec.layout === 'NCHW' ? [1, 3, spec.height, spec.width] : [1, spec.height, spec.width, 3];
    const result = await this.session.run({ [input.name]: new this.ort.Tensor('float32', tensor, dims) }, [output.name]);
    const data = result[output.name]?.data;
    if (!(data instanceof Float32Array) || data.length !== tags.length) {
      throw new Error(`the model gave ${data instanceof Float32Array ? data.length : 'no float32'} scores for ${tags.length} tags`);
    }
    const probs = Float32Array.from(data);
    if (output.activation === 'logits') for (let i = 0; i < probs.length; i++) probs[i] = 1 / (1 + Math.exp(-probs[i]!));
    return probs;
  }
}

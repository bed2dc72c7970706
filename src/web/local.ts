/**
 * The in-browser mode: the bundle's own model in onnxruntime-web (WebAssembly), fed by the very preprocessing
 * code the server runs (src/image/preprocess.ts is plain TypeScript), so both modes give the same scores.
 * The browser decodes instead of sharp: no colour management and no premultiplication, EXIF orientation kept.
 * CAM runs here too, on the model with its CAM output added by the server's own graph surgery (`/probe.js`,
 * loaded on first use) and post-processed by the server's own code, so the maps are the server's.
 * A model with a fitted out-of-distribution score is loaded as the server offers it with that score in its graph
 * (`ModelInfo.ood`), so an image is flagged here exactly as on the server, with no score maths in the page.
 */
import type * as Ort from 'onnxruntime-web';
import { contentRefiner } from '../explain/refine.ts';
import { contentBounds, toRegion, type Frame } from '../explain/postprocess.ts';
import type { Box, ExplainRefinement } from '../explain/types.ts';
import type { DecodedImage } from '../image/decode.ts';
import { mapBytes, type ValueMap } from '../image/heatmap.ts';
import { contentRect, inputToRgb, preprocess } from '../image/preprocess.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import { pickMembers } from '../infer/member-draw.ts';
import { inputDims, inputFeeds, modelInputs, preprocessInputs, toProbabilities } from '../infer/model-io.ts';
import type { OodJson, OodModelInfo } from '../wire.ts';
import type * as Probe from './_probe.ts';

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

/** The script with the graph surgery, served beside the page's. */
const PROBE_SCRIPT = '/probe.js';

/** One tag's region found in this browser: box and peak in image pixels, the map as bytes at map resolution. */
export interface LocalRegion {
  readonly name: string;
  readonly box: Box | null;
  readonly peak: readonly [number, number];
  readonly map: ValueMap;
}

export interface LocalRegions {
  readonly width: number;
  readonly height: number;
  readonly tags: LocalRegion[];
}

interface CamModel {
  readonly session: Ort.InferenceSession;
  readonly output: string;
  readonly window: readonly [number, number] | null;
}

const SESSION_OPTIONS = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' } as const;

export class LocalTagger {
  private cam: Promise<CamModel | null> | null = null;

  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly manifest: BundleManifest,
    /** The model file again (the browser's HTTP cache has it), for the CAM model: not kept in memory meanwhile. */
    private readonly reload: () => Promise<Uint8Array>,
    /** The score's output and threshold when `model` is the server's graph with the OOD score in it. */
    private readonly ood: OodModelInfo | null,
  ) {}

  static async create(ortBase: string, manifest: BundleManifest, model: Uint8Array, reload: () => Promise<Uint8Array>, ood: OodModelInfo | null = null): Promise<LocalTagger> {
    const ort = await loadRuntime(ortBase);
    const session = await ort.InferenceSession.create(model, SESSION_OPTIONS);
    return new LocalTagger(ort, session, manifest, reload, ood);
  }

  /** WebAssembly threads: more than one only on a cross-origin-isolated page. */
  get threads(): number {
    return this.ort.env.wasm.numThreads ?? 1;
  }

  /** Every tag's probability, in bundle order, and the out-of-distribution verdict when the model has a fitted score. */
  async tag(image: Blob): Promise<{ scores: Float32Array; ood: OodJson | null }> {
    const { output, tags, ensemble } = this.manifest;
    const inputs = modelInputs(this.manifest);
    // an ensemble prepares the image once per distinct preprocessing, as the server does
    const feeds = inputFeeds(inputs, preprocessInputs(await decodeInBrowser(image), inputs), 1);
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new this.ort.Tensor('float32', t.data, t.dims)]));
    // an ensemble drawing one member per image answers with the drawn member's row, as the server does
    const random = ensemble?.combine === 'random' ? ensemble : null;
    const name = random?.memberOutput ?? output.name;
    const result = await this.session.run(ortFeeds, [name, ...(this.ood ? [this.ood.output] : [])]);
    const data = result[name]?.data;
    const expected = tags.length * (random ? random.members.length : 1);
    if (!(data instanceof Float32Array) || data.length !== expected) {
      throw new Error(`the model gave ${data instanceof Float32Array ? data.length : 'no float32'} scores for ${tags.length} tags`);
    }
    const score = this.ood ? result[this.ood.output]?.data[0] : undefined;
    // flagged above the threshold, as src/infer/ood.ts judges on the server
    const ood = this.ood && typeof score === 'number' ? { score, threshold: this.ood.threshold, flagged: score > this.ood.threshold } : null;
    return { scores: random ? pickMembers(data, 1, random, Math.random) : toProbabilities(Float32Array.from(data), this.manifest), ood };
  }

  /**
   * CAM for `tags` on the image, as the server's `method=cam` gives it (with the server's `refine`); null
   * when this model's CAM cannot run here (no linear head on a pooled map, or a token model), and the server
   * has to be asked.
   */
  async camRegions(image: Blob, tags: readonly string[], threshold: number, refine: ExplainRefinement = 'none'): Promise<LocalRegions | null> {
    const cam = await this.camModel();
    if (!cam) return null;
    const spec = this.manifest.preprocess;
    const decoded = await decodeInBrowser(image);
    const input = preprocess(decoded, spec);
    const x = new this.ort.Tensor('float32', input, inputDims(spec, 1));
    const out = (await cam.session.run({ [this.manifest.input.name]: x }, [cam.output]))[cam.output];
    const d = out?.dims ?? [];
    // [1, T, h, w]; a token model's [1, T, L] is left to the server
    if (!(out?.data instanceof Float32Array) || d.length !== 4) return null;
    const [height, width] = [d[2]!, d[3]!], hw = width * height;
    if (cam.window && (cam.window[0] !== height || cam.window[1] !== width)) return null;
    const bounds = contentBounds(contentRect(decoded.width, decoded.height, spec), spec.width, spec.height);
    const frame: Frame = { input: spec, bounds, image: decoded };
    const refiner = refine === 'none' ? undefined : contentRefiner(refine, inputToRgb(input, spec), spec.width, bounds);
    const index = new Map(this.manifest.tags.map((t, i) => [t.name, i]));
    const data = out.data;
    return {
      width: decoded.width,
      height: decoded.height,
      tags: tags.flatMap((name) => {
        const t = index.get(name);
        if (t === undefined) return [];
        const r = toRegion({ width, height, data: data.subarray(t * hw, (t + 1) * hw) }, frame, threshold, refiner);
        return [{ name, box: r.box, peak: r.peak, map: { width: r.map.width, height: r.map.height, data: mapBytes(r.map.data) } }];
      }),
    };
  }

  /** Free the sessions' WebAssembly memory, which the garbage collector does not see: another model is picked. */
  async release(): Promise<void> {
    const cam = await this.cam?.catch(() => null);
    await Promise.all([this.session.release(), cam?.session.release()]);
  }

  private camModel(): Promise<CamModel | null> {
    this.cam ??= (async () => {
      if (this.manifest.ensemble || this.manifest.tta) return null; // the server averages an ensemble's members' maps, or says why it cannot
      const { probeVariant } = (await import(/* webpackIgnore: true */ PROBE_SCRIPT)) as typeof Probe;
      const bytes = await this.reload();
      let probe;
      try {
        probe = probeVariant(bytes, this.manifest.output.name);
      } catch {
        return null; // no pooled feature map: the server says what works instead
      }
      if (!probe.cam) return null;
      const session = await this.ort.InferenceSession.create(probe.model, SESSION_OPTIONS);
      return { session, output: probe.cam, window: probe.window };
    })();
    this.cam.catch(() => (this.cam = null));
    return this.cam;
  }
}

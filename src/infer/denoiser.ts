/**
 * The learned de-noiser defence (`denoiser:bundle=<dir>`; the seed's "de-noise like waifu2x"): a small residual
 * conv net trained by `tagbooru train-denoiser`, run by ONNX Runtime at whatever size the tagger's input is
 * (its graphs have symbolic height and width). It is differentiable, so its `backward` is the exact
 * vector-Jacobian product from its `vjp.onnx`, and an adaptive attack goes through it end to end (no BPDA).
 */
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import type { Defence, DefenceImage } from '../image/index.ts';
import { readRegularFile } from '../regular-files.ts';
import { ModelSession } from './session.ts';

export const DENOISER_FORMAT = 'tagbooru-denoiser';
export const DENOISER_MANIFEST = 'denoiser.json';
/** Tensor names of the two graphs (src/autodiff/vjp.ts writes them). */
export const DENOISER_IO = { input: 'x', output: 'y', upstream: 'upstream', inputGrad: 'input_grad' } as const;

export interface DenoiserManifest {
  readonly format: typeof DENOISER_FORMAT;
  readonly version: 1;
  /** image → image, NHWC, output = input + residual (unclamped: the defence clamps to [0, 1]). */
  readonly model: string;
  /** (image, upstream) → upstream · ∂output/∂image, NHWC. */
  readonly vjp: string;
  /** Training variables and the layer DAG, for fine-tuning. */
  readonly weights: string;
  readonly spec: string;
  readonly provenance: Readonly<Record<string, unknown>>;
}

async function readManifest(dir: string): Promise<DenoiserManifest> {
  const file = path.join(dir, DENOISER_MANIFEST);
  let m: DenoiserManifest;
  try {
    m = JSON.parse((await readRegularFile(file)).toString('utf8')) as DenoiserManifest;
  } catch (e) {
    throw new TagbooruError('E_BUNDLE', `${dir} is not a de-noiser bundle: cannot read ${DENOISER_MANIFEST} (${errorMessage(e)}); make one with tagbooru train-denoiser`, { cause: e });
  }
  if ((m.format as string) !== DENOISER_FORMAT || typeof m.model !== 'string' || typeof m.vjp !== 'string') {
    throw new TagbooruError('E_BUNDLE', `${file}: expected format "${DENOISER_FORMAT}" with "model" and "vjp" files`);
  }
  return m;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** The de-noiser bundle at `dir` as a defence; `threads`: ONNX Runtime threads of each of its two sessions. */
export async function openDenoiser(dir: string, threads = 1): Promise<Defence & { close(): Promise<void> }> {
  const manifest = await readManifest(dir);
  const forward = await ModelSession.create(path.join(dir, manifest.model), { threads, spinning: false });
  let vjp: ModelSession | null = null;
  const dims = (image: DefenceImage) => [1, image.height, image.width, 3];
  const run = async (image: DefenceImage) => (await forward.run({ [DENOISER_IO.input]: { data: image.data, dims: dims(image) } }, [DENOISER_IO.output]))[DENOISER_IO.output]!.data;
  return {
    name: 'denoiser',
    randomised: false,
    async apply(image) {
      return { data: (await run(image)).map(clamp01), width: image.width, height: image.height };
    },
    async backward(image, upstream) {
      // y = clamp(f(x)): the clamp passes the upstream gradient only where f(x) lies strictly inside (0, 1)
      const raw = await run(image);
      const masked = upstream.map((u, i) => (raw[i]! > 0 && raw[i]! < 1 ? u : 0));
      vjp ??= await ModelSession.create(path.join(dir, manifest.vjp), { threads, spinning: false });
      const out = await vjp.run({ [DENOISER_IO.input]: { data: image.data, dims: dims(image) }, [DENOISER_IO.upstream]: { data: masked, dims: dims(image) } }, [DENOISER_IO.inputGrad]);
      return out[DENOISER_IO.inputGrad]!.data;
    },
    async close() {
      await Promise.all([forward.release(), vjp?.release()]);
    },
  };
}

/**
 * How a composited scene is finally drawn: its rendering (colour, greyscale, a one-hue ramp, line art)
 * and its corruptions (blur, noise, JPEG, scan, down-up scaling). None moves a pixel, so the masks of
 * the colour scene stay true; what a rendering does to the labels is in render.ts.
 */
import { toneRamp } from '../../image/colour.ts';
import { jpegRoundTrip } from '../../image/decode.ts';
import { lineArt } from '../../image/line-art.ts';
import { resample } from '../../image/resample.ts';
import { resizeArea } from '../../image/resize-area.ts';
import { Rng } from '../../models/random.ts';
import { hslHex, parseHex } from './background.ts';
import { CORRUPTIONS, RENDERINGS, type Corruption, type GeneratorSettings, type Rendering } from './settings.ts';
import type { SyntheticTag } from './tags.ts';

export interface Look {
  rendering: Rendering;
  /** Monochrome: the hue of the ramp from dark to white (`rrggbb` of its darkest shade). */
  ink?: string;
  /** Only the corruptions drawn, each with its strength; `seed` feeds noise and scan specks. */
  corruptions: Partial<Record<Corruption, number>>;
  seed: number;
}

/** Tags each rendering adds (Danbooru: greyscale implies monochrome). */
export const RENDERING_TAGS = {
  colour: [],
  greyscale: ['monochrome', 'greyscale'],
  monochrome: ['monochrome'],
  lineart: ['lineart', 'monochrome', 'greyscale'],
} as const satisfies Record<Rendering, readonly SyntheticTag[]>;

/** The look of one image, or undefined when the settings allow only plain colour (no draw is made then). */
export function sampleLook(rng: Rng, s: GeneratorSettings): Look | undefined {
  const weights = RENDERINGS.map((r) => s.rendering[r] ?? 0);
  const possible = CORRUPTIONS.filter((c) => (s.corruptions[c]?.p ?? 0) > 0);
  if (possible.length === 0 && weights.slice(1).every((w) => w === 0)) return undefined;
  let u = rng.next() * weights.reduce((a, b) => a + b, 0), k = 0;
  while (k < weights.length - 1 && u >= weights[k]!) u -= weights[k++]!;
  const rendering = RENDERINGS[k]!;
  const corruptions: Look['corruptions'] = {};
  for (const c of possible) {
    const { p, range } = s.corruptions[c]!;
    if (rng.next() < p) corruptions[c] = rng.uniform(range[0], range[1]);
  }
  const ink = rendering === 'monochrome' ? hslHex(rng.uniform(0, 360), rng.uniform(0.35, 0.8), rng.uniform(0.12, 0.3)) : undefined;
  return { rendering, ...(ink && { ink }), corruptions, seed: rng.nextUint32() };
}

function recolour(rgb: Uint8Array, look: Look, size: number): Float32Array {
  if (look.rendering === 'lineart') return lineArt(rgb, size, size);
  const out = Float32Array.from(rgb);
  if (look.rendering !== 'colour') toneRamp(out, look.ink ? parseHex(look.ink) : [0, 0, 0]);
  return out;
}

/** Separable Gaussian blur in place, edges clamped. */
function blur(img: Float32Array, size: number, sigma: number): void {
  const r = Math.ceil(3 * sigma), w = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = w.reduce((a, b) => a + b, 0);
  const tmp = new Float32Array(img.length);
  for (const [src, dst, dx, dy] of [[img, tmp, 1, 0], [tmp, img, 0, 1]] as const) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let k = 0; k < 3; k++) {
          let acc = 0;
          for (let i = -r; i <= r; i++) {
            const sx = Math.min(size - 1, Math.max(0, x + i * dx)), sy = Math.min(size - 1, Math.max(0, y + i * dy));
            acc += w[i + r]! * src[(sy * size + sx) * 3 + k]!;
          }
          dst[(y * size + x) * 3 + k] = acc / sum;
        }
      }
    }
  }
}

/** A photocopied page: warm paper, lifted blacks, faint bands across the rows and dark specks. */
function scan(img: Float32Array, size: number, strength: number, rng: Rng): void {
  const paper = [246, 240, 222], lift = 0.15 * strength, period = rng.uniform(0.05, 0.2) * size, phase = rng.uniform(0, 2 * Math.PI);
  for (let y = 0; y < size; y++) {
    const band = 8 * strength * Math.sin((2 * Math.PI * y) / period + phase);
    for (let x = 0; x < size; x++) {
      for (let k = 0; k < 3; k++) {
        const o = (y * size + x) * 3 + k;
        img[o] = (paper[k]! / 255) * (lift * 255 + (1 - lift) * img[o]!) + band;
      }
    }
  }
  for (let n = Math.round(size * size * 0.0008 * strength); n > 0; n--) {
    const x = rng.int(size), y = rng.int(size), v = rng.uniform(40, 140);
    img.fill(v, (y * size + x) * 3, (y * size + x) * 3 + 3);
  }
}

const toBytes = (img: Float32Array): Uint8Array => new Uint8Array(Uint8ClampedArray.from(img).buffer);

/** The scene's RGB bytes drawn with `look`: rendering, then scan, blur, down-up scaling, noise and JPEG last. */
export async function applyLook(rgb: Uint8Array, size: number, look: Look): Promise<Uint8Array> {
  const c = look.corruptions, rng = new Rng(look.seed);
  let img = recolour(rgb, look, size);
  if (c.scan !== undefined) scan(img, size, c.scan, rng);
  if (c.blur !== undefined) blur(img, size, (c.blur * size) / 256);
  if (c.downscale !== undefined) {
    const side = Math.max(8, Math.round(size * c.downscale));
    const small = resizeArea({ data: img, width: size, height: size }, side, side);
    img = Float32Array.from(resample({ data: toBytes(small.data as Float32Array), width: side, height: side }, size, size, 'linear').data);
  }
  if (c.noise !== undefined) for (let i = 0; i < img.length; i++) img[i]! += c.noise * rng.normal();
  const bytes = toBytes(img);
  return c.jpeg === undefined ? bytes : jpegRoundTrip(bytes, size, size, Math.round(c.jpeg));
}

/**
 * Heat maps for people: a [0, 1] map in colour, transparent where the map is zero, and drawn over the image it
 * explains. Plain TypeScript without imports, so the web page draws with the very colours the server renders.
 */

/** A single-channel map, row-major, values in [0, 1] (floats) or 0–255 (bytes). */
export interface ValueMap {
  readonly width: number;
  readonly height: number;
  readonly data: ArrayLike<number>;
}

/** 8-bit RGB or RGBA, row-major HWC, as decodeImage gives it. */
export interface Pixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3 | 4;
}

/** Google's Turbo colour map (Mikhailov 2019) by its polynomial fit: 256 RGB triples, blue (0) to red (255). */
export const TURBO: Uint8Array = (() => {
  const poly = (x: number, c: readonly number[]) => c.reduceRight((acc, k) => acc * x + k, 0);
  const R = [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943];
  const G = [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604];
  const B = [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973];
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    [R, G, B].forEach((c, k) => (lut[i * 3 + k] = Math.round(255 * Math.min(1, Math.max(0, poly(x, c))))));
  }
  return lut;
})();

/** A map byte (0–255) to its overlay alpha (0–255): opacity times the value, so zero evidence hides nothing. */
const alphaOf = (byte: number, opacity: number) => Math.round(byte * opacity);

/** Map bytes (0–255) to Turbo RGBA at the map's own size, for a canvas that the page stretches over the image. */
export function heatRgba(map: ValueMap, opacity: number, out = new Uint8ClampedArray(map.width * map.height * 4)): Uint8ClampedArray<ArrayBuffer> {
  const { data } = map;
  for (let i = 0; i < map.width * map.height; i++) {
    const v = Math.max(0, Math.min(255, Math.round(data[i]!)));
    out.set(TURBO.subarray(v * 3, v * 3 + 3), i * 4);
    out[i * 4 + 3] = alphaOf(v, opacity);
  }
  return out;
}

/** [0, 1] floats to bytes, rounded: what the API sends as a grey PNG. */
export function mapBytes(data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.round(255 * Math.min(1, Math.max(0, data[i]!)));
  return out;
}

export interface OverlayOptions {
  /** How strongly the colour covers the image where the map is 1 (0–1). */
  readonly opacity: number;
  /** An outline in the image's pixels, [x0, y0, x1, y1] with x1/y1 exclusive. */
  readonly box?: readonly [number, number, number, number] | null;
  /** A cross-hair in the image's pixels. */
  readonly peak?: readonly [number, number] | null;
}

/**
 * The map ([0, 1] floats), covering the whole image, blended over it: bilinear between map pixel centres, Turbo colours, alpha
 * from the map value. Alpha in the image is composited over white first. Returns RGB at the image's size.
 */
export function overlayHeatmap(image: Pixels, map: ValueMap, o: OverlayOptions): Uint8Array {
  const { width: W, height: H, channels } = image;
  const out = new Uint8Array(W * H * 3);
  const sx = map.width / W, sy = map.height / H;
  const xs = axisSamples(W, map.width, sx), ys = axisSamples(H, map.height, sy);
  for (let y = 0; y < H; y++) {
    const y0 = ys.lo[y]!, y1 = ys.hi[y]!, fy = ys.frac[y]!;
    for (let x = 0; x < W; x++) {
      const x0 = xs.lo[x]!, x1 = xs.hi[x]!, fx = xs.frac[x]!;
      const top = map.data[y0 * map.width + x0]! * (1 - fx) + map.data[y0 * map.width + x1]! * fx;
      const bottom = map.data[y1 * map.width + x0]! * (1 - fx) + map.data[y1 * map.width + x1]! * fx;
      const v = Math.max(0, Math.min(255, Math.round(255 * (top * (1 - fy) + bottom * fy))));
      const a = alphaOf(v, o.opacity) / 255;
      const p = (y * W + x) * channels, q = (y * W + x) * 3;
      const ia = channels === 4 ? image.data[p + 3]! / 255 : 1;
      for (let c = 0; c < 3; c++) {
        const base = image.data[p + c]! * ia + 255 * (1 - ia);
        out[q + c] = Math.round(base * (1 - a) + TURBO[v * 3 + c]! * a);
      }
    }
  }
  if (o.box) drawBox(out, W, H, o.box);
  if (o.peak) drawPeak(out, W, H, o.peak);
  return out;
}

/** For each output pixel along one axis: the two map pixels around its centre and the weight of the second. */
function axisSamples(size: number, mapSize: number, scale: number) {
  const lo = new Int32Array(size), hi = new Int32Array(size), frac = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const m = Math.min(mapSize - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    lo[i] = Math.floor(m);
    hi[i] = Math.min(mapSize - 1, lo[i]! + 1);
    frac[i] = m - lo[i]!;
  }
  return { lo, hi, frac };
}

/** A line width that reads at any size: 2 px on a small image, more on a large one. */
const lineWidth = (W: number, H: number) => Math.max(2, Math.round(Math.min(W, H) / 160));

function fill(rgb: Uint8Array, W: number, H: number, x0: number, y0: number, x1: number, y1: number, colour: readonly number[]): void {
  for (let y = Math.max(0, y0); y < Math.min(H, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(W, x1); x++) rgb.set(colour, (y * W + x) * 3);
  }
}

/** White lines with a dark rim, visible over any colour of the map or the image. */
function drawBox(rgb: Uint8Array, W: number, H: number, [bx0, by0, bx1, by1]: readonly number[]): void {
  const w = lineWidth(W, H);
  const [x0, y0, x1, y1] = [Math.round(bx0!), Math.round(by0!), Math.round(bx1!), Math.round(by1!)];
  for (const [grow, colour] of [[1, [0, 0, 0]], [0, [255, 255, 255]]] as const) {
    const outer = w + 2 * grow;
    fill(rgb, W, H, x0 - grow, y0 - grow, x1 + grow, y0 + outer - grow, colour);
    fill(rgb, W, H, x0 - grow, y1 - outer + grow, x1 + grow, y1 + grow, colour);
    fill(rgb, W, H, x0 - grow, y0 - grow, x0 + outer - grow, y1 + grow, colour);
    fill(rgb, W, H, x1 - outer + grow, y0 - grow, x1 + grow, y1 + grow, colour);
  }
}

function drawPeak(rgb: Uint8Array, W: number, H: number, [px, py]: readonly number[]): void {
  const w = lineWidth(W, H), arm = 4 * w, x = Math.round(px!), y = Math.round(py!), h = Math.floor(w / 2);
  fill(rgb, W, H, x - arm, y - h, x + arm + 1, y - h + w, [255, 255, 255]);
  fill(rgb, W, H, x - h, y - arm, x - h + w, y + arm + 1, [255, 255, 255]);
}

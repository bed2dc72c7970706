/**
 * Post-processing shared by every method: a map on the feature grid (or already at input resolution) is ReLU'd,
 * brought to the network input (bilinear, half-pixel centres), cropped to the image content, scaled to [0, 1] by
 * its maximum, thresholded to a mask, and its box and peak are mapped to original image pixels.
 */
import type { ContentRect } from '../image/index.ts';
import type { Box, FloatMap } from './types.ts';

/**
 * A row-major single-channel map on a grid of any size. A finer CAM (dense.ts) has `lattice` cells per cell of
 * the model's own grid, the original positions at 0, lattice, 2·lattice…: its cells are placed where those
 * positions and the offsets between them lie, not spread evenly over the input.
 */
export interface Grid extends FloatMap {
  readonly lattice?: number;
}

/** Integer pixel bounds [x0, y0, x1, y1) on a canvas. */
type Bounds = readonly [number, number, number, number];

/**
 * Per output index along one axis: the two source indices and the weight of the second. With a lattice the
 * model's own grid had ⌈inSize / lattice⌉ cells over the output, and source index p sits at its cell p / lattice.
 */
export function axis(inSize: number, outSize: number, from: number, to: number, lattice = 1): { lo: Int32Array; hi: Int32Array; t: Float32Array } {
  const n = to - from;
  const lo = new Int32Array(n), hi = new Int32Array(n), t = new Float32Array(n);
  const cells = Math.floor((inSize - 1) / lattice) + 1;
  const scale = (cells / outSize) * lattice, half = lattice / 2;
  for (let i = 0; i < n; i++) {
    const s = Math.min(Math.max((from + i + 0.5) * scale - half, 0), inSize - 1);
    lo[i] = Math.floor(s);
    hi[i] = Math.min(lo[i]! + 1, inSize - 1);
    t[i] = s - lo[i]!;
  }
  return { lo, hi, t };
}

/**
 * The grid stretched over a `width × height` canvas, the pixels inside `bounds` only (align_corners = false,
 * the border clamped: what ONNX Resize and torch's interpolate(bilinear) give).
 */
export function upsample(grid: Grid, width: number, height: number, bounds: Bounds = [0, 0, width, height]): Float32Array {
  const [x0, y0, x1, y1] = bounds;
  const xs = axis(grid.width, width, x0, x1, grid.lattice), ys = axis(grid.height, height, y0, y1, grid.lattice);
  const w = x1 - x0, out = new Float32Array(w * (y1 - y0));
  const { data } = grid;
  for (let y = 0; y < y1 - y0; y++) {
    const top = ys.lo[y]! * grid.width, bottom = ys.hi[y]! * grid.width, ty = ys.t[y]!;
    for (let x = 0; x < w; x++) {
      const l = xs.lo[x]!, r = xs.hi[x]!, tx = xs.t[x]!;
      const a = data[top + l]! + (data[top + r]! - data[top + l]!) * tx;
      const b = data[bottom + l]! + (data[bottom + r]! - data[bottom + l]!) * tx;
      out[y * w + x] = a + (b - a) * ty;
    }
  }
  return out;
}

/** `src` (`width × height`) averaged over s×s blocks (the last ones partial). */
export function blockMean(src: ArrayLike<number>, width: number, height: number, s: number): Float64Array {
  const w = Math.ceil(width / s), h = Math.ceil(height / s);
  const sum = new Float64Array(w * h), count = new Float64Array(w * h);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / s) * w;
    for (let x = 0; x < width; x++) {
      const k = row + Math.floor(x / s);
      sum[k]! += src[y * width + x]!;
      count[k]!++;
    }
  }
  for (let k = 0; k < sum.length; k++) sum[k]! /= count[k]!;
  return sum;
}

/** The content rectangle rounded to whole input pixels, at least one pixel each way. */
export function contentBounds(content: ContentRect, width: number, height: number): Bounds {
  const clamp = (v: number, hi: number) => Math.min(Math.max(Math.round(v), 0), hi);
  const x0 = clamp(content.x, width - 1), y0 = clamp(content.y, height - 1);
  return [x0, y0, Math.max(x0 + 1, clamp(content.x + content.width, width)), Math.max(y0 + 1, clamp(content.y + content.height, height))];
}

export interface Region {
  readonly map: FloatMap;
  readonly mask: Uint8Array;
  readonly box: Box | null;
  readonly peak: readonly [x: number, y: number];
}

export interface Frame {
  /** Network input size. */
  readonly input: { readonly width: number; readonly height: number };
  readonly bounds: Bounds;
  /** Original image size. */
  readonly image: { readonly width: number; readonly height: number };
}

/** Original pixels per map pixel, per axis. */
export function frameScale(frame: Frame): readonly [number, number] {
  const [x0, y0, x1, y1] = frame.bounds;
  return [frame.image.width / (x1 - x0), frame.image.height / (y1 - y0)];
}

/** The grid's positive part: ReLU at the grid's own resolution, before any upsampling (as Grad-CAM defines it). */
const positive = (grid: Grid): Grid => ({ ...grid, data: grid.data.map((v) => Math.max(v, 0)) });

/** The grid over the content pixels of the frame (a crop when it is already at input resolution). */
function overContent(grid: Grid, frame: Frame): Float32Array {
  const same = grid.width === frame.input.width && grid.height === frame.input.height;
  return same ? crop(grid, frame.bounds) : upsample(grid, frame.input.width, frame.input.height, frame.bounds);
}

/** The index of the first maximum. */
export function argmax(data: Float32Array): number {
  let at = 0;
  for (let i = 1; i < data.length; i++) if (data[i]! > data[at]!) at = i;
  return at;
}

/** Edge-aware refinement of a content-sized map (guided-filter.ts); `radius` in input pixels. */
export type Refine = (map: Float32Array, radius: number) => Float32Array;

/**
 * The refinement window: half a cell of the method's grid, so the filter moves a blob's border within the cell
 * it was quantised to and no further (at least 2 px, for maps already at input resolution).
 */
const refineRadius = (grid: Grid, frame: Frame): number => Math.max(2, Math.round(frame.input.width / grid.width / 2));

/**
 * A method's map to a region: ReLU'd, upsampled over the content, refined along the image's edges when asked,
 * scaled by its maximum, thresholded. The peak is taken after refining, so it lies on the image structure the
 * refined map follows.
 */
export function toRegion(grid: Grid, frame: Frame, threshold: number, refine?: Refine): Region {
  const [x0, y0, x1, y1] = frame.bounds;
  const width = x1 - x0, height = y1 - y0;
  let data = overContent(positive(grid), frame);
  if (refine) data = refine(data, refineRadius(grid, frame));
  let peak = argmax(data);
  const max = data[peak]!;
  // nothing positive: the peak of the raw map is still the strongest evidence there is
  if (!(max > 0)) peak = argmax(overContent(grid, frame));
  const mask = new Uint8Array(data.length);
  let bx0 = width, by0 = height, bx1 = -1, by1 = -1;
  for (let i = 0; i < data.length; i++) {
    const v = max > 0 ? data[i]! / max : 0;
    data[i] = v;
    if (max > 0 && v >= threshold) {
      mask[i] = 1;
      const x = i % width, y = (i - x) / width;
      [bx0, by0, bx1, by1] = [Math.min(bx0, x), Math.min(by0, y), Math.max(bx1, x), Math.max(by1, y)];
    }
  }
  const [sx, sy] = frameScale(frame);
  const { width: W, height: H } = frame.image;
  const box: Box | null = bx1 < 0 ? null : [Math.floor(bx0 * sx), Math.floor(by0 * sy), Math.min(W, Math.ceil((bx1 + 1) * sx)), Math.min(H, Math.ceil((by1 + 1) * sy))];
  const px = peak % width, py = (peak - px) / width;
  return { map: { width, height, data }, mask, box, peak: [Math.min(W - 1, Math.floor((px + 0.5) * sx)), Math.min(H - 1, Math.floor((py + 0.5) * sy))] };
}

function crop(grid: Grid, [x0, y0, x1, y1]: Bounds): Float32Array {
  const w = x1 - x0, out = new Float32Array(w * (y1 - y0));
  for (let y = y0; y < y1; y++) out.set(grid.data.subarray(y * grid.width + x0, y * grid.width + x1), (y - y0) * w);
  return out;
}

/** ReLU, then divide by the maximum (all zero when nothing is positive), in place. */
export function scaleByMax(data: Float32Array): Float32Array {
  let max = 0;
  for (const v of data) max = Math.max(max, v);
  for (let i = 0; i < data.length; i++) data[i] = max > 0 ? Math.max(data[i]!, 0) / max : 0;
  return data;
}

/** The map over the whole input frame, scaled to [0, 1]: what the CLI draws beside input.png. */
export function inputFrameMap(grid: Grid, width: number, height: number): Float32Array {
  return scaleByMax(grid.width === width && grid.height === height ? grid.data.slice() : upsample(positive(grid), width, height));
}

/**
 * Recipe → pixels, tags and ground-truth masks. Each character is rendered alone in its box, once as
 * drawn and once without each tagged part; the scene is composited here, so a part's mask is exactly the
 * pixels of the final image that change when it is left out (other characters in front included).
 */
import { TagbooruError, expectNumberInRange } from '../../errors.ts';
import { BACKGROUND_TAGS, backgroundSvg, fillBackground } from './background.ts';
import {
  PART_VISIBILITY, characterBox, characterParts, createCharacterAvatar, placedSvg, settleOptions,
  type CharacterRecipe, type Part, type PartName, type PixelBox,
} from './character.ts';
import { renderSvg } from './raster.ts';
import type { SceneRecipe } from './recipe.ts';
import { TAG_NAMES, type SyntheticTag } from './tags.ts';

export interface RenderOptions {
  /** Image side in pixels. */
  size: number;
  /** A pixel belongs to a mask when a channel changes by more than this (0–255). */
  threshold?: number;
}

export interface TagMask {
  /** `size`×`size`, 0 or 255. */
  data: Uint8Array;
  pixels: number;
  /** Inclusive-exclusive bounding box [x0, y0, x1, y1]; all zero for an empty mask. */
  box: [number, number, number, number];
}

export interface PartReport {
  character: number;
  name: PartName;
  tags: SyntheticTag[];
  /** Pixels this part changes in the final image. */
  visible: number;
  /** Pixels it changes with no other character in front of it. */
  intrinsic: number;
  kept: boolean;
}

export interface RenderedScene {
  size: number;
  /** RGB, row-major. */
  rgb: Uint8Array;
  /** In tags.txt order. */
  tags: SyntheticTag[];
  masks: Map<SyntheticTag, TagMask>;
  parts: PartReport[];
  /** How many characters are visible (at least half of each one's silhouette). */
  visibleCharacters: number;
}

const DEFAULTS = { threshold: 16 } satisfies Partial<RenderOptions>;
const COUNT_TAGS = ['solo', '2others', '3others'] as const satisfies readonly SyntheticTag[];

/** A box-sized picture inside the rendered strip: pixel (x, y) starts at `base + y·stride + 4x` (straight RGBA). */
interface View {
  base: number;
  stride: number;
}

/** A character's box, rendered as drawn and without each tagged part. */
interface Layer {
  index: number;
  box: PixelBox;
  width: number;
  height: number;
  drawn: View;
  parts: { part: Part; without: View }[];
}

interface Tile {
  svg: (x: number, y: number) => string;
  width: number;
  height: number;
}

/**
 * Every SVG of a scene in one rasterisation, tiles in rows (one row per character): the pipeline's
 * fixed cost is paid once per image rather than once per render.
 */
async function renderTiles(rows: Tile[][]): Promise<{ data: Uint8Array; views: View[][] }> {
  let height = 0, width = 0;
  const at = rows.map((row) => {
    let x = 0;
    const xs = row.map((t) => ((x += t.width), x - t.width));
    const y = height;
    width = Math.max(width, x);
    height += Math.max(0, ...row.map((t) => t.height));
    return { xs, y };
  });
  const body = rows.flatMap((row, r) => row.map((t, i) => t.svg(at[r]!.xs[i]!, at[r]!.y))).join('');
  const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`, width, height);
  return { data, views: at.map(({ xs, y }) => xs.map((x) => ({ base: (y * width + x) * 4, stride: width * 4 }))) };
}

function characterTiles(c: CharacterRecipe, size: number): { box: PixelBox; parts: Part[]; tiles: Tile[] } | null {
  const box = characterBox(c, size);
  if (!box) return null;
  const avatar = createCharacterAvatar(c.style, c.options);
  const settled = settleOptions(c.style, c.options, avatar.extra);
  const parts = characterParts(c.style, avatar.extra);
  const width = box.x1 - box.x0, height = box.y1 - box.y0;
  const svgs = [avatar.svg, ...parts.map((p) => createCharacterAvatar(c.style, { ...settled, ...p.without }).svg)];
  return { box, parts, tiles: svgs.map((svg) => ({ svg: (x, y) => placedSvg(c, svg, size, box, x, y), width, height })) };
}

/**
 * The box pixels (index y·width + x) where the picture over `below` changes by more than `threshold`
 * in some channel between layer `a` and layer `b`, with that change.
 */
function changedPixels(data: Uint8Array, words: Uint32Array, below: Float32Array, a: View, b: View, width: number, height: number, threshold: number): { at: number[]; by: number[] } {
  const at: number[] = [], by: number[] = [];
  for (let y = 0; y < height; y++) {
    const ra = a.base + y * a.stride, rb = b.base + y * b.stride;
    for (let x = 0; x < width; x++) {
      const ia = ra + 4 * x, ib = rb + 4 * x;
      if (words[ia >> 2] === words[ib >> 2]) continue;
      const aa = data[ia + 3]! / 255, ab = data[ib + 3]! / 255, p = y * width + x;
      let m = 0;
      for (let k = 0; k < 3; k++) {
        const bg = below[p * 3 + k]!;
        const diff = Math.abs((data[ia + k]! - bg) * aa - (data[ib + k]! - bg) * ab);
        if (diff > m) m = diff;
      }
      if (m > threshold) {
        at.push(p);
        by.push(m);
      }
    }
  }
  return { at, by };
}

/** A mask with its pixel count and bounding box kept up to date as pixels are set. */
class MaskBuilder {
  readonly data: Uint8Array;
  pixels = 0;
  private x0: number;
  private y0: number;
  private x1 = 0;
  private y1 = 0;
  constructor(private readonly size: number) {
    this.data = new Uint8Array(size * size);
    this.x0 = this.y0 = size;
  }
  set(x: number, y: number): void {
    const i = y * this.size + x;
    if (this.data[i]) return;
    this.data[i] = 255;
    this.pixels++;
    if (x < this.x0) this.x0 = x;
    if (x >= this.x1) this.x1 = x + 1;
    if (y < this.y0) this.y0 = y;
    if (y >= this.y1) this.y1 = y + 1;
  }
  finish(): TagMask {
    return { data: this.data, pixels: this.pixels, box: this.pixels ? [this.x0, this.y0, this.x1, this.y1] : [0, 0, 0, 0] };
  }
}

export async function renderScene(recipe: SceneRecipe, options: RenderOptions): Promise<RenderedScene> {
  const { size, threshold } = { ...DEFAULTS, ...options };
  expectNumberInRange('size', size, 16, 4096, true);
  expectNumberInRange('threshold', threshold, 0, 254);
  if (recipe.characters.length > COUNT_TAGS.length) {
    throw new TagbooruError('E_USAGE', `Expected at most ${COUNT_TAGS.length} characters in a scene but received ${recipe.characters.length}`);
  }
  const planned = recipe.characters.map((c, index) => ({ index, plan: characterTiles(c, size) })).filter((p) => p.plan !== null);
  const bgSvg = backgroundSvg(recipe.background, size);
  const rows: Tile[][] = planned.map((p) => p.plan!.tiles);
  if (bgSvg !== null) rows.push([{ svg: (x, y) => `<svg x="${x}" y="${y}" width="${size}" height="${size}">${bgSvg}</svg>`, width: size, height: size }]);
  const { data, views } = await renderTiles(rows);
  // NOTE: a Uint32Array view needs a 4-byte-aligned offset; sharp's buffers usually are, else copy once
  const px = data.byteOffset % 4 === 0 ? data : data.slice();
  const words = new Uint32Array(px.buffer, px.byteOffset, px.length >> 2);
  let background: Uint8Array | undefined;
  if (bgSvg !== null) {
    const v = views[views.length - 1]![0]!;
    background = px.subarray(v.base, v.base + v.stride * size);
  }
  const img = fillBackground(recipe.background, size, background, background && views[views.length - 1]![0]!.stride);
  const layers: Layer[] = planned.map(({ index, plan }, k) => {
    const { box, parts } = plan!;
    const [drawn, ...withouts] = views[k]!;
    return { index, box, width: box.x1 - box.x0, height: box.y1 - box.y0, drawn: drawn!, parts: parts.map((part, i) => ({ part, without: withouts[i]! })) };
  });

  // Composite back to front, keeping what lay below each character.
  const belows = layers.map(({ box, width, height, drawn }) => {
    const below = new Float32Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0, o = ((box.y0 + y) * size + box.x0) * 3, p = y * width * 3, i = drawn.base + y * drawn.stride; x < width; x++, o += 3, p += 3, i += 4) {
        below[p] = img[o]!;
        below[p + 1] = img[o + 1]!;
        below[p + 2] = img[o + 2]!;
        const a = px[i + 3]! / 255;
        if (a === 0) continue;
        for (let k = 0; k < 3; k++) img[o + k] = img[o + k]! + (px[i + k]! - img[o + k]!) * a;
      }
    }
    return below;
  });

  // How much of each character's box shows through the characters in front of it.
  const transmittance = layers.map(({ box, width, height }, k) => {
    const t = new Float32Array(width * height).fill(1);
    for (const front of layers.slice(k + 1)) {
      const fb = front.box, v = front.drawn;
      for (let y = Math.max(box.y0, fb.y0); y < Math.min(box.y1, fb.y1); y++) {
        for (let x = Math.max(box.x0, fb.x0); x < Math.min(box.x1, fb.x1); x++) {
          t[(y - box.y0) * width + (x - box.x0)]! *= 1 - px[v.base + (y - fb.y0) * v.stride + (x - fb.x0) * 4 + 3]! / 255;
        }
      }
    }
    return t;
  });

  const builders = new Map<SyntheticTag, MaskBuilder>();
  const maskOf = (tag: SyntheticTag) => builders.get(tag) ?? (builders.set(tag, new MaskBuilder(size)), builders.get(tag)!);
  const reports: PartReport[] = [];
  const people = new MaskBuilder(size);
  const areaScale = (size / 256) ** 2;
  let visibleCharacters = 0;

  layers.forEach((layer, k) => {
    const { box, width, height, drawn } = layer, t = transmittance[k]!;
    let own = 0, shown = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const a = px[drawn.base + y * drawn.stride + 4 * x + 3]! / 255;
        if (a === 0) continue;
        const s = a * t[y * width + x]!;
        own += a;
        shown += s;
        if (s > 0.5) people.set(box.x0 + x, box.y0 + y);
      }
    }
    if (own > 0 && shown / own >= 0.5) visibleCharacters++;

    const changes = new Map(layer.parts.map(({ part, without }) => [part.name, changedPixels(px, words, belows[k]!, drawn, without, width, height, threshold)] as const));
    for (const { part } of layer.parts) {
      const { at, by } = changes.get(part.name)!;
      const minus = part.subtract ? new Set(changes.get(part.subtract)?.at) : undefined;
      const seen: number[] = [];
      let intrinsic = 0;
      for (let i = 0; i < at.length; i++) {
        const p = at[i]!;
        if (minus?.has(p)) continue;
        intrinsic++;
        if (by[i]! * t[p]! > threshold) seen.push(p);
      }
      const rule = PART_VISIBILITY[part.name];
      const kept = seen.length > 0 && seen.length >= rule.pixels * areaScale && seen.length >= rule.fraction * intrinsic;
      reports.push({ character: layer.index, name: part.name, tags: part.tags, visible: seen.length, intrinsic, kept });
      if (!kept) continue;
      for (const tag of part.tags) {
        const m = maskOf(tag);
        for (const p of seen) m.set(box.x0 + (p % width), box.y0 + Math.floor(p / width));
      }
    }
  });

  if (visibleCharacters > 0) builders.set(COUNT_TAGS[visibleCharacters - 1]!, people);
  const backdrop = new MaskBuilder(size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (!people.data[y * size + x]) backdrop.set(x, y);
  for (const tag of BACKGROUND_TAGS[recipe.background.kind]) builders.set(tag, backdrop);

  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(img[i]!);
  const tags = TAG_NAMES.filter((t) => builders.has(t));
  const masks = new Map(tags.map((t) => [t, builders.get(t)!.finish()] as const));
  return { size, rgb, tags, masks, parts: reports, visibleCharacters };
}

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
import { footprintBox, partFootprint } from './footprint.ts';
import { MaskBuilder } from './mask-builder.ts';
import type { SceneRecipe } from './recipe.ts';
import { renderTiles, type Tile, type View } from './tiles.ts';
import { TAG_NAMES, type SyntheticTag } from './tags.ts';

export interface RenderOptions {
  /** Image side in pixels. */
  size: number;
  /** A pixel belongs to a mask when a channel changes by more than this (0–255). */
  threshold?: number;
  /** Render a small part's removal only where it can draw (footprint.ts); false compares whole boxes (for tests). */
  footprints?: boolean;
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

const DEFAULTS = { threshold: 16, footprints: true } satisfies Partial<RenderOptions>;
const COUNT_TAGS = ['solo', '2others', '3others'] as const satisfies readonly SyntheticTag[];

/** A character's box, rendered as drawn, and the region of each tagged part rendered without it. */
interface Layer {
  index: number;
  box: PixelBox;
  width: number;
  height: number;
  drawn: View;
  parts: { part: Part; region: PixelBox; without: View }[];
}

interface CharacterPlan {
  box: PixelBox;
  parts: { part: Part; region: PixelBox }[];
  tiles: Tile[];
}

async function characterTiles(c: CharacterRecipe, size: number, footprints: boolean): Promise<CharacterPlan | null> {
  const box = characterBox(c, size);
  if (!box) return null;
  const avatar = createCharacterAvatar(c.style, c.options);
  const settled = settleOptions(c.style, c.options, avatar.extra);
  const parts = await Promise.all(
    characterParts(c.style, avatar.extra).map(async (part) => {
      const f = footprints ? await partFootprint(c.style, part) : null;
      return { part, region: f ? footprintBox(c, f, size, box) : box };
    }),
  );
  // a part whose footprint falls outside the image draws nothing here
  const drawnParts = parts.filter((p): p is { part: Part; region: PixelBox } => p.region !== null);
  const tile = (svg: string, r: PixelBox): Tile => ({ svg: (x, y) => placedSvg(c, svg, size, r, x, y), width: r.x1 - r.x0, height: r.y1 - r.y0 });
  return {
    box,
    parts: drawnParts,
    tiles: [tile(avatar.svg, box), ...drawnParts.map(({ part, region }) => tile(createCharacterAvatar(c.style, { ...settled, ...part.without }).svg, region))],
  };
}

/**
 * The box pixels (index y·width + x) of `region` where the picture over `below` (the image so far,
 * `size`² RGB) changes by more than `threshold` in some channel between the layer as drawn and the
 * region rendered without a part.
 */
function changedPixels(data: Uint8Array, words: Uint32Array, below: Float32Array, size: number, layer: Layer, region: PixelBox, without: View, threshold: number): { at: number[]; by: number[] } {
  const at: number[] = [], by: number[] = [];
  const { box, width, drawn } = layer;
  for (let y = region.y0; y < region.y1; y++) {
    const ra = drawn.base + (y - box.y0) * drawn.stride + 4 * (region.x0 - box.x0), rb = without.base + (y - region.y0) * without.stride;
    for (let x = 0; x < region.x1 - region.x0; x++) {
      const ia = ra + 4 * x, ib = rb + 4 * x;
      if (words[ia >> 2] === words[ib >> 2]) continue;
      const aa = data[ia + 3]! / 255, ab = data[ib + 3]! / 255, p = (y - box.y0) * width + (x + region.x0 - box.x0), o = (y * size + x + region.x0) * 3;
      let m = 0;
      for (let k = 0; k < 3; k++) {
        const bg = below[o + k]!;
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

export async function renderScene(recipe: SceneRecipe, options: RenderOptions): Promise<RenderedScene> {
  const { size, threshold, footprints } = { ...DEFAULTS, ...options };
  expectNumberInRange('size', size, 16, 4096, true);
  expectNumberInRange('threshold', threshold, 0, 254);
  if (recipe.characters.length > COUNT_TAGS.length) {
    throw new TagbooruError('E_USAGE', `Expected at most ${COUNT_TAGS.length} characters in a scene but received ${recipe.characters.length}`);
  }
  const plans = await Promise.all(recipe.characters.map((c) => characterTiles(c, size, footprints)));
  const planned = plans.map((plan, index) => ({ index, plan })).filter((p) => p.plan !== null);
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
    return { index, box, width: box.x1 - box.x0, height: box.y1 - box.y0, drawn: drawn!, parts: parts.map(({ part, region }, i) => ({ part, region, without: withouts[i]! })) };
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

  // Back to front: while `img` holds what lies below a character, measure its parts, then composite it.
  layers.forEach((layer, k) => {
    const { box, width, height, drawn } = layer, t = transmittance[k]!;
    const changes = new Map(layer.parts.map(({ part, region, without }) => [part.name, changedPixels(px, words, img, size, layer, region, without, threshold)] as const));
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

    let own = 0, shown = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0, o = ((box.y0 + y) * size + box.x0) * 3, i = drawn.base + y * drawn.stride; x < width; x++, o += 3, i += 4) {
        const a = px[i + 3]! / 255;
        if (a === 0) continue;
        for (let c = 0; c < 3; c++) img[o + c] = img[o + c]! + (px[i + c]! - img[o + c]!) * a;
        const s = a * t[y * width + x]!;
        own += a;
        shown += s;
        if (s > 0.5) people.set(box.x0 + x, box.y0 + y);
      }
    }
    if (own > 0 && shown / own >= 0.5) visibleCharacters++;
  });

  if (visibleCharacters > 0) builders.set(COUNT_TAGS[visibleCharacters - 1]!, people);
  const backdrop = MaskBuilder.complement(people, size);
  for (const tag of BACKGROUND_TAGS[recipe.background.kind]) builders.set(tag, backdrop);

  // a clamped array rounds (half to even) and clamps in one native copy
  const clamped = new Uint8ClampedArray(img.length);
  clamped.set(img);
  const rgb = new Uint8Array(clamped.buffer);
  const tags = TAG_NAMES.filter((t) => builders.has(t));
  const masks = new Map(tags.map((t) => [t, builders.get(t)!.finish()] as const));
  return { size, rgb, tags, masks, parts: reports, visibleCharacters };
}

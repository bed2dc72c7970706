/**
 * Recipe → pixels, tags and ground-truth masks. Each character is rendered alone in its box, once as
 * drawn and once without each tagged part; the scene is composited here, so a part's mask is exactly the
 * pixels of the final image that change when it is left out (other characters in front included).
 */
import { TagbooruError, expectNumberInRange } from '../../errors.ts';
import { LUMA } from '../../image/colour.ts';
import { LINE_ART_HIDES } from '../../image/line-art.ts';
import { BACKGROUND_TAGS, backgroundSvg, fillBackground } from './background.ts';
import {
  PART_VISIBILITY, characterBox, characterParts, createCharacterAvatar, placedSvg, settleOptions,
  type CharacterRecipe, type Part, type PartName, type PixelBox,
} from './character.ts';
import { footprintBox, partFootprint } from './footprint.ts';
import { RENDERING_TAGS, applyLook } from './look.ts';
import { MaskBuilder } from './mask-builder.ts';
import type { SceneRecipe } from './recipe.ts';
import { MAX_CHARACTERS } from './settings.ts';
import { renderTiles, type Tile, type View } from './tiles.ts';
import { ALL_TAG_NAMES, COLOUR_TAGS, type SyntheticTag } from './tags.ts';

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
  /** Share of its footprint inside the frame (1 unless the recipe crops). */
  inFrame: number;
  kept: boolean;
}

export interface CharacterReport {
  character: number;
  /** Share of its box inside the frame (a square's, so an estimate of the drawing's). */
  inFrame: number;
  /** Counted in the count tag: enough of it in the frame, at least half of that not hidden. */
  counted: boolean;
}

export interface RenderedScene {
  size: number;
  /** RGB, row-major. */
  rgb: Uint8Array;
  /** In tags.txt order. */
  tags: SyntheticTag[];
  masks: Map<SyntheticTag, TagMask>;
  parts: PartReport[];
  characters: CharacterReport[];
  /** How many characters are visible (at least half of each one's silhouette). */
  visibleCharacters: number;
  /** Tags that may or may not hold (a colour near a band edge, a colour drawn without colour): neither positive nor negative. */
  unknownTags: SyntheticTag[];
}

const DEFAULTS = { threshold: 16, footprints: true } satisfies Partial<RenderOptions>;
// the last one counts every character beyond
const COUNT_TAGS = ['solo', '2others', '3others', '4others', '5others', '6+others'] as const satisfies readonly SyntheticTag[];
/** A cropped character counts when this share of its box is inside the frame (a face cut at a corner keeps about 0.36). */
const IN_FRAME_TO_COUNT = 0.3;
// NOTE: the tags are the generator's own, so the shared table's names are its SyntheticTags
const LINE_ART_UNKNOWN = LINE_ART_HIDES as Partial<Record<SyntheticTag, readonly SyntheticTag[]>>;

/** A character's box, rendered as drawn, and the region of each tagged part rendered without it. */
interface Layer {
  index: number;
  box: PixelBox;
  /** Share of the unclipped box inside the frame. */
  inFrame: number;
  width: number;
  height: number;
  drawn: View;
  parts: { part: Part; region: PixelBox; inFrame: number; without: View }[];
}

interface CharacterPlan {
  box: PixelBox;
  inFrame: number;
  parts: { part: Part; region: PixelBox; inFrame: number }[];
  tiles: Tile[];
}

async function characterTiles(c: CharacterRecipe, size: number, footprints: boolean): Promise<CharacterPlan | null> {
  const box = characterBox(c, size);
  if (!box) return null;
  const whole = characterBox(c, size, false)!;
  const avatar = createCharacterAvatar(c.style, c.options);
  const settled = settleOptions(c.style, c.options, avatar.extra);
  const parts = await Promise.all(
    characterParts(c.style, avatar.extra).map(async (part) => {
      const f = footprints ? await partFootprint(c.style, part) : null;
      const region = f ? footprintBox(c, f, size, box) : box;
      const full = f ? footprintBox(c, f, size, whole) : whole;
      return { part, region, inFrame: region && full ? area(region) / area(full) : 0 };
    }),
  );
  // a part whose footprint falls outside the image draws nothing here
  const drawnParts = parts.filter((p): p is { part: Part; region: PixelBox; inFrame: number } => p.region !== null);
  const tile = (svg: string, r: PixelBox): Tile => ({ svg: (x, y) => placedSvg(c, svg, size, r, x, y), width: r.x1 - r.x0, height: r.y1 - r.y0 });
  return {
    box,
    inFrame: area(box) / area(whole),
    parts: drawnParts,
    tiles: [tile(avatar.svg, box), ...drawnParts.map(({ part, region }) => tile(createCharacterAvatar(c.style, { ...settled, ...part.without }).svg, region))],
  };
}

const area = (b: PixelBox) => (b.x1 - b.x0) * (b.y1 - b.y0);

/**
 * The box pixels (index y·width + x) of `region` where the picture over `below` (the image so far,
 * `size`² RGB) changes by more than `threshold` in some channel between the layer as drawn and the
 * region rendered without a part. With `grey`, the change is measured in luminance: what a rendering
 * without colour still shows.
 */
function changedPixels(data: Uint8Array, words: Uint32Array, below: Float32Array, size: number, layer: Layer, region: PixelBox, without: View, threshold: number, grey: boolean): { at: number[]; by: number[] } {
  const at: number[] = [], by: number[] = [];
  const { box, width, drawn } = layer;
  for (let y = region.y0; y < region.y1; y++) {
    const ra = drawn.base + (y - box.y0) * drawn.stride + 4 * (region.x0 - box.x0), rb = without.base + (y - region.y0) * without.stride;
    for (let x = 0; x < region.x1 - region.x0; x++) {
      const ia = ra + 4 * x, ib = rb + 4 * x;
      if (words[ia >> 2] === words[ib >> 2]) continue;
      const aa = data[ia + 3]! / 255, ab = data[ib + 3]! / 255, p = (y - box.y0) * width + (x + region.x0 - box.x0), o = (y * size + x + region.x0) * 3;
      let m = 0, l = 0;
      for (let k = 0; k < 3; k++) {
        const bg = below[o + k]!;
        const d = (data[ia + k]! - bg) * aa - (data[ib + k]! - bg) * ab;
        l += LUMA[k]! * d;
        if (Math.abs(d) > m) m = Math.abs(d);
      }
      if (grey) m = Math.abs(l);
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
  if (recipe.characters.length > MAX_CHARACTERS) {
    throw new TagbooruError('E_USAGE', `Expected at most ${MAX_CHARACTERS} characters in a scene but received ${recipe.characters.length}`);
  }
  const rendering = recipe.look?.rendering ?? 'colour', grey = rendering !== 'colour', crop = recipe.crop === true;
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
    const { box, parts, inFrame } = plan!;
    const [drawn, ...withouts] = views[k]!;
    return { index, box, inFrame, width: box.x1 - box.x0, height: box.y1 - box.y0, drawn: drawn!, parts: parts.map(({ part, region, inFrame }, i) => ({ part, region, inFrame, without: withouts[i]! })) };
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
  const characters: CharacterReport[] = [];
  const unknown = new Set<SyntheticTag>();
  const people = new MaskBuilder(size);
  const areaScale = (size / 256) ** 2;
  let visibleCharacters = 0;

  // Back to front: while `img` holds what lies below a character, measure its parts, then composite it.
  layers.forEach((layer, k) => {
    const { box, width, height, drawn } = layer, t = transmittance[k]!;
    const changes = new Map(layer.parts.map(({ part, region, without }) => [part.name, changedPixels(px, words, img, size, layer, region, without, threshold, grey)] as const));
    for (const { part, inFrame } of layer.parts) {
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
      // NOTE: a cropping recipe counts the part's pixels the frame cuts off as unseen (estimated from its footprint)
      const whole = crop ? intrinsic / Math.max(inFrame, 1e-6) : intrinsic;
      const kept = seen.length > 0 && seen.length >= rule.pixels * areaScale && seen.length >= rule.fraction * whole;
      reports.push({ character: layer.index, name: part.name, tags: part.tags, visible: seen.length, intrinsic, inFrame: crop ? inFrame : 1, kept });
      if (!kept) continue;
      part.unknown?.forEach((t) => unknown.add(t));
      const erased = rendering === 'lineart' ? part.tags.flatMap((t) => LINE_ART_UNKNOWN[t] ?? []) : [];
      if (erased.length > 0) {
        erased.forEach((t) => unknown.add(t));
        continue;
      }
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
    const counted = own > 0 && shown / own >= 0.5 && (!crop || layer.inFrame >= IN_FRAME_TO_COUNT);
    if (counted) visibleCharacters++;
    characters.push({ character: layer.index, inFrame: layer.inFrame, counted });
  });

  if (visibleCharacters > 0) builders.set(COUNT_TAGS[Math.min(visibleCharacters, COUNT_TAGS.length) - 1]!, people);
  const backdrop = MaskBuilder.complement(people, size);
  for (const tag of BACKGROUND_TAGS[recipe.background.kind]) builders.set(tag, backdrop);

  if (grey) {
    // colour is not drawn: whatever colour tags the scene had can be neither seen nor denied
    for (const t of COLOUR_TAGS) {
      builders.delete(t);
      unknown.add(t);
    }
    const frame = new MaskBuilder(size);
    frame.fill();
    for (const t of RENDERING_TAGS[rendering]) builders.set(t, frame);
  }

  // a clamped array rounds (half to even) and clamps in one native copy
  const clamped = new Uint8ClampedArray(img.length);
  clamped.set(img);
  const composite = new Uint8Array(clamped.buffer);
  const rgb = recipe.look ? await applyLook(composite, size, recipe.look) : composite;
  const tags = ALL_TAG_NAMES.filter((t) => builders.has(t));
  const masks = new Map(tags.map((t) => [t, builders.get(t)!.finish()] as const));
  const unknownTags = ALL_TAG_NAMES.filter((t) => unknown.has(t) && !builders.has(t));
  return { size, rgb, tags, masks, parts: reports, characters, visibleCharacters, unknownTags };
}

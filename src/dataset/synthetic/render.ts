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

/** A character's box, rendered as drawn and without each tagged part (straight RGBA, box-sized). */
interface Layer {
  index: number;
  box: PixelBox;
  width: number;
  height: number;
  drawn: Uint8Array;
  parts: { part: Part; without: Uint8Array }[];
}

interface Tile {
  svg: (x: number, y: number) => string;
  width: number;
  height: number;
  x: number;
  y: number;
}

/**
 * Every SVG of a scene in one rasterisation: tiles in rows (one row per character), so the pipeline's
 * fixed cost is paid once per image rather than once per render.
 */
async function renderTiles(rows: Tile[][]): Promise<Uint8Array[][]> {
  let height = 0, width = 0;
  for (const row of rows) {
    let x = 0;
    for (const t of row) {
      t.x = x;
      t.y = height;
      x += t.width;
    }
    width = Math.max(width, x);
    height += Math.max(0, ...row.map((t) => t.height));
  }
  const body = rows.flatMap((row) => row.map((t) => t.svg(t.x, t.y))).join('');
  const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`, width, height);
  return rows.map((row) =>
    row.map((t) => {
      const out = new Uint8Array(t.width * t.height * 4);
      for (let y = 0; y < t.height; y++) out.set(data.subarray(((t.y + y) * width + t.x) * 4, ((t.y + y) * width + t.x + t.width) * 4), y * t.width * 4);
      return out;
    }),
  );
}

function characterTiles(c: CharacterRecipe, size: number): { box: PixelBox; parts: Part[]; tiles: Tile[] } | null {
  const box = characterBox(c, size);
  if (!box) return null;
  const avatar = createCharacterAvatar(c.style, c.options);
  const settled = settleOptions(c.style, c.options, avatar.extra);
  const parts = characterParts(c.style, avatar.extra);
  const width = box.x1 - box.x0, height = box.y1 - box.y0;
  const svgs = [avatar.svg, ...parts.map((p) => createCharacterAvatar(c.style, { ...settled, ...p.without }).svg)];
  return { box, parts, tiles: svgs.map((svg) => ({ svg: (x, y) => placedSvg(c, svg, size, box, x, y), width, height, x: 0, y: 0 })) };
}

/** Max channel change, per box pixel, between `below` under layer `a` and under layer `b`; 0 when within threshold. */
function partDiff(below: Float32Array, a: Uint8Array, b: Uint8Array, threshold: number): Float32Array {
  const n = a.length >> 2, d = new Float32Array(n);
  for (let p = 0, o3 = 0, o4 = 0; p < n; p++, o3 += 3, o4 += 4) {
    const aa = a[o4 + 3]! / 255, ab = b[o4 + 3]! / 255;
    if (aa === ab && a[o4] === b[o4] && a[o4 + 1] === b[o4 + 1] && a[o4 + 2] === b[o4 + 2]) continue;
    let m = 0;
    for (let k = 0; k < 3; k++) {
      const bg = below[o3 + k]!;
      const diff = Math.abs((a[o4 + k]! - bg) * aa - (b[o4 + k]! - bg) * ab);
      if (diff > m) m = diff;
    }
    if (m > threshold) d[p] = m;
  }
  return d;
}

function finishMask(data: Uint8Array, size: number): TagMask {
  let pixels = 0, x0 = size, y0 = size, x1 = 0, y1 = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0, i = y * size; x < size; x++, i++) {
      if (!data[i]) continue;
      pixels++;
      if (x < x0) x0 = x;
      if (x >= x1) x1 = x + 1;
      if (y < y0) y0 = y;
      y1 = y + 1;
    }
  }
  return { data, pixels, box: pixels ? [x0, y0, x1, y1] : [0, 0, 0, 0] };
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
  if (bgSvg !== null) rows.push([{ svg: (x, y) => `<svg x="${x}" y="${y}" width="${size}" height="${size}">${bgSvg}</svg>`, width: size, height: size, x: 0, y: 0 }]);
  const pixels = await renderTiles(rows);
  const img = fillBackground(recipe.background, size, bgSvg === null ? undefined : pixels[pixels.length - 1]![0]);
  const layers: Layer[] = planned.map(({ index, plan }, k) => {
    const { box, parts } = plan!;
    const [drawn, ...withouts] = pixels[k]!;
    return { index, box, width: box.x1 - box.x0, height: box.y1 - box.y0, drawn: drawn!, parts: parts.map((part, i) => ({ part, without: withouts[i]! })) };
  });

  // Composite back to front, keeping what lay below each character.
  const belows = layers.map(({ box, width, drawn }) => {
    const below = new Float32Array(width * (box.y1 - box.y0) * 3);
    for (let y = box.y0; y < box.y1; y++) {
      for (let x = box.x0, o = (y * size + x) * 3, p = (y - box.y0) * width; x < box.x1; x++, o += 3, p++) {
        const a = drawn[p * 4 + 3]! / 255;
        for (let k = 0; k < 3; k++) {
          const v = img[o + k]!;
          below[p * 3 + k] = v;
          if (a > 0) img[o + k] = v + (drawn[p * 4 + k]! - v) * a;
        }
      }
    }
    return below;
  });

  // How much of each character's box shows through the characters in front of it.
  const transmittance = layers.map(({ box, width, height }, k) => {
    const t = new Float32Array(width * height).fill(1);
    for (const front of layers.slice(k + 1)) {
      const fb = front.box;
      for (let y = Math.max(box.y0, fb.y0); y < Math.min(box.y1, fb.y1); y++) {
        for (let x = Math.max(box.x0, fb.x0); x < Math.min(box.x1, fb.x1); x++) {
          t[(y - box.y0) * width + (x - box.x0)]! *= 1 - front.drawn[((y - fb.y0) * front.width + (x - fb.x0)) * 4 + 3]! / 255;
        }
      }
    }
    return t;
  });

  const maskData = new Map<SyntheticTag, Uint8Array>();
  const maskOf = (tag: SyntheticTag) => maskData.get(tag) ?? (maskData.set(tag, new Uint8Array(size * size)), maskData.get(tag)!);
  const reports: PartReport[] = [];
  const people = new Uint8Array(size * size);
  const areaScale = (size / 256) ** 2;
  let visibleCharacters = 0;

  layers.forEach((layer, k) => {
    const { box, width, height, drawn } = layer, t = transmittance[k]!, n = width * height;
    let own = 0, shown = 0;
    for (let p = 0; p < n; p++) {
      const a = drawn[p * 4 + 3]! / 255;
      if (a === 0) continue;
      own += a;
      shown += a * t[p]!;
      if (a * t[p]! > 0.5) people[(box.y0 + Math.floor(p / width)) * size + box.x0 + (p % width)] = 255;
    }
    if (own > 0 && shown / own >= 0.5) visibleCharacters++;

    const diffs = new Map<PartName, Float32Array>(layer.parts.map(({ part, without }) => [part.name, partDiff(belows[k]!, drawn, without, threshold)]));
    for (const { part } of layer.parts) {
      const d = diffs.get(part.name)!, minus = part.subtract ? diffs.get(part.subtract) : undefined;
      const seen = new Uint8Array(n);
      let intrinsic = 0, visible = 0;
      for (let p = 0; p < n; p++) {
        if (d[p] === 0 || (minus && minus[p]! > 0)) continue;
        intrinsic++;
        if (d[p]! * t[p]! > threshold) {
          seen[p] = 1;
          visible++;
        }
      }
      const rule = PART_VISIBILITY[part.name];
      const kept = visible > 0 && visible >= rule.pixels * areaScale && visible >= rule.fraction * intrinsic;
      reports.push({ character: layer.index, name: part.name, tags: part.tags, visible, intrinsic, kept });
      if (!kept) continue;
      for (const tag of part.tags) {
        const m = maskOf(tag);
        for (let y = 0; y < height; y++) {
          for (let x = 0, p = y * width, o = (box.y0 + y) * size + box.x0; x < width; x++, p++, o++) if (seen[p]) m[o] = 255;
        }
      }
    }
  });

  if (visibleCharacters > 0) maskData.set(COUNT_TAGS[visibleCharacters - 1]!, people);
  const backdrop = new Uint8Array(size * size);
  for (let i = 0; i < backdrop.length; i++) backdrop[i] = people[i] ? 0 : 255;
  for (const tag of BACKGROUND_TAGS[recipe.background.kind]) maskData.set(tag, backdrop);

  const rgb = new Uint8Array(size * size * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(img[i]!);
  const tags = TAG_NAMES.filter((t) => maskData.has(t));
  const masks = new Map(tags.map((t) => [t, finishMask(maskData.get(t)!, size)] as const));
  return { size, rgb, tags, masks, parts: reports, visibleCharacters };
}

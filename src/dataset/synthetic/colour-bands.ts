/**
 * Wide colour ranges with labels that follow the drawn colour: each hair-colour tag owns a band of
 * hue, saturation and lightness (HSL), and dark skin a band of lightness. A colour inside one band
 * and farther than `MARGIN` from every other band gets that tag; a colour within reach of two bands, or
 * only near one, is ambiguous: its candidate tags are recorded as unknown (or the colour is drawn again,
 * see settings.ts).
 */
import type { Rng } from '../../models/random.ts';
import { hslHex, parseHex } from './background.ts';
import type { HairColourTag } from './palette.ts';

/** A closed range; hue ranges may wrap (from > to, e.g. 345–12 for red). */
type Span = readonly [number, number];

interface Band {
  hue?: Span;
  sat?: Span;
  light: Span;
}

/** Hue in degrees, saturation and lightness 0–1. */
export const HAIR_BANDS = {
  black_hair: { light: [0, 0.17] },
  brown_hair: { hue: [12, 45], sat: [0.2, 1], light: [0.17, 0.42] },
  blonde_hair: { hue: [40, 62], sat: [0.45, 1], light: [0.5, 0.8] },
  red_hair: { hue: [345, 12], sat: [0.5, 1], light: [0.25, 0.55] },
  orange_hair: { hue: [18, 36], sat: [0.6, 1], light: [0.47, 0.62] },
  pink_hair: { hue: [305, 345], sat: [0.45, 1], light: [0.55, 0.85] },
  purple_hair: { hue: [262, 295], sat: [0.3, 1], light: [0.25, 0.6] },
  blue_hair: { hue: [200, 240], sat: [0.45, 1], light: [0.3, 0.68] },
  green_hair: { hue: [95, 150], sat: [0.3, 1], light: [0.25, 0.6] },
  grey_hair: { sat: [0, 0.1], light: [0.3, 0.7] },
  white_hair: { sat: [0, 0.3], light: [0.88, 1] },
} as const satisfies Record<HairColourTag, Band>;

/** Skin darker than `dark` (HSL lightness) is `dark_skin`, lighter than `light` is not; between is unknown. */
export const SKIN_BANDS = { dark: 0.42, light: 0.5, hue: [14, 38], sat: [0.25, 0.7], range: [0.15, 0.88] } as const;

/** How far inside a band a colour must lie to be labelled, per axis. */
export const MARGIN = { hue: 6, sat: 0.06, light: 0.03 } as const;

export function hexHsl(colour: string): [number, number, number] {
  const [r, g, b] = parseHex(colour).map((v) => v / 255) as [number, number, number];
  const max = Math.max(r, g, b), min = Math.min(r, g, b), l = (max + min) / 2, d = max - min;
  if (d === 0) return [0, 0, l];
  const s = d / (1 - Math.abs(2 * l - 1));
  const h = max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return [h * 60, s, l];
}

const hueIn = (h: number, [a, b]: Span, grow: number): boolean => {
  const from = (a - grow + 360) % 360, to = (b + grow + 360) % 360;
  return from <= to ? h >= from && h <= to : h >= from || h <= to;
};
const within = (v: number, [a, b]: Span, grow: number): boolean => v >= a - grow && v <= b + grow;

/** Inside `band` grown by `k` margins (k = 0: the band, k = 1: its reach). */
function inBand(band: Band, [h, s, l]: [number, number, number], k: number): boolean {
  // NOTE: hue means nothing for a grey: a band with a hue never holds a colour of (near) zero saturation
  if (band.hue && (s < 0.02 || !hueIn(h, band.hue, k * MARGIN.hue))) return false;
  return (!band.sat || within(s, band.sat, k * MARGIN.sat)) && within(l, band.light, k * MARGIN.light);
}

export type ColourLabel<T extends string> = { tag: T } | { unknown: T[] };

const BANDS = Object.entries(HAIR_BANDS) as [HairColourTag, Band][];

/** The tag of a hair colour, or the tags it might be taken for when it lies near band edges (none: no band). */
export function classifyHair(colour: string): ColourLabel<HairColourTag> {
  const hsl = hexHsl(colour);
  const reach = BANDS.filter(([, b]) => inBand(b, hsl, 1));
  return reach.length === 1 && inBand(reach[0]![1], hsl, 0) ? { tag: reach[0]![0] } : { unknown: reach.map(([t]) => t) };
}

export function classifySkin(colour: string): { tag: 'dark_skin' | 'light' } | { unknown: 'dark_skin'[] } {
  const l = hexHsl(colour)[2];
  if (l <= SKIN_BANDS.dark - MARGIN.light) return { tag: 'dark_skin' };
  if (l >= SKIN_BANDS.light) return { tag: 'light' };
  return { unknown: ['dark_skin'] };
}

const spanDraw = (rng: Rng, [a, b]: Span) => rng.uniform(a, b);

/** A colour anywhere in `tag`'s band: near a neighbouring band it comes out ambiguous. */
export function sampleHairColour(rng: Rng, tag: HairColourTag): string {
  const band: Band = HAIR_BANDS[tag];
  const [h0, h1] = band.hue ?? [0, 360];
  const hue = rng.uniform(h0, h1 < h0 ? h1 + 360 : h1) % 360;
  return hslHex(hue, spanDraw(rng, band.sat ?? [0, 1]), spanDraw(rng, band.light));
}

export function sampleSkinColour(rng: Rng): string {
  return hslHex(spanDraw(rng, SKIN_BANDS.hue), spanDraw(rng, SKIN_BANDS.sat), spanDraw(rng, SKIN_BANDS.range));
}

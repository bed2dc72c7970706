/**
 * Where in its avatar a small part can draw, so that rendering the avatar without it only needs that
 * region. Each footprint is measured once per process: the part alone on a bare head, rendered with and
 * without it.
 */
import { createCharacterAvatar, type AvatarOptions, type CharacterRecipe, type Part, type PixelBox, type StyleName } from './character.ts';
import { renderSvg } from '../../image/svg.ts';

/** [u0, v0, u1, v1]: a rectangle in fractions of the avatar's side. */
export type Footprint = [number, number, number, number];

const SIDE = 256;
/** Pixels added around what was measured, at SIDE: anti-aliasing at other scales and angles reaches a little further. */
const MARGIN = 3;

// A head with nothing optional drawn: no hair (lorelei's hair holds the head, so it is transparent), no extras.
const BARE: Record<StyleName, AvatarOptions> = {
  lorelei: {
    hair: ['variant01'], hairColor: ['transparent'], skinColor: ['f2d3b1'], head: ['variant01'], eyes: ['variant04'], eyebrows: ['variant01'], nose: ['variant01'], mouth: ['happy01'],
    glasses: ['variant01'], glassesProbability: 0, earrings: ['variant01'], earringsProbability: 0, beard: ['variant01'], beardProbability: 0, freckles: ['variant01'], frecklesProbability: 0,
    hairAccessories: ['flowers'], hairAccessoriesProbability: 0, hairAccessoriesColor: ['e85d9c'], earringsColor: ['000000'], eyebrowsColor: ['000000'], eyesColor: ['000000'],
    frecklesColor: ['000000'], glassesColor: ['000000'], mouthColor: ['000000'], noseColor: ['000000'],
  },
  adventurer: {
    base: ['default'], hairProbability: 0, hair: ['short01'], hairColor: ['5b3a1e'], skinColor: ['f2d3b1'], eyes: ['variant01'], eyebrows: ['variant01'], mouth: ['variant02'],
    features: ['blush'], featuresProbability: 0, glasses: ['variant01'], glassesProbability: 0, earrings: ['variant01'], earringsProbability: 0,
  },
  micah: {
    base: ['standard'], baseColor: ['f9c9b6'], hairProbability: 0, hair: ['fonze'], hairColor: ['5b3a1e'], eyes: ['eyes'], eyebrows: ['up'], nose: ['curve'], ears: ['attached'],
    mouth: ['smile'], shirt: ['crew'], shirtColor: ['6bd9e9'], glasses: ['round'], glassesProbability: 0, glassesColor: ['000000'], earrings: ['hoop'], earringsProbability: 0,
    earringColor: ['f4d150'], facialHair: ['beard'], facialHairProbability: 0, facialHairColor: ['000000'], eyeShadowColor: ['d2eff3'],
  },
};

const cache = new Map<string, Promise<Footprint | null>>();

async function measure(style: StyleName, part: Part): Promise<Footprint | null> {
  const drawn = { ...BARE[style], ...part.alone };
  const svgs = [createCharacterAvatar(style, drawn).svg, createCharacterAvatar(style, { ...drawn, ...part.without }).svg];
  const body = svgs.map((svg, i) => svg.replace(/^<svg /, `<svg x="${i * SIDE}" y="0" width="${SIDE}" height="${SIDE}" `)).join('');
  const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${2 * SIDE}" height="${SIDE}">${body}</svg>`, 2 * SIDE, SIDE);
  let x0 = SIDE, y0 = SIDE, x1 = -1, y1 = -1;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const a = (y * 2 * SIDE + x) * 4, b = a + SIDE * 4;
      if (data[a] === data[b] && data[a + 1] === data[b + 1] && data[a + 2] === data[b + 2] && data[a + 3] === data[b + 3]) continue;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
  }
  // NOTE: a part that draws nothing on the bare head gets no footprint, so it is compared everywhere
  if (x1 < 0) return null;
  return [Math.max(0, x0 - MARGIN) / SIDE, Math.max(0, y0 - MARGIN) / SIDE, Math.min(SIDE, x1 + 1 + MARGIN) / SIDE, Math.min(SIDE, y1 + 1 + MARGIN) / SIDE];
}

/** The part's footprint in its avatar, or null when it may draw anywhere. */
export function partFootprint(style: StyleName, part: Part): Promise<Footprint | null> {
  if (!part.alone) return Promise.resolve(null);
  const key = JSON.stringify([style, part.name, part.alone]);
  let f = cache.get(key);
  if (!f) cache.set(key, (f = measure(style, part)));
  return f;
}

/** The pixels of the scene a footprint covers for a placed character, within `box` (null if none). */
export function footprintBox(c: CharacterRecipe, f: Footprint, size: number, box: PixelBox): PixelBox | null {
  const s = c.size * size, a = (c.rotation * Math.PI) / 180, cos = Math.cos(a), sin = Math.sin(a);
  const xs: number[] = [], ys: number[] = [];
  for (const [u, v] of [[f[0], f[1]], [f[2], f[1]], [f[0], f[3]], [f[2], f[3]]] as const) {
    // the same transform as placedSvg: centre, mirror, rotate, move
    const lx = (u - 0.5) * s * (c.flip ? -1 : 1), ly = (v - 0.5) * s;
    xs.push(c.x * size + lx * cos - ly * sin);
    ys.push(c.y * size + lx * sin + ly * cos);
  }
  const x0 = Math.max(box.x0, Math.floor(Math.min(...xs)) - 1), x1 = Math.min(box.x1, Math.ceil(Math.max(...xs)) + 1);
  const y0 = Math.max(box.y0, Math.floor(Math.min(...ys)) - 1), y1 = Math.min(box.y1, Math.ceil(Math.max(...ys)) + 1);
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : null;
}

/** The data tables checked against measurements of DiceBear's drawings, and the tag set against sampling. */
import { adventurer, lorelei, micah } from '@dicebear/collection';
import { describe, expect, test } from 'vitest';
import { BACKGROUND_TAGS } from '../../src/dataset/synthetic/background.ts';
import { characterParts, createCharacterAvatar, type StyleName } from '../../src/dataset/synthetic/character.ts';
import { HAIR_COLOURS, SKIN_COLOURS } from '../../src/dataset/synthetic/palette.ts';
import { renderSvg } from '../../src/image/svg.ts';
import { imageRng, sampleScene } from '../../src/dataset/synthetic/recipe.ts';
import * as M from '../../src/dataset/synthetic/styles-micah.ts';
import * as T from '../../src/dataset/synthetic/styles.ts';
import { TAG_NAMES } from '../../src/dataset/synthetic/tags.ts';

const TABLES = {
  lorelei: { hair: T.LORELEI_HAIR, eyes: T.LORELEI_EYES, mouth: T.LORELEI_MOUTH, glasses: T.LORELEI_GLASSES, earrings: T.LORELEI_EARRINGS },
  adventurer: { hair: T.ADVENTURER_HAIR, eyes: T.ADVENTURER_EYES, mouth: T.ADVENTURER_MOUTH, glasses: T.ADVENTURER_GLASSES, earrings: T.ADVENTURER_EARRINGS, features: T.ADVENTURER_FEATURES },
  micah: { hair: M.MICAH_HAIR, mouth: M.MICAH_MOUTH, glasses: M.MICAH_GLASSES, earrings: M.MICAH_EARRINGS, facialHair: M.MICAH_FACIAL_HAIR },
} as const;

const BASE = {
  lorelei: { skinColor: ['f2d3b1'], hairColor: ['6f4a2a'], head: ['variant01'], eyebrows: ['variant01'], nose: ['variant01'], eyes: ['variant04'], mouth: ['happy01'], glassesProbability: 0, earringsProbability: 0, frecklesProbability: 0, beardProbability: 0, hairAccessoriesProbability: 0 },
  adventurer: { skinColor: ['f2d3b1'], hairColor: ['6f4a2a'], base: ['default'], eyebrows: ['variant01'], eyes: ['variant01'], mouth: ['variant02'], glassesProbability: 0, earringsProbability: 0, featuresProbability: 0, hairProbability: 100 },
  micah: { baseColor: ['f9c9b6'], hairColor: ['6f4a2a'], base: ['standard'], eyebrows: ['up'], eyes: ['eyes'], mouth: ['smile'], shirtColor: ['ffffff'], glassesProbability: 0, earringsProbability: 0, facialHairProbability: 0, hairProbability: 100 },
} as const;
const NO_HAIR = { lorelei: { hairColor: ['transparent'] }, adventurer: { hairProbability: 0 } } as const;

/** Render avatars side by side in one pass; returns each as RGBA. */
async function avatars(style: StyleName, list: Record<string, unknown>[], s: number): Promise<Uint8Array[]> {
  const body = list.map((o, i) => createCharacterAvatar(style, { ...BASE[style], ...o } as never).svg.replace(/^<svg /, `<svg x="${i * s}" y="0" width="${s}" height="${s}" `)).join('');
  const w = s * list.length;
  const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${s}">${body}</svg>`, w, s);
  return list.map((_, i) => {
    const out = new Uint8Array(s * s * 4);
    for (let y = 0; y < s; y++) out.set(data.subarray((y * w + i * s) * 4, (y * w + i * s + s) * 4), y * s * 4);
    return out;
  });
}

function changed(a: Uint8Array, b: Uint8Array): Uint8Array {
  const m = new Uint8Array(a.length / 4);
  for (let i = 0; i < m.length; i++) {
    for (let k = 0; k < 4; k++) if (Math.abs(a[4 * i + k]! - b[4 * i + k]!) > 16) m[i] = 1;
  }
  return m;
}

const count = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);
const labelled = (style: StyleName) => Object.entries(TABLES[style].hair).filter(([, l]) => l !== null) as [string, T.HairLength][];

describe('the tables label every variant DiceBear draws', () => {
  test.each(['lorelei', 'adventurer', 'micah'] as const)('%s', (style) => {
    const schema = { lorelei, adventurer, micah }[style].schema.properties as Record<string, { default?: string[] }>;
    for (const [component, table] of Object.entries(TABLES[style] as Record<string, object>)) {
      expect(Object.keys(table).sort(), `${style} ${component}`).toEqual([...schema[component]!.default!].sort());
    }
  });
});

describe('hair length follows the measured rule', () => {
  test.each(['lorelei', 'adventurer', 'micah'] as const)('%s: long_hair has >= 11%% of its hair below the mouth line, short_hair <= 6%%', async (style) => {
    const S = 256;
    const measured = await Promise.all(labelled(style).map(async ([hair, label]) => {
      const [red, green, noMouth] = await avatars(style, [{ hair: [hair], hairColor: ['ff0000'] }, { hair: [hair], hairColor: ['00ff00'] }, { hair: [hair], hairColor: ['ff0000'], mouth: [] }], S);
      const hairPx = changed(red!, green!), mouthPx = changed(red!, noMouth!);
      let sumY = 0;
      for (let i = 0; i < mouthPx.length; i++) if (mouthPx[i]) sumY += Math.floor(i / S);
      const line = sumY / count(mouthPx);
      let below = 0;
      for (let i = 0; i < hairPx.length; i++) if (hairPx[i] && Math.floor(i / S) > line) below++;
      return { hair, label, share: below / count(hairPx) };
    }));
    for (const { hair, label, share } of measured) {
      if (label === 'long_hair') expect(share, hair).toBeGreaterThanOrEqual(0.11);
      else expect(share, hair).toBeLessThanOrEqual(0.06);
    }
  });
});

describe('HAIR_HIDING_AN_EYE lists exactly the labelled hair that hides a fifth of a closed or winking eye', () => {
  test.each(['lorelei', 'adventurer'] as const)('%s', async (style) => {
    const S = 160;
    const states = Object.entries(TABLES[style].eyes).filter(([, s]) => s === 'closed_eyes' || s === 'one_eye_closed').map(([v]) => v);
    const bare = await avatars(style, [{ ...NO_HAIR[style], eyes: [] }, ...states.map((e) => ({ ...NO_HAIR[style], eyes: [e] }))], S);
    const bareEyes = states.map((_, k) => count(changed(bare[0]!, bare[k + 1]!)));
    const hiding = (await Promise.all(labelled(style).map(async ([hair]) => {
      const drawn = await avatars(style, [{ hair: [hair], eyes: [] }, ...states.map((e) => ({ hair: [hair], eyes: [e] }))], S);
      const kept = states.map((_, k) => count(changed(drawn[0]!, drawn[k + 1]!)) / bareEyes[k]!);
      return Math.min(...kept) < 0.8 ? hair : null;
    }))).filter((h) => h !== null);
    expect(hiding.sort()).toEqual([...T.HAIR_HIDING_AN_EYE[style]].sort());
  });
});

describe('palette', () => {
  const dist = (a: string, b: string) => {
    const p = (h: string) => [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    const [x, y] = [p(a), p(b)];
    return Math.hypot(x[0]! - y[0]!, x[1]! - y[1]!, x[2]! - y[2]!);
  };

  test('shades of different hair-colour tags are far apart', () => {
    const entries = Object.entries(HAIR_COLOURS).flatMap(([tag, shades]) => shades.map((hex) => [tag, hex] as const));
    let closest = Infinity, pair = '';
    for (const [ta, a] of entries) {
      for (const [tb, b] of entries) {
        if (ta === tb || dist(a, b) >= closest) continue;
        closest = dist(a, b);
        pair = `${ta} ${a} / ${tb} ${b}`;
      }
    }
    expect(closest, pair).toBeGreaterThan(50);
  });

  test('dark skin is far from light skin', () => {
    const d = Math.min(...SKIN_COLOURS.dark.flatMap((a) => SKIN_COLOURS.light.map((b) => dist(a, b))));
    expect(d).toBeGreaterThan(80);
  });
});

describe('sampling', () => {
  test('every tag in tags.txt can be emitted, at about the planned rates', () => {
    const n = 600, seen = new Map<string, number>();
    const add = (t: string) => seen.set(t, (seen.get(t) ?? 0) + 1);
    for (let i = 0; i < n; i++) {
      const s = sampleScene(imageRng(11, i));
      const tags = new Set<string>([['solo', '2others', '3others'][s.characters.length - 1]!, ...BACKGROUND_TAGS[s.background.kind]]);
      for (const c of s.characters) for (const p of characterParts(c.style, createCharacterAvatar(c.style, c.options).extra)) p.tags.forEach((t) => tags.add(t));
      tags.forEach(add);
    }
    expect(TAG_NAMES.filter((t) => !seen.has(t))).toEqual([]);
    expect([...seen.keys()].filter((t) => !(TAG_NAMES as readonly string[]).includes(t))).toEqual([]);
    const rate = (t: string) => (seen.get(t) ?? 0) / n;
    expect(rate('solo')).toBeCloseTo(0.5, 1);
    expect(rate('white_background')).toBeCloseTo(0.25, 1);
    // the rarest drawn tag still appears often enough to learn
    expect(Math.min(...TAG_NAMES.map(rate))).toBeGreaterThan(0.03);
  });

  test('the same seed and index give the same recipe; another index another', () => {
    expect(sampleScene(imageRng(3, 7))).toEqual(sampleScene(imageRng(3, 7)));
    expect(sampleScene(imageRng(3, 7))).not.toEqual(sampleScene(imageRng(3, 8)));
    expect(sampleScene(imageRng(3, 7))).not.toEqual(sampleScene(imageRng(4, 7)));
  });
});

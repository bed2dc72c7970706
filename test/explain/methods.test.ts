/**
 * The methods on a model that has learnt something: test_tiny trained on the quadrant task. A square drawn in
 * one quadrant must light that quadrant for its tag; CAM must be exact; Grad-CAM at the head's input must be
 * CAM up to scale (reference/robustness.md §d); defaults, options and bad inputs behave as documented.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findPoolHead } from '../../src/graph/pool-head.ts';
import { probeVariant } from '../../src/explain/surgery.ts';
import { addOutputs, encodeModel } from '../../src/graph/surgery.ts';
import type { ExplainMethod, FloatMap, TagRegion } from '../../src/explain/types.ts';
import { decodeModel } from '../../src/graph/index.ts';
import { decodeImage, preprocess } from '../../src/image/index.ts';
import { readBundle, type Bundle } from '../../src/infer/bundle.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { createTagger, type Tagger } from '../../src/index.ts';
import { COLOURS, QUAD_TAGS, SIZE, drawScene, quadrantBundle, scenePng, type Quadrant, type Square } from './_quadrants.ts';

let bundle: Bundle, tagger: Tagger;
beforeAll(async () => {
  bundle = await readBundle(await quadrantBundle());
  tagger = await createTagger(bundle, { threads: 2 });
});
afterAll(async () => {
  await tagger?.close();
});

/** Each quadrant's share of the map's mass (tl, tr, bl, br). */
function quadrantMass(m: FloatMap): number[] {
  const mass = [0, 0, 0, 0];
  for (let y = 0; y < m.height; y++) for (let x = 0; x < m.width; x++) mass[(y >= m.height / 2 ? 2 : 0) + (x >= m.width / 2 ? 1 : 0)]! += m.data[y * m.width + x]!;
  const total = mass.reduce((a, b) => a + b);
  return mass.map((v) => v / total);
}
const quadrantAt = ([x, y]: readonly [number, number], width: number, height: number) => (y >= height / 2 ? 2 : 0) + (x >= width / 2 ? 1 : 0);

const SCENES: { squares: Square[]; seed: number }[] = [
  { squares: [{ colour: 'red', quadrant: 0 }], seed: 99 },
  { squares: [{ colour: 'green', quadrant: 3 }], seed: 102 },
  { squares: [{ colour: 'blue', quadrant: 1 }], seed: 100 },
  { squares: [{ colour: 'red', quadrant: 2 }, { colour: 'blue', quadrant: 1 }], seed: 7 },
];

/** The least share of the map in the square's quadrant (measured: cam = gradcam 0.67–0.80, scorecam 0.56–0.73). */
const MIN_MASS: Record<ExplainMethod, number> = { cam: 0.5, gradcam: 0.5, scorecam: 0.3, saliency: 0 };

describe.each(['cam', 'gradcam', 'scorecam'] as const)('%s: a square lights its quadrant', (method: ExplainMethod) => {
  test.each(SCENES.map((s) => [s.squares.map((q) => `${q.colour}@${'tl tr bl br'.split(' ')[q.quadrant]}`).join('+'), s] as const))('%s', async (_, { squares, seed }) => {
    const r = await tagger.explain({ name: 'scene', data: await scenePng(squares, seed) }, { method, tags: squares.map((s) => `${s.colour}_square`) });
    expect(r.error).toBeNull();
    // NOTE: Score-CAM weighs whole channels, and this tiny model has a handful that see both squares: in a
    // two-square scene a tag's map can follow the other square, so there one of the two is asked to be right
    const weak = method === 'scorecam' && squares.length > 1;
    if (weak) expect(r.tags.some((t, i) => quadrantAt(t.peak, r.width, r.height) === squares[i]!.quadrant)).toBe(true);
    r.tags.forEach((t, i) => {
      const q: Quadrant = squares[i]!.quadrant;
      const mass = quadrantMass(t.map);
      expect(t.score).toBeGreaterThan(0.5);
      if (weak) return;
      expect(quadrantAt(t.peak, r.width, r.height)).toBe(q);
      expect(Math.max(...mass)).toBe(mass[q]);
      expect(mass[q]).toBeGreaterThan(MIN_MASS[method]);
      expect(t.box).not.toBeNull();
      const [x0, y0, x1, y1] = t.box!;
      expect(t.peak[0] >= x0 && t.peak[0] < x1 && t.peak[1] >= y0 && t.peak[1] < y1).toBe(true);
      expect(quadrantAt([(x0 + x1) / 2, (y0 + y1) / 2], r.width, r.height)).toBe(q);
    });
  });
});

describe('cam', () => {
  test('is exact: the spatial mean of each tag\'s map is the trained model\'s logit (to 1e-5)', async () => {
    const bytes = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(bundle.modelPath)));
    const v = probeVariant(bytes, bundle.manifest.output.name);
    const logits = findPoolHead(decodeModel(bytes), bundle.manifest.output.name)!.logits!;
    const proto = decodeModel(v.model);
    addOutputs(proto, [logits]);
    const session = await ModelSession.create(encodeModel(proto), { threads: 1, spinning: false });
    try {
      const n = SCENES.length, per = SIZE * SIZE * 3, x = new Float32Array(n * per);
      for (const [i, s] of SCENES.entries()) preprocess(await decodeImage(await scenePng(s.squares, s.seed)), bundle.manifest.preprocess, x, i * per);
      const out = await session.run({ [bundle.manifest.input.name]: { data: x, dims: [n, SIZE, SIZE, 3] } }, [v.cam!, logits]);
      const cam = out[v.cam!]!, hw = cam.dims[2]! * cam.dims[3]!;
      expect(cam.dims).toEqual([n, QUAD_TAGS.length, 4, 4]);
      let worst = 0;
      for (let i = 0; i < n * QUAD_TAGS.length; i++) {
        const mean = cam.data.subarray(i * hw, (i + 1) * hw).reduce((a, b) => a + b) / hw;
        worst = Math.max(worst, Math.abs(mean - out[logits]!.data[i]!));
      }
      expect(worst).toBeLessThan(1e-5);
    } finally {
      await session.release();
    }
  });

  test('equals Grad-CAM at the head\'s input up to a positive scale (α_k = w_k / hw)', async () => {
    const png = await scenePng(SCENES[3]!.squares, SCENES[3]!.seed);
    const tags = ['red_square', 'blue_square', 'green_square'];
    const [c, g] = await Promise.all((['cam', 'gradcam'] as const).map((method) => tagger.explain({ name: 'scene', data: png }, { method, tags })));
    c!.tags.forEach((t, i) => {
      const other = g!.tags[i]!.map.data;
      expect(t.map.data.reduce((m, v, p) => Math.max(m, Math.abs(v - other[p]!)), 0)).toBeLessThan(1e-4);
    });
  });

  test('a wide image: the padding is cropped, the map covers the image, box and peak in its pixels', async () => {
    // 64×48 → fit 32×24 at rows 4–28 of the input: scale 2
    const r = await tagger.explain({ name: 'wide', data: await scenePng([{ colour: 'red', quadrant: 1 }], 5, 64, 48) }, { tags: ['red_square'], keepInput: true });
    expect(r.method).toBe('cam');
    expect([r.width, r.height, ...r.scale]).toEqual([64, 48, 2, 2]);
    const t = r.tags[0]!;
    expect([t.map.width, t.map.height]).toEqual([32, 24]);
    expect(t.mask.length).toBe(32 * 24);
    expect(quadrantAt(t.peak, 64, 48)).toBe(1);
    expect(t.box![2]).toBeLessThanOrEqual(64);
    expect(t.box![3]).toBeLessThanOrEqual(48);
    expect(r.input!.content).toEqual([0, 4, 32, 28]);
    expect([r.input!.width, r.input!.height, r.input!.rgb.length]).toEqual([32, 32, 32 * 32 * 3]);
    expect([t.inputMap!.width, t.inputMap!.channels]).toEqual([32, 1]);
  });
});

describe('defaults and options', () => {
  const red = () => scenePng([{ colour: 'red', quadrant: 0 }], 99);

  test('default tags: what the thresholds select, minus those with no place (solo) unless asked', async () => {
    const data = await red();
    const r = await tagger.explain({ name: 'red', data });
    expect(r.method).toBe('cam');
    expect(r.tags.map((t) => t.name)).toEqual(['red_square']);
    const all = await tagger.explain({ name: 'red', data }, { includePlaceless: true });
    expect(all.tags.map((t) => t.name).sort()).toEqual(['red_square', 'solo']);
    const none = await tagger.explain({ name: 'red', data }, { threshold: 1 });
    expect(none.tags).toEqual([]);
  });

  test('mask threshold: the mask is exactly the map at or over it, and shrinks as it rises', async () => {
    const data = await red();
    const [low, high] = await Promise.all([0.2, 0.8].map((maskThreshold) => tagger.explain({ name: 'red', data }, { tags: ['red_square'], maskThreshold })));
    const a = low!.tags[0]!, b = high!.tags[0]!;
    expect([a.threshold, b.threshold]).toEqual([0.2, 0.8]);
    const count = (t: TagRegion) => t.mask.reduce((s, v) => s + v, 0);
    expect(count(a)).toBe(a.map.data.filter((v) => v >= 0.2).length);
    expect(count(b)).toBeLessThan(count(a));
  });

  test('refine: guided keeps the map on its quadrant and follows the square\'s edges', async () => {
    const data = await red();
    const [plain, guided] = await Promise.all((['none', 'guided'] as const).map((refine) => tagger.explain({ name: 'red', data }, { tags: ['red_square'], refine })));
    const p = plain!.tags[0]!, g = guided!.tags[0]!;
    expect(g.map.data).not.toEqual(p.map.data);
    expect(quadrantAt(g.peak, guided!.width, guided!.height)).toBe(0);
    expect(Math.max(...g.map.data)).toBeCloseTo(1, 6);
    expect(Math.min(...g.map.data)).toBeGreaterThanOrEqual(0);
    const mass = quadrantMass(g.map);
    expect(Math.max(...mass)).toBe(mass[0]);
    expect(mass[0]).toBeGreaterThan(0.5);
  });

  test('refine: segments makes the mask the square itself (the map\'s 8-px cells do not)', async () => {
    const { rgb } = drawScene([{ colour: 'red', quadrant: 0 }], 99);
    const square = Array.from({ length: SIZE * SIZE }, (_, p) => rgb[p * 3] === COLOURS.red[0] && rgb[p * 3 + 1] === COLOURS.red[1]);
    const iou = (mask: Uint8Array) => {
      let and = 0, or = 0;
      mask.forEach((m, p) => {
        and += +(m === 1 && square[p]!);
        or += +(m === 1 || square[p]!);
      });
      return and / or;
    };
    const data = await red();
    const [plain, regions] = await Promise.all((['none', 'segments'] as const).map((refine) => tagger.explain({ name: 'red', data }, { tags: ['red_square'], refine })));
    const r = regions!.tags[0]!;
    expect(quadrantAt(r.peak, regions!.width, regions!.height)).toBe(0);
    expect(square[r.peak[1] * SIZE + r.peak[0]]).toBe(true);
    // measured: 0.39 plain, 1.00 over the regions
    expect(iou(plain!.tags[0]!.mask)).toBeLessThan(0.6);
    expect(iou(r.mask)).toBeGreaterThan(0.95);
  });

  test('scorecamChannels keeps the strongest channels only', async () => {
    const data = await red();
    const [few, all] = await Promise.all([2, undefined].map((scorecamChannels) => tagger.explain({ name: 'red', data }, { method: 'scorecam', tags: ['red_square'], scorecamChannels })));
    expect(few!.tags[0]!.map.data).not.toEqual(all!.tags[0]!.map.data);
    expect(few!.tags[0]!.map.data.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  test('saliency: the RGB gradient map over the input, and its maximum over channels as the map', async () => {
    const r = await tagger.explain({ name: 'red', data: await red() }, { method: 'saliency', tags: ['red_square', 'blue_square'], keepInput: true });
    for (const t of r.tags) {
      const rgb = t.inputMap!;
      expect([rgb.width, rgb.height, rgb.channels, rgb.data.length]).toEqual([SIZE, SIZE, 3, SIZE * SIZE * 3]);
      expect(Math.max(...rgb.data)).toBeCloseTo(1, 6);
      t.map.data.forEach((v, p) => expect(v).toBeCloseTo(Math.max(rgb.data[p * 3]!, rgb.data[p * 3 + 1]!, rgb.data[p * 3 + 2]!), 5));
    }
    // one row per tag: each tag's map is its own
    expect(r.tags[0]!.map.data).not.toEqual(r.tags[1]!.map.data);
  });

  test('invalid options are refused with the expectation and what arrived', async () => {
    const input = { name: 'red', data: await red() };
    await expect(tagger.explain(input, { maskThreshold: 1.5 })).rejects.toThrow('Expected number between 0 and 1 for maskThreshold but received 1.5 of type number');
    await expect(tagger.explain(input, { method: 'lime' as ExplainMethod })).rejects.toThrow('Expected one of cam, gradcam, scorecam, saliency for method but received "lime"');
    await expect(tagger.explain(input, { tags: ['purple_square'] })).rejects.toThrow(/Expected tags of this bundle \(4, e\.g\. red_square, green_square, blue_square\) for tags but received "purple_square"/);
    await expect(tagger.explain(input, { refine: 'bilateral' as 'guided' })).rejects.toThrow('Expected one of none, guided, segments for refine but received "bilateral"');
    await expect(tagger.explain(input, { scorecamChannels: 0 })).rejects.toThrow('Expected integer between 1 and 1000000 for scorecamChannels but received 0 of type number');
  });

  test('a corrupt image among good ones is reported and skipped; the others are explained', async () => {
    const good = await red();
    const r = await tagger.explain([{ name: 'a', data: good }, { name: 'broken', data: good.subarray(0, 40) }, { name: 'b', data: good }], { tags: ['red_square'] });
    expect(r.map((x) => [x.file, x.error === null])).toEqual([['a', true], ['broken', false], ['b', true]]);
    expect(r[1]!.error).toMatch(/corrupt or truncated/);
    expect(r[2]!.tags[0]!.peak).toEqual(r[0]!.tags[0]!.peak);
  });
});

describe('on the bundled model', () => {
  // samples/heldout-1000002.png: a purple-haired character on the left, an orange-haired one on the right
  const SAMPLE = fileURLToPath(new URL('../../samples/heldout-1000002.png', import.meta.url));
  const MODEL = path.join(path.dirname(SAMPLE), '..', 'models', 'default');

  // The orange hair spans x 138–218 of 224 (its ground-truth mask). CAM's peak lands on it (176).
  test('cam points at the character that has the tag', async () => {
    const r = await explainSample('cam');
    const [purple, orange] = r.tags;
    expect(purple!.peak[0]).toBeLessThan(r.width / 3);
    expect(orange!.peak[0]).toBeGreaterThan((r.width * 2) / 3);
  });

  // The input gradient is diffuse and its one peak a noisy statistic (stage 6's fell on the orange hair's edge at
  // x 164, stage 7's at 99, with the same split of the map between the halves), so saliency is held to the
  // energy-based pointing game: most of each tag's map lies on its character's half (0.69 and 0.63 on stage 7,
  // 0.73 and 0.65 on stage 6; a map blind to the tag splits about evenly).
  test('saliency puts most of each tag map on the character that has the tag', async () => {
    const r = await explainSample('saliency');
    const leftShare = ({ map: { width, data } }: (typeof r.tags)[number]) => {
      let left = 0, all = 0;
      data.forEach((v, p) => {
        all += v;
        if (p % width < width / 2) left += v;
      });
      return left / all;
    };
    const [purple, orange] = r.tags;
    expect(leftShare(purple!)).toBeGreaterThan(0.6);
    expect(1 - leftShare(orange!)).toBeGreaterThan(0.6);
  });

  async function explainSample(method: 'cam' | 'saliency') {
    const t = await createTagger(MODEL, { threads: 2 });
    try {
      return await t.explain(SAMPLE, { method, tags: ['purple_hair', 'orange_hair'] });
    } finally {
      await t.close();
    }
  }
});

/**
 * The finer CAM (src/explain/dense.ts): undoing the last strides and dilating what follows must leave the model's
 * own cells exactly as they were and the output untouched; the cells between must still be the network's
 * evidence (a square lights its quadrant); the map must be placed where its cells lie; and strides the layers
 * cannot give, or methods that have no such rewrite, are refused by name.
 */
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { axis } from '../../src/explain/postprocess.ts';
import { probeVariant } from '../../src/explain/surgery.ts';
import { decodeImage, preprocess } from '../../src/image/index.ts';
import { readBundle, type Bundle } from '../../src/infer/bundle.ts';
import { ModelSession, type TensorData } from '../../src/infer/session.ts';
import { createTagger, type Tagger } from '../../src/index.ts';
import { QUAD_TAGS, SIZE, quadrantBundle, scenePng, type Square } from './_quadrants.ts';

let bundle: Bundle, tagger: Tagger, bytes: Uint8Array;
beforeAll(async () => {
  bundle = await readBundle(await quadrantBundle());
  tagger = await createTagger(bundle, { threads: 2 });
  bytes = new Uint8Array(await fs.readFile(bundle.modelPath));
});
afterAll(async () => {
  await tagger?.close();
});

const SCENES: { squares: Square[]; seed: number }[] = [
  { squares: [{ colour: 'red', quadrant: 0 }], seed: 99 },
  { squares: [{ colour: 'red', quadrant: 2 }, { colour: 'blue', quadrant: 1 }], seed: 7 },
];

async function run(mapStride: number | undefined, x: Float32Array, n: number): Promise<{ cam: TensorData; out: TensorData; lattice: number; strides: readonly number[] }> {
  const v = probeVariant(bytes, bundle.manifest.output.name, mapStride);
  const session = await ModelSession.create(v.model, { threads: 1, spinning: false });
  try {
    const out = await session.run({ [bundle.manifest.input.name]: { data: x.slice(), dims: [n, SIZE, SIZE, 3] } }, [bundle.manifest.output.name, v.cam!]);
    return { cam: out[v.cam!]!, out: out[bundle.manifest.output.name]!, lattice: v.lattice, strides: v.mapStrides };
  } finally {
    await session.release();
  }
}

describe('a finer map', () => {
  test('the model\'s own cells keep their exact CAM values, the output is unchanged, and the map has lattice× the cells', async () => {
    const n = SCENES.length, per = SIZE * SIZE * 3, x = new Float32Array(n * per);
    for (const [i, s] of SCENES.entries()) preprocess(await decodeImage(await scenePng(s.squares, s.seed)), bundle.manifest.preprocess, x, i * per);
    const plain = await run(undefined, x, n);
    // test_tiny: a stride-8 map (4×4 at 32 px), three stride-2 layers to undo
    expect(plain.strides).toEqual([8, 4, 2, 1]);
    expect([plain.cam.dims, plain.lattice]).toEqual([[n, QUAD_TAGS.length, 4, 4], 1]);
    for (const [stride, lattice] of [[4, 2], [2, 4], [1, 8]] as const) {
      const fine = await run(stride, x, n);
      const side = 4 * lattice;
      expect([fine.cam.dims, fine.lattice]).toEqual([[n, QUAD_TAGS.length, side, side], lattice]);
      let worst = 0, between = 0;
      for (let m = 0; m < n * QUAD_TAGS.length; m++) {
        for (let i = 0; i < side; i++) {
          for (let j = 0; j < side; j++) {
            const v = fine.cam.data[(m * side + i) * side + j]!;
            if (i % lattice === 0 && j % lattice === 0) worst = Math.max(worst, Math.abs(v - plain.cam.data[(m * 4 + i / lattice) * 4 + j / lattice]!));
            else between = Math.max(between, Math.abs(v));
          }
        }
      }
      expect(worst).toBeLessThan(1e-4);
      expect(between).toBeGreaterThan(0); // the cells between are computed, not left empty
      fine.out.data.forEach((p, k) => expect(p).toBeCloseTo(plain.out.data[k]!, 5));
    }
  });

  test.each([4, 2])('at stride %i a square still lights its quadrant, peak and mass', async (mapStride) => {
    for (const { squares, seed } of SCENES) {
      const r = await tagger.explain({ name: 'scene', data: await scenePng(squares, seed) }, { tags: squares.map((s) => `${s.colour}_square`), mapStride });
      expect(r.error).toBeNull();
      r.tags.forEach((t, k) => {
        const q = squares[k]!.quadrant, half = SIZE / 2;
        expect((t.peak[1] >= half ? 2 : 0) + (t.peak[0] >= half ? 1 : 0)).toBe(q);
        let inside = 0, total = 0;
        t.map.data.forEach((v, p) => {
          const x = p % t.map.width, y = Math.floor(p / t.map.width);
          total += v;
          if ((y >= half ? 2 : 0) + (x >= half ? 1 : 0) === q) inside += v;
        });
        expect(inside / total).toBeGreaterThan(0.5);
      });
    }
  });

  test('cells are placed where they lie: cell p of a lattice-L map at (p / L + ½) model cells', () => {
    // a 224-px input, a stride-32 model (7 cells) made 16 (14 cells): cell p is centred at 16p + 16 px
    const { lo, t } = axis(14, 224, 0, 224, 2);
    const source = (i: number) => lo[i]! + t[i]!;
    for (const i of [40, 100, 200]) expect(source(i)).toBeCloseTo((i + 0.5 - 16) / 16, 5);
    expect(source(0)).toBe(0); // before the first cell's centre: clamped, as at the model's own grid
    // lattice 1 is the usual half-pixel layout
    const plain = axis(7, 224, 0, 224);
    expect(plain.lo[100]! + plain.t[100]!).toBeCloseTo((100.5 * 7) / 224 - 0.5, 5);
  });

  test('strides the layers cannot give, and other methods, are refused by name', async () => {
    const input = { name: 'red', data: await scenePng(SCENES[0]!.squares, SCENES[0]!.seed) };
    await expect(tagger.explain(input, { mapStride: 3 })).rejects.toThrow('Expected one of 8, 4, 2, 1 for this model (input pixels per map cell) for mapStride but received 3 of type number');
    await expect(tagger.explain(input, { method: 'gradcam', mapStride: 4 })).rejects.toThrow('mapStride applies to method cam only (received it with gradcam');
    expect(() => probeVariant(bytes, bundle.manifest.output.name, 16)).toThrow('mapStride must be one of 8, 4, 2, 1 for this model (its last feature map has stride 8), received 16');
  });
});

/**
 * Explaining an ensemble: two tiny members that read different inputs (16×16 NHWC and 20×12 NCHW), so their maps
 * live on different grids. Oracle: each member bundle explained on its own, its map carried to the finer grid
 * by a float64 bilinear written here, and the weighted mean over the members that know the tag.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeEnsemble } from '../../src/compose/bundles.ts';
import type { ExplainResult, FloatMap } from '../../src/explain/types.ts';
import { createTagger, type Tagger } from '../../src/index.ts';
import { buildApp } from '../../src/server/app.ts';
import { noiseImage } from '../helpers/images.ts';
import { multipart } from '../server/_fixtures.ts';
import { SPEC_A, SPEC_B, tinyMember, writeMembers } from '../compose/_members.ts';

const WEIGHTS = [0.7, 0.3];
let dir: string, members: string[], image: string;
/** One tagger per bundle, kept open: each starts its own workers. */
const taggers = new Map<string, Tagger>();
/** Member a explains a, c, d; member b c, d, e: each member bundle on its own. */
let a: ExplainResult, b: ExplainResult;

async function explainWith(bundle: string, tags: readonly string[]): Promise<ExplainResult> {
  if (!taggers.has(bundle)) taggers.set(bundle, await createTagger(bundle, { threads: 1 }));
  return taggers.get(bundle)!.explain(image, { tags, method: 'cam' });
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-explain-ensemble-'));
  members = await writeMembers(dir, [
    tinyMember('a', ['a', 'b', 'c', 'd'], SPEC_A, 'sigmoid', 1),
    tinyMember('b', ['c', 'd', 'e'], SPEC_B, 'logits', 2, 'pixels'),
  ]);
  image = await noiseImage(path.join(dir, 'sample.png'), 96, 80, 5);
  a = await explainWith(members[0]!, ['a', 'c', 'd']);
  b = await explainWith(members[1]!, ['c', 'd', 'e']);
});

afterAll(async () => {
  await Promise.all([...taggers.values()].map((t) => t.close()));
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const ensembleDir = (combine: string) => path.join(dir, `ens-${combine}`);

/** Bilinear with half-pixel centres and clamped borders, in float64 (what ONNX Resize does). */
function resize(m: FloatMap, width: number, height: number): Float64Array {
  const out = new Float64Array(width * height);
  const coord = (i: number, from: number, to: number) => Math.min(Math.max((i + 0.5) * (from / to) - 0.5, 0), from - 1);
  for (let y = 0; y < height; y++) {
    const sy = coord(y, m.height, height), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, m.height - 1), ty = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = coord(x, m.width, width), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, m.width - 1), tx = sx - x0;
      const at = (yy: number, xx: number) => m.data[yy * m.width + xx]!;
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * tx, bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * tx;
      out[y * width + x] = top + (bottom - top) * ty;
    }
  }
  return out;
}

/** The weighted mean of maps on one grid, scaled by its maximum. */
function meanOf(maps: readonly { map: FloatMap; weight: number }[], width: number, height: number): Float64Array {
  const total = maps.reduce((s, m) => s + m.weight, 0);
  const sum = new Float64Array(width * height);
  for (const { map, weight } of maps) resize(map, width, height).forEach((v, i) => (sum[i]! += (weight / total) * v));
  const max = Math.max(...sum);
  return sum.map((v) => v / max);
}

const mapOf = (r: ExplainResult, tag: string) => r.tags.find((t) => t.name === tag)!.map;

describe.each(['logit-mean', 'random'] as const)('an ensemble combined by %s', (combine) => {
  let ens: ExplainResult;

  beforeAll(async () => {
    await writeEnsemble(members, ensembleDir(combine), { combine, weights: WEIGHTS });
    ens = await explainWith(ensembleDir(combine), ['a', 'c', 'd', 'e']);
  });

  test('the map of a tag both members know is the weighted mean of their own maps, on the finer grid', () => {
    const [fine, coarse] = mapOf(a, 'c').width * mapOf(a, 'c').height >= mapOf(b, 'c').width * mapOf(b, 'c').height ? [a, b] : [b, a];
    const { width, height } = mapOf(fine, 'c');
    expect([mapOf(ens, 'c').width, mapOf(ens, 'c').height]).toEqual([width, height]);
    expect(mapOf(coarse, 'c').width * mapOf(coarse, 'c').height).toBeLessThan(width * height);
    expect(ens.scale).toEqual(fine.scale);
    for (const tag of ['c', 'd']) {
      const want = meanOf([{ map: mapOf(a, tag), weight: WEIGHTS[0]! }, { map: mapOf(b, tag), weight: WEIGHTS[1]! }], width, height);
      const got = mapOf(ens, tag).data;
      expect(got.length).toBe(want.length);
      let worst = 0;
      want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]!))));
      expect(worst).toBeLessThan(1e-5);
      // the members disagree: the mean is neither member's map
      expect(Math.max(...resize(mapOf(coarse, tag), width, height).map((v, i) => Math.abs(v - mapOf(fine, tag).data[i]!)))).toBeGreaterThan(0.05);
    }
  });

  test('a tag one member knows gives that member\'s map (carried to the grid), whatever the other\'s weight', () => {
    const { width, height } = mapOf(ens, 'a');
    for (const [tag, own] of [['a', a], ['e', b]] as const) {
      const want = meanOf([{ map: mapOf(own, tag), weight: 1 }], width, height);
      const got = mapOf(ens, tag).data;
      want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    }
  });

  test('scores: the bundle\'s for logit-mean, the mean over the draw for random', () => {
    const score = (r: ExplainResult, tag: string) => r.tags.find((t) => t.name === tag)!.score;
    expect(score(ens, 'a')).toBeCloseTo(score(a, 'a'), 6);
    expect(score(ens, 'e')).toBeCloseTo(score(b, 'e'), 6);
    const logit = (p: number) => Math.log(p / (1 - p));
    const want = combine === 'random'
      ? WEIGHTS[0]! * score(a, 'c') + WEIGHTS[1]! * score(b, 'c')
      : 1 / (1 + Math.exp(-(WEIGHTS[0]! * logit(score(a, 'c')) + WEIGHTS[1]! * logit(score(b, 'c')))));
    expect(score(ens, 'c')).toBeCloseTo(want, 5);
  });
});

describe('refusals', () => {
  test('gradcam on an ensemble, and an augmented ensemble, are usage errors that say what works', async () => {
    await expect(explainWith(ensembleDir('logit-mean'), [])).resolves.toBeDefined();
    const gradcam = taggers.get(ensembleDir('logit-mean'))!.explain(image, { method: 'gradcam' });
    await expect(gradcam).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(gradcam).rejects.toThrow(/gradcam needs training weights, which an ensemble bundle does not carry: explain .* with cam or scorecam/);
    const flip = path.join(dir, 'ens-flip');
    await writeEnsemble(members, flip, { combine: 'prob-mean', tta: { flip: true, scales: [] } });
    const augmented = explainWith(flip, []);
    await expect(augmented).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(augmented).rejects.toThrow(/test-time-augmented bundle: .*explain the ensemble without --tta instead/);
  });
});

describe('POST /v1/explain on an ensemble bundle, over HTTP on 127.0.0.1', () => {
  let app: FastifyInstance, url: string;
  beforeAll(async () => {
    app = await buildApp({ model: ensembleDir('logit-mean'), prepWorkers: 1 });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => app?.close());

  test('answers with every asked tag\'s region, the library\'s boxes and peaks; the model lists cam and scorecam', async () => {
    const models = await (await fetch(`${url}/v1/models`)).json() as { models: { explain: string[] }[] };
    expect(models.models[0]!.explain).toEqual(['cam', 'scorecam']);
    const { payload, headers } = multipart([{ name: 'file', value: await fs.readFile(image), filename: 'sample.png', type: 'image/png' }, { name: 'tags', value: 'c,e' }, { name: 'method', value: 'cam' }]);
    const res = await fetch(`${url}/v1/explain`, { method: 'POST', body: payload, headers });
    expect(res.status).toBe(200);
    const body = await res.json() as { model: string; tags: { name: string; box: number[] | null; peak: number[]; map: string }[]; map: { width: number; height: number } };
    const want = await explainWith(ensembleDir('logit-mean'), ['c', 'e']);
    expect(body.tags.map((t) => t.name)).toEqual(['c', 'e']);
    body.tags.forEach((t, i) => {
      expect(t.peak).toEqual([...want.tags[i]!.peak]);
      expect(t.box).toEqual(want.tags[i]!.box && [...want.tags[i]!.box]);
      expect(t.map).toMatch(/^data:image\/png;base64,/);
    });
    expect(body.map).toEqual({ width: want.tags[0]!.map.width, height: want.tags[0]!.map.height });
  });
});

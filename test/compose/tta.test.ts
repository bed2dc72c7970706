/**
 * Test-time augmentation in the graph against the same views made in TypeScript and run separately: the mirror
 * image (width reversed), rescaled copies (bilinear, half-pixel, then a centre crop or an edge pad) and tiles
 * (a crop enlarged to the input size, bilinear, half-pixel; combined by their maximum except on whole-image tags).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTta, tileOrigin, withTta, type TileFit, type Tiles } from '../../src/compose/tta.ts';
import { logit as logitOf, sigmoid as sigmoidOf } from '../../src/infer/calibration.ts';
import { buildEnsemble } from '../../src/compose/ensemble.ts';
import { createTagger } from '../../src/index.ts';
import { readBundle, type Bundle } from '../../src/infer/bundle.ts';
import { inputDims } from '../../src/infer/model-io.ts';
import { ModelSession } from '../../src/infer/session.ts';
import { Rng } from '../../src/models/random.ts';
import type { PreprocessSpec } from '../../src/image/spec.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { SPEC_A, SPEC_B, combineInTs, threeMembers, writeMembers, type TinyMember } from './_members.ts';

const N = 2;

/** Pixel (n, y, x, c) of a batch laid out as `spec` says. */
const at = (spec: PreprocessSpec) => (n: number, y: number, x: number, c: number) =>
  spec.layout === 'NCHW' ? ((n * 3 + c) * spec.height + y) * spec.width + x : ((n * spec.height + y) * spec.width + x) * 3 + c;

function mirror(x: Float32Array, spec: PreprocessSpec): Float32Array {
  const ix = at(spec), out = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let y = 0; y < spec.height; y++) for (let xx = 0; xx < spec.width; xx++) for (let c = 0; c < 3; c++) out[ix(n, y, xx, c)] = x[ix(n, y, spec.width - 1 - xx, c)]!;
  return out;
}

/** ONNX Resize's linear half_pixel sampling: output pixel o of outSize reads source pixels lo and hi of size, weighing hi by the fraction. */
function taps(o: number, size: number, outSize: number): [lo: number, hi: number, fraction: number] {
  const src = Math.min(size - 1, Math.max(0, ((o + 0.5) * size) / outSize - 0.5));
  const lo = Math.floor(src), hi = Math.min(size - 1, lo + 1);
  return [lo, hi, src - lo];
}

/** ONNX Resize, linear, half_pixel, to h × w; then centre crop or edge pad back to the spec's size. */
function rescaled(x: Float32Array, spec: PreprocessSpec, s: number): Float32Array {
  const [H, W] = [spec.height, spec.width], [h, w] = [Math.round(H * s), Math.round(W * s)];
  const ix = at(spec), out = new Float32Array(x.length);
  const [top, left] = s > 1 ? [Math.floor((h - H) / 2), Math.floor((w - W) / 2)] : [-Math.floor((H - h) / 2), -Math.floor((W - w) / 2)];
  for (let n = 0; n < N; n++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < 3; c++) {
    // the resized image's pixel this output pixel shows (clamped: edge padding repeats the border)
    const ry = Math.min(h - 1, Math.max(0, y + top)), rx = Math.min(w - 1, Math.max(0, xx + left));
    const [y0, y1, fy] = taps(ry, H, h), [x0, x1, fx] = taps(rx, W, w);
    const v = (yy: number, xq: number) => x[ix(n, yy, xq, c)]!;
    out[ix(n, y, xx, c)] = (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
  }
  return out;
}

/** Tile (row, col): its crop of x, enlarged to the spec's size (ONNX Resize, linear, half_pixel). */
function tile(x: Float32Array, spec: PreprocessSpec, tiles: Tiles, row: number, col: number): Float32Array {
  const [H, W] = [spec.height, spec.width], y = tileOrigin(row, tiles, H), xo = tileOrigin(col, tiles, W);
  const ix = at(spec), out = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < 3; c++) {
    const [y0, y1, fy] = taps(yy, y.size, H), [x0, x1, fx] = taps(xx, xo.size, W);
    const v = (a: number, b: number) => x[ix(n, y.start + a, xo.start + b, c)]!;
    out[ix(n, yy, xx, c)] = (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
  }
  return out;
}

async function probs(model: Uint8Array, m: TinyMember['manifest'], x: Float32Array): Promise<Float32Array> {
  const s = await ModelSession.create(model, { threads: 1 });
  const out = (await s.run({ [m.input.name]: { data: x, dims: inputDims(m.preprocess, N) } }))[m.output.name]!.data;
  await s.release();
  return m.output.activation === 'logits' ? out.map((z) => 1 / (1 + Math.exp(-z))) : out;
}

const byTag = (p: Float32Array, m: TinyMember['manifest'], i: number) => new Map(m.tags.map((t, j) => [t.name, p[i * m.tags.length + j]!]));

describe('test-time augmentation graph', () => {
  const [a, b, c] = threeMembers();
  const cases = [
    ['flip', a!, SPEC_A, 'logit-mean'], ['flip', b!, SPEC_B, 'logit-mean'], ['flip', c!, SPEC_A, 'prob-mean'],
    ['flip,scales=0.5:2', a!, SPEC_A, 'logit-mean'], ['scales=0.75:1.5', b!, SPEC_B, 'prob-mean'],
  ] as const;
  for (const [option, member, spec, combine] of cases) {
    it(`${option} on a ${spec.layout} ${member.manifest.output.activation === 'logits' ? 'logits' : member.manifest.architecture} model, ${combine}: the views run separately, combined`, async () => {
      const tta = { ...parseTta('--tta', option), combine };
      const built = withTta(member.manifest, member.model, tta, member.manifest.name);
      expect(built.manifest.tta).toEqual({ flip: tta.flip, scales: tta.scales, views: 1 + (tta.flip ? 1 : 0) + tta.scales.length, combine });
      expect(built.manifest.output.activation).toBe('sigmoid');
      const rng = new Rng(3);
      const x = Float32Array.from({ length: N * spec.width * spec.height * 3 }, () => rng.normal());
      const views = [x, ...(tta.flip ? [mirror(x, spec)] : []), ...tta.scales.map((s) => rescaled(x, spec, s))];
      const each = await Promise.all(views.map((v) => probs(member.model, member.manifest, v)));
      const got = await probs(built.model, built.manifest, x);
      const names = member.manifest.tags.map((t) => t.name);
      for (let i = 0; i < N; i++) {
        const want = combineInTs(each.map((p) => byTag(p, member.manifest, i)), views.map(() => 1 / views.length), names, combine);
        names.forEach((t, u) => expect(got[i * names.length + u], `image ${i} ${t}`).toBeCloseTo(want[u]!, 5));
      }
    });
  }

  // a fit for some tags (sigmoid(whole · z_w + tile · z_t + bias)); the others keep the unfitted rule
  const fit: TileFit = { tags: { b: [0.7, 0.4, -0.2], c: [1.2, -0.3, 0.5] }, provenance: { createdBy: 'test' } };
  const tileCases = [['tiles=2', a!, SPEC_A, 'logit-mean', undefined], ['flip,tiles=3:0.5', b!, SPEC_B, 'prob-mean', undefined], ['tiles=2', a!, SPEC_A, 'prob-mean', fit]] as const;
  for (const [option, member, spec, combine, tileFit] of tileCases) {
    it(`${option} on a ${spec.layout} model${tileFit ? ', fitted for b and c' : ''}: each tag the highest of the whole views' combination and the tiles, whole-image tags the combination alone`, async () => {
      // the member's first tag renamed to a count: a tile cannot say how many characters the image holds
      const manifest = { ...member.manifest, tags: member.manifest.tags.map((t, j) => (j === 0 ? { ...t, name: '3girls' } : t)) };
      const parsed = parseTta('--tta', option);
      const tta = { ...parsed, combine, tiles: { ...parsed.tiles!, ...(tileFit && { fit: tileFit }) } };
      const tiles = tta.tiles;
      const built = withTta(manifest, member.model, tta, manifest.name);
      expect(built.manifest.tta).toEqual({ flip: tta.flip, scales: [], views: 1 + (tta.flip ? 1 : 0) + tiles.grid ** 2, combine, tiles: { ...tiles, wholeImageTags: ['3girls'] } });
      expect(built.manifest.weights).toBeUndefined();
      const rng = new Rng(5);
      const x = Float32Array.from({ length: N * spec.width * spec.height * 3 }, () => rng.normal());
      const whole = await Promise.all([x, ...(tta.flip ? [mirror(x, spec)] : [])].map((v) => probs(member.model, manifest, v)));
      const tileProbs: Float32Array[] = [];
      for (let r = 0; r < tiles.grid; r++) for (let c = 0; c < tiles.grid; c++) tileProbs.push(await probs(member.model, manifest, tile(x, spec, tiles, r, c)));
      const got = await probs(built.model, built.manifest, x);
      const names = manifest.tags.map((t) => t.name);
      let lifted = 0;
      for (let i = 0; i < N; i++) {
        const combined = combineInTs(whole.map((p) => byTag(p, manifest, i)), whole.map(() => 1 / whole.length), names, combine);
        names.forEach((t, u) => {
          const highest = Math.max(...tileProbs.map((p) => p[i * names.length + u]!));
          const w = tileFit?.tags[t];
          const want = w ? sigmoidOf(w[0] * logitOf(combined[u]!) + w[1] * logitOf(highest) + w[2]) : t === '3girls' ? combined[u]! : Math.max(combined[u]!, highest);
          if (want > combined[u]! + 1e-3) lifted++;
          expect(got[i * names.length + u], `image ${i} ${t}`).toBeCloseTo(want, 5);
        });
      }
      expect(lifted, 'some tile beats the whole image somewhere').toBeGreaterThan(0);
    });
  }

  it('refuses a bad --tta, a fixed batch, a random-mode ensemble and a second augmentation', () => {
    expect(() => parseTta('--tta', 'rotate')).toThrow(/Expected flip, scales=s1:s2:… \(each 0.25–4, not 1\) and\/or tiles=grid\[:size\] \(grid 2–6, size from 1\/grid to below 1\) for --tta but received "rotate"/);
    for (const bad of ['tiles=1', 'tiles=7', 'tiles=2.5', 'tiles=3:0.3', 'tiles=3:1', 'tiles=3:0.5:1', 'tiles=']) expect(() => parseTta('--tta', bad), bad).toThrow(/for --tta but received/);
    expect(parseTta('--tta', 'tiles=2').tiles).toEqual({ grid: 2, size: 0.675 });
    expect(() => parseTta('--tta', 'scales=1')).toThrow(/for --tta but received "scales=1"/);
    expect(() => parseTta('--tta', 'flip,scales=0.1')).toThrow(/received "flip,scales=0.1"/);
    const m = a!;
    expect(() => withTta({ ...m.manifest, input: { ...m.manifest.input, batch: 1 } }, m.model, { flip: true, scales: [] }, 'wd')).toThrow(/wd was exported with a fixed batch of 1/);
    const once = withTta(m.manifest, m.model, { flip: true, scales: [] }, 'a');
    expect(() => withTta(once.manifest, once.model, { flip: true, scales: [] }, 'a-tta')).toThrow(/a-tta already has test-time augmentation \(2 views\)/);
    expect(() => withTta(m.manifest, m.model, { flip: true, scales: [], combine: 'random' }, 'a')).toThrow(/logit-mean or prob-mean for test-time augmentation for --combine/);
  });
});

describe('tta on the command line', () => {
  let dir: string, members: string[], image: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-tta-'));
    members = await writeMembers(dir, threeMembers());
    image = await noiseImage(path.join(dir, 'x.png'), 50, 40, 9);
  });
  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('tag --tta builds the views in memory: the same tags as the bundle `tta` writes; `ensemble --tta` is the ensemble augmented', async () => {
    const out = path.join(dir, 'a-flip');
    expect((await cli(['tta', members[0]!, '--out', out, '--tta', 'flip'])).stdout).toMatch(/2 views \(logit-mean\)/);
    expect((await cli(['info', out])).stdout).toMatch(/test-time aug\.\s+2 views \(flip\), combined by logit-mean/);
    const tiled = path.join(dir, 'a-tiles');
    expect((await cli(['tta', members[0]!, '--out', tiled, '--tta', 'tiles=2'])).stdout).toMatch(/5 views/);
    const tiledTag = await cli(['tag', '--format', 'json', '--model', members[0]!, '--tta', 'tiles=2', image]);
    expect(tiledTag.code).toBe(0);
    expect(tiledTag.stderr).toMatch(/note: unfitted tiles: .*--fit <training\.sqlite \| folder>/);
    expect((await cli(['info', tiled])).stdout).toMatch(/5 views \(2×2 tiles of 0\.675 of the side, the higher score winning on all tags but 0 whole-image ones\)/);
    const onTheFly = await cli(['tag', '--format', 'json', '--threshold', '0', '--model', members[0]!, '--tta', 'flip', image]);
    const scores = async (bundle: string | Bundle) => {
      const tagger = await createTagger(bundle, { threads: 1 });
      try {
        return Array.from((await tagger.tag(image, { scores: true })).scores!);
      } finally {
        await tagger.close();
      }
    };
    const baked = await scores(out);
    const shown = (JSON.parse(onTheFly.stdout) as { tags: { name: string; score: number }[] }[])[0]!.tags;
    expect(shown.map((t) => t.name).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const t of shown) expect(t.score).toBeCloseTo(baked[['a', 'b', 'c', 'd'].indexOf(t.name)]!, 4);

    const ens = path.join(dir, 'ens-flip');
    expect((await cli(['ensemble', members[0]!, members[1]!, '--out', ens, '--tta', 'flip'])).code).toBe(0);
    const plain = buildEnsemble(await Promise.all(members.slice(0, 2).map(async (m) => {
      const b = await readBundle(m);
      return { where: m, manifest: b.manifest, model: await fs.readFile(b.modelPath) };
    })), { combine: 'logit-mean' });
    const augmented = withTta(plain.manifest, plain.model, { flip: true, scales: [] }, 'plain');
    const inMemory = { dir, manifest: augmented.manifest, modelPath: path.join(ens, 'model.onnx'), model: augmented.model };
    expect(await scores(ens)).toEqual(await scores(inMemory));
  }, 120_000);
});

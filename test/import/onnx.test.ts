/**
 * ONNX taggers with their label files — WD v2 (fixed batch 1, `input_1:0` → `predictions_sigmoid`) and v3,
 * JoyTag, Camie v1/v2, DeepDanbooru ONNX conversions — built here with the graph builder in each family's
 * I/O convention. Each is imported, then tagged through the bundle's own preprocessing, and its scores must
 * equal a float64 forward of the same weights on the same pixels to 1e-4.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph, conv2d, dense, globalAvgPool, relu } from '../../src/graph/index.ts';
import { decodeImage, preprocess } from '../../src/image/index.ts';
import { importModel } from '../../src/import/index.ts';
import { readBundle } from '../../src/infer/bundle.ts';
import { createTagger } from '../../src/index.ts';
import { exportInference } from '../../src/models/export.ts';
import { buildModel } from '../../src/models/registry.ts';
import type { ModelSpec, Weights } from '../../src/models/spec.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage, solidImage } from '../helpers/images.ts';
import { ErrorLog } from '../oracle/compare.ts';
import { nchwToNhwc, referenceActivations, tensor } from '../oracle/reference.ts';
import { randomWeights } from './_fixtures.ts';

const log = new ErrorLog();
let tmp: string, home: string, images: string[];
const env = () => ({ TAGBOORU_HOME: home });

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-onnx-'));
  home = path.join(tmp, 'home');
  const dir = path.join(tmp, 'images');
  await fs.mkdir(dir);
  images = [
    await noiseImage(path.join(dir, 'a.png'), 80, 50, 1),
    await noiseImage(path.join(dir, 'b.jpg'), 45, 90, 2),
    await solidImage(path.join(dir, 'c.png'), 30, 30, [220, 40, 90]),
  ];
});
afterAll(async () => {
  log.print('onnx imports: worst probability difference vs the float64 oracle');
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A small NCHW tagger (conv → relu → GAP → one dense head per output) and its oracle spec. */
function nchwTagger(size: number, tags: number, heads: readonly string[], seed: number) {
  const C = 6;
  const spec: ModelSpec = {
    name: 'nchw',
    output: heads.at(-1)!,
    layers: [
      { kind: 'input', name: 'image', shape: [size, size, 3] },
      { kind: 'conv', name: 'conv', input: 'image', filters: C, kernel: [3, 3], strides: [2, 2], padding: 'same', useBias: true },
      { kind: 'relu', name: 'relu', input: 'conv' },
      { kind: 'gap', name: 'gap', input: 'relu' },
      ...heads.map((h) => ({ kind: 'dense' as const, name: h, input: 'gap', units: tags, useBias: true })),
    ],
  };
  const weights = randomWeights(spec, seed);
  const build = (inputName: string, batch: number | string) => {
    const g = new Graph('nchw_tagger');
    const x = g.input(inputName, 'float32', [batch, 3, size, size]);
    const w = (k: string) => weights.get(k)!;
    const feat = globalAvgPool(g, relu(g, conv2d(g, x, g.initializer('k', w('conv/kernel'), [C, 3, 3, 3]), g.initializer('b', w('conv/bias'), [C]), { strides: [2, 2] })));
    for (const h of heads) g.output(dense(g, feat, g.initializer(`${h}.k`, w(`${h}/kernel`), [C, tags]), g.initializer(`${h}.b`, w(`${h}/bias`), [tags])), h);
    return g.toModel();
  };
  return { spec, weights, build };
}

/** The oracle's scores for `file` prepared as the bundle says: probabilities of `layer` (sigmoid applied to logits). */
async function oracleScores(bundleDir: string, file: string, spec: ModelSpec, weights: Weights, layer: string, logits: boolean): Promise<Float64Array> {
  const { manifest } = await readBundle(bundleDir);
  const p = manifest.preprocess;
  let x: ArrayLike<number> = preprocess(await decodeImage(file), p);
  if (p.layout === 'NCHW') x = nchwToNhwc(tensor(x, [1, 3, p.height, p.width])).data;
  const out = referenceActivations(spec, weights, x, 1).get(layer)!.data;
  return logits ? out.map((v) => 1 / (1 + Math.exp(-v))) : out;
}

/** Tag `images` through the library with the bundle's preprocessing; the worst |score − oracle|. */
async function worstDifference(bundleDir: string, spec: ModelSpec, weights: Weights, layer: string, logits: boolean, batchSize: number): Promise<number> {
  const tagger = await createTagger(bundleDir, { threads: 1 });
  try {
    const results = await tagger.tag(images, { scores: true, batchSize });
    let worst = 0;
    for (const r of results) {
      expect(r.error).toBeNull();
      const expected = await oracleScores(bundleDir, r.file, spec, weights, layer, logits);
      expect(expected.some((v) => v > 0.01 && v < 0.99)).toBe(true);
      r.scores!.forEach((s, i) => (worst = Math.max(worst, Math.abs(s - expected[i]!))));
    }
    return worst;
  } finally {
    await tagger.close();
  }
}

const WD_CSV_ROWS: [string, number][] = [
  ['general', 9], ['sensitive', 9], ['questionable', 9], ['explicit', 9],
  ['1girl', 0], ['solo', 0], ['long_hair', 0], ['smile', 0], ['ok_sign', 0],
  ['hatsune_miku', 4], ['hakurei_reimu', 4],
  ['vocaloid', 3], ['"quoted, tag"', 7],
];

async function writeWd(dir: string, model: Uint8Array, rows = WD_CSV_ROWS): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.onnx'), model);
  const csv = ['tag_id,name,category,count', ...rows.map(([n, c], i) => `${1000 + i},${n},${c},${5000 - i}`)].join('\n');
  await fs.writeFile(path.join(dir, 'selected_tags.csv'), `${csv}\n`);
  return dir;
}

describe('WD', () => {
  const SIZE = 32;
  const spec = buildModel('test_tiny', { tags: WD_CSV_ROWS.length, imageSize: [SIZE, SIZE] });
  // WD feeds 0–255 BGR: a small head keeps the sigmoid out of saturation
  const weights = randomWeights(spec, 21, 0.01);

  it('v2 (fixed batch 1, input_1:0 → predictions_sigmoid): import, then `tag` a folder with batches of 4', async () => {
    const dir = await writeWd(path.join(tmp, 'wd-v1-4-moat-tagger-v2'), exportInference(spec, weights, { batch: 1, inputName: 'input_1:0', outputName: 'predictions_sigmoid' }));
    const r = await cli(['import', dir], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch('imported wd-v1-4-moat-tagger-v2 (wd): 13 tags (5 general, 4 rating, 2 character, 1 copyright, 1 category_7), 32×32, preset wd');
    const bundle = path.join(home, 'models', 'wd-v1-4-moat-tagger-v2');
    const { manifest: m } = await readBundle(bundle);
    expect(m.input).toEqual({ name: 'input_1:0', batch: 1 });
    expect(m.output).toEqual({ name: 'predictions_sigmoid', activation: 'sigmoid' });
    expect([m.preset, m.preprocess.layout, m.preprocess.channelOrder, m.preprocess.width]).toEqual(['wd', 'NHWC', 'BGR', SIZE]);
    expect(m.thresholds).toEqual({ default: 0.35, categories: { general: 0.35, character: 0.85 } });
    expect(m.tags.at(-1)).toEqual({ name: 'quoted, tag', category: 'category_7' });

    const tagged = await cli(['tag', path.dirname(images[0]!), '--model', 'wd-v1-4-moat-tagger-v2', '-f', 'jsonl', '-b', '4'], { env: env() });
    expect(tagged.stderr).toBe('');
    expect(tagged.code).toBe(0);
    const rows = tagged.stdout.trim().split('\n').map((l) => JSON.parse(l) as { error: null; rating: { name: string } });
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(['general', 'sensitive', 'questionable', 'explicit']).toContain(row.rating.name);
    expect(log.record('wd v2 (batch 1)', await worstDifference(bundle, spec, weights, spec.output, false, 4))).toBeLessThanOrEqual(1e-4);
  });

  it('v3 (dynamic batch, names read from the model)', async () => {
    const dir = await writeWd(path.join(tmp, 'wd-vit-tagger-v3'), exportInference(spec, weights, { inputName: 'input', outputName: 'output' }));
    const { manifest: m, dir: bundle } = await importModel(path.join(dir, 'model.onnx'), {}, env());
    expect(m.name).toBe('wd-vit-tagger-v3');
    expect(m.input).toEqual({ name: 'input', batch: 'dynamic' });
    expect(m.output.name).toBe('output');
    expect(log.record('wd v3 (dynamic batch)', await worstDifference(bundle, spec, weights, spec.output, false, 3))).toBeLessThanOrEqual(1e-4);
  });

  it('a label file that does not fit the model is refused, and nothing is stored', async () => {
    const dir = await writeWd(path.join(tmp, 'wd-short'), exportInference(spec, weights), WD_CSV_ROWS.slice(1));
    const r = await cli(['import', dir], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch('selected_tags.csv list 12 tags but output predictions of model.onnx has 13 scores');
    expect(await fs.readdir(path.join(home, 'models'))).not.toContain('wd-short');
  });
});

describe('JoyTag', () => {
  it('NCHW, CLIP normalisation, logits through a sigmoid', async () => {
    const SIZE = 40, TAGS = ['1girl', 'solo', 'photo_(medium)', 'smile', 'outdoors'];
    const { spec, weights, build } = nchwTagger(SIZE, TAGS.length, ['output'], 31);
    const dir = path.join(tmp, 'joytag');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.onnx'), build('input', 'batch'));
    await fs.writeFile(path.join(dir, 'top_tags.txt'), `${TAGS.join('\n')}\n`);
    const { manifest: m, dir: bundle, format } = await importModel(dir, {}, env());
    expect(format).toBe('joytag');
    expect([m.preset, m.preprocess.layout, m.preprocess.width, m.output.activation, m.thresholds.default]).toEqual(['joytag', 'NCHW', SIZE, 'logits', 0.4]);
    expect(m.preprocess.mean[0]).toBeCloseTo(0.4815, 4);
    expect(log.record('joytag', await worstDifference(bundle, spec, weights, 'output', true, 2))).toBeLessThanOrEqual(1e-4);
  });
});

describe('Camie', () => {
  const TAGS = ['1girl', 'hakurei_reimu', 'touhou', 'rating_general', 'rating_explicit', 'year_2024', 'artist_name'];
  const CATEGORIES = ['general', 'character', 'copyright', 'rating', 'rating', 'year', 'artist'];
  const maps = () => ({
    idx_to_tag: Object.fromEntries(TAGS.map((t, i) => [String(i), t])),
    tag_to_category: Object.fromEntries(TAGS.map((t, i) => [t, CATEGORIES[i]!])),
  });

  it('v1: the refined head of initial_logits/refined_logits, categories from the metadata', async () => {
    const SIZE = 36;
    const { spec, weights, build } = nchwTagger(SIZE, TAGS.length, ['initial_logits', 'refined_logits'], 41);
    const dir = path.join(tmp, 'camie-tagger');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model_initial.onnx'), build('image', 'batch_size'));
    await fs.writeFile(path.join(dir, 'model_initial_metadata.json'), JSON.stringify({ ...maps(), total_tags: TAGS.length }));
    const { manifest: m, dir: bundle, format } = await importModel(dir, {}, env());
    expect(format).toBe('camie-v1');
    expect([m.preset, m.preprocess.layout, m.preprocess.padColor, m.output.name, m.output.activation]).toEqual(['camie', 'NCHW', [0, 0, 0], 'refined_logits', 'logits']);
    expect(m.tags.map((t) => t.category)).toEqual(CATEGORIES);
    expect(log.record('camie v1 (refined head)', await worstDifference(bundle, spec, weights, 'refined_logits', true, 3))).toBeLessThanOrEqual(1e-4);
  });

  it('v2: nested tag_mapping, grey-brown pad, ImageNet normalisation', async () => {
    const SIZE = 32;
    const { spec, weights, build } = nchwTagger(SIZE, TAGS.length, ['initial_predictions', 'refined_predictions'], 43);
    const dir = path.join(tmp, 'camie-tagger-v2');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'camie-tagger-v2.onnx'), build('input', 'batch'));
    await fs.writeFile(path.join(dir, 'camie-tagger-v2-metadata.json'), JSON.stringify({
      model_info: { architecture: 'vit', img_size: SIZE },
      dataset_info: { total_tags: TAGS.length, categories: [...new Set(CATEGORIES)], tag_mapping: maps() },
    }));
    const { manifest: m, dir: bundle, format } = await importModel(dir, {}, env());
    expect(format).toBe('camie-v2');
    expect([m.preset, m.preprocess.padColor, m.preprocess.mean, m.output.name]).toEqual(['camie-v2', [124, 116, 104], [0.485, 0.456, 0.406], 'refined_predictions']);
    expect(log.record('camie v2 (refined head)', await worstDifference(bundle, spec, weights, 'refined_predictions', true, 3))).toBeLessThanOrEqual(1e-4);
  });
});

describe('DeepDanbooru ONNX conversion', () => {
  it('input_1 NHWC with tags.txt and categories.json', async () => {
    const SIZE = 48;
    const tags = ['1girl', 'long_hair', 'smile', 'hatsune_miku', 'rating:safe', 'rating:questionable', 'rating:explicit'];
    const spec = buildModel('test_tiny', { tags: tags.length, imageSize: [SIZE, SIZE] });
    const weights = randomWeights(spec, 51, 0.3);
    const dir = path.join(tmp, 'deepdanbooru-onnx');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'deepdanbooru.onnx'), exportInference(spec, weights, { inputName: 'input_1', outputName: 'activation_172' }));
    await fs.writeFile(path.join(dir, 'tags.txt'), tags.join('\n'));
    await fs.writeFile(path.join(dir, 'categories.json'), JSON.stringify([{ name: 'General', start_index: 0 }, { name: 'Character', start_index: 3 }, { name: 'System', start_index: 4 }]));
    const { manifest: m, dir: bundle, format } = await importModel(dir, {}, env());
    expect(format).toBe('deepdanbooru-onnx');
    expect([m.preset, m.input.name, m.output.name, m.preprocess.width]).toEqual(['deepdanbooru', 'input_1', 'activation_172', SIZE]);
    expect(m.tags.map((t) => t.category)).toEqual(['general', 'general', 'general', 'character', 'rating', 'rating', 'rating']);
    expect(log.record('deepdanbooru onnx', await worstDifference(bundle, spec, weights, spec.output, false, 3))).toBeLessThanOrEqual(1e-4);
  });
});

describe('bad ONNX input', () => {
  it('a truncated model.onnx or a model without labels: one clear error each', async () => {
    const spec = buildModel('test_tiny', { tags: 3, imageSize: [32, 32] });
    const bytes = exportInference(spec, randomWeights(spec, 1));
    const truncated = path.join(tmp, 'truncated');
    await fs.mkdir(truncated);
    await fs.writeFile(path.join(truncated, 'model.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await fs.writeFile(path.join(truncated, 'selected_tags.csv'), 'tag_id,name,category,count\n1,a,0,1\n2,b,0,1\n3,c,0,1\n');
    const r1 = await cli(['import', truncated], { env: env() });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/ONNX Runtime could not load the model .*truncated\/model\.onnx/);
    const unlabelled = path.join(tmp, 'unlabelled');
    await fs.mkdir(unlabelled);
    await fs.writeFile(path.join(unlabelled, 'model.onnx'), bytes);
    const r2 = await cli(['import', unlabelled], { env: env() });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch('has an ONNX model but no label file it recognises: selected_tags.csv (WD), top_tags.txt (JoyTag), *metadata.json (Camie) or tags.txt (DeepDanbooru)');
    const names = await fs.readdir(path.join(home, 'models'));
    expect(names.filter((n) => n.startsWith('.') || n === 'truncated' || n === 'unlabelled')).toEqual([]);
  });
});

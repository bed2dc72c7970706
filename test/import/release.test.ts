/**
 * A DeepDanbooru release as users download it (a flat zip of model-resnet_custom_v3.h5, tags.txt,
 * categories.json, project.json, …) through the CLI: import, models, info, and `tag --model <name>`
 * whose scores must match the float64 oracle on the same preprocessed pixels. Then every kind of bad
 * input: one clear error each, and nothing left in the store.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, preprocess } from '../../src/image/index.ts';
import { readBundle } from '../../src/infer/bundle.ts';
import { buildResNet } from '../../src/models/resnet.ts';
import { parameterCount } from '../../src/models/shapes.ts';
import { cli } from '../helpers/cli.ts';
import { noiseImage } from '../helpers/images.ts';
import { ErrorLog } from '../oracle/compare.ts';
import { referenceForward } from '../oracle/reference.ts';
import { randomWeights, writeReleaseLabels } from './_fixtures.ts';
import { kerasModelFromSpec, tf2Config, writeKerasH5 } from './_keras.ts';
import { writeZip } from './_zip.ts';

const ARCH = 'resnet_custom_v3', SIZE = 64, GENERAL = 12, CHARACTER = 5;
const NAME = 'deepdanbooru-v3-20211112-sgd-e28';
const spec = buildResNet(ARCH, { filters: [8, 16, 16, 32], repeats: [1, 2, 1, 1], head: 'conv-gap', note: 'test' }, { tags: GENERAL + CHARACTER + 3, imageSize: [SIZE, SIZE] });
const weights = randomWeights(spec, 9, 0.2);
const keras = kerasModelFromSpec(spec);
const log = new ErrorLog();

let tmp: string, release: string, zip: string, images: string, home: string;
const env = () => ({ TAGBOORU_HOME: home });
const storeEntries = async () => (await fs.readdir(path.join(home, 'models')).catch(() => [] as string[])).sort();

async function writeRelease(dir: string, options: { categories?: boolean } = {}): Promise<void> {
  await writeReleaseLabels(dir, { general: GENERAL, character: CHARACTER, size: SIZE, arch: ARCH, ...options });
  await writeKerasH5(path.join(dir, `model-${ARCH}.h5`), keras, weights);
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-release-'));
  home = path.join(tmp, 'home');
  release = path.join(tmp, 'release');
  await writeRelease(release);
  await fs.writeFile(path.join(release, 'tags_log.json'), '{"date":"2021/11/12 22:30:46","limit":10000,"minimum_post_count":500}');
  const files = (await fs.readdir(release)).sort();
  zip = await writeZip(path.join(tmp, `${NAME}.zip`), await Promise.all(files.map(async (f) => ({ name: f, data: await fs.readFile(path.join(release, f)) }))));
  images = path.join(tmp, 'images');
  await fs.mkdir(images);
  await noiseImage(path.join(images, 'a.png'), 90, 60, 1);
  await noiseImage(path.join(images, 'b.jpg'), 40, 70, 2);
});

afterAll(async () => {
  log.print('release: worst score difference, tag CLI vs float64 oracle');
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('a release zip, end to end', () => {
  it('imports with `tagbooru import <zip>` under the zip\'s name', async () => {
    const r = await cli(['import', zip], { env: env() });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(`imported ${NAME} (deepdanbooru-h5): 20 tags (12 general, 5 character, 3 rating), 64×64, preset deepdanbooru`);
    expect(await storeEntries()).toEqual([NAME]);
  });

  it('`tag --model <name>` gives the oracle\'s scores for the bundle\'s own preprocessing', async () => {
    const r = await cli(['tag', images, '--model', NAME, '-f', 'json', '-t', '0', '-b', '2'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { file: string; tags: { name: string; score: number }[]; rating: { name: string; score: number } }[];
    expect(out).toHaveLength(2);
    const { manifest } = await readBundle(path.join(home, 'models', NAME));
    for (const result of out) {
      const x = preprocess(await decodeImage(result.file), manifest.preprocess);
      const expected = referenceForward(spec, weights, Float64Array.from(x), 1);
      const byName = new Map(manifest.tags.map((t, i) => [t.name, expected[i]!]));
      expect(result.tags).toHaveLength(GENERAL + CHARACTER);
      let worst = 0;
      for (const t of [...result.tags, result.rating]) worst = Math.max(worst, Math.abs(t.score - byName.get(t.name)!));
      // the JSON rounds scores to 4 decimals
      expect(log.record('deepdanbooru release zip via `tag`', worst)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('`models` lists it with format, tags, input size and preset', async () => {
    const r = await cli(['models'], { env: env() });
    expect(r.code).toBe(0);
    const [header, row] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^NAME\s+FORMAT\s+TAGS\s+INPUT\s+PRESET\s+SIZE$/);
    expect(row!.split(/\s{2,}/)).toEqual([NAME, 'deepdanbooru-h5', '20', '64×64', 'deepdanbooru', expect.stringMatching(/MiB$/)]);
    const json = JSON.parse((await cli(['models', '--json'], { env: env() })).stdout) as { name: string; tags: number }[];
    expect(json.map((m) => [m.name, m.tags])).toEqual([[NAME, 20]]);
  });

  it('`info` gives tags per category, the input spec, parameters, size and provenance', async () => {
    const text = (await cli(['info', NAME], { env: env() })).stdout;
    expect(text).toMatch(/^tags\s+20: 12 general, 5 character, 3 rating$/m);
    expect(text).toMatch(/^input\s+input: NHWC 64×64, batch dynamic$/m);
    expect(text).toMatch(/^preset\s+deepdanbooru: fit-then-pad with area-tf resize, edge padding, alpha stripped, RGB NHWC/m);
    expect(text).toMatch(/^\s+sha256\s+[0-9a-f]{64}$/m);
    const info = JSON.parse((await cli(['info', NAME, '--json'], { env: env() })).stdout) as Record<string, unknown>;
    expect(info.categories).toEqual({ general: 12, character: 5, rating: 3 });
    expect(info.parameters).toBe(parameterCount(spec).total);
    expect(info.modelBytes).toBeGreaterThan(parameterCount(spec).total * 3); // float32 weights, BN folded
    expect((info.provenance as Record<string, unknown>).kerasVersion).toBe('2.7.0');
    expect((info.provenance as { project: { model: string } }).project.model).toBe(ARCH);
  });

  it('a second import of the same name needs --force; an unknown name lists the stored ones', async () => {
    const again = await cli(['import', zip], { env: env() });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(`already has a model named "${NAME}"`);
    expect((await cli(['import', zip, '--force'], { env: env() })).code).toBe(0);
    expect(await storeEntries()).toEqual([NAME]);
    const unknown = await cli(['tag', images, '--model', 'wd-vit-tagger-v3'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(`"wd-vit-tagger-v3" is neither a bundle folder nor a model in the store (${home}). Stored models: ${NAME}`);
  });
});

describe('bad input: one clear error, nothing half-written in the store', () => {
  const cases: [string, (dir: string) => Promise<string>, RegExp][] = [
    ['a truncated .h5', async (dir) => {
      await writeRelease(dir);
      const h5 = path.join(dir, `model-${ARCH}.h5`);
      const bytes = await fs.readFile(h5);
      await fs.writeFile(h5, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      return dir;
    }, /model-resnet_custom_v3\.h5 is truncated \(an interrupted download\?\): truncated file: eof = \d+/],
    ['a truncated .zip', async (dir) => {
      const bytes = await fs.readFile(zip);
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, 'release.zip'), bytes.subarray(0, Math.floor(bytes.length * 0.7)));
      return path.join(dir, 'release.zip');
    }, /release\.zip is truncated or not a zip archive: end of central directory record signature not found/i],
    ['tags.txt shorter than the model output', async (dir) => {
      await writeRelease(dir);
      const tags = (await fs.readFile(path.join(dir, 'tags.txt'), 'utf8')).trim().split('\n');
      await fs.writeFile(path.join(dir, 'tags.txt'), tags.slice(1).join('\n'));
      return dir;
    }, /tags\.txt lists 19 tags but the model has 20 outputs/],
    ['tags.txt with a tag twice', async (dir) => {
      await writeRelease(dir);
      const tags = (await fs.readFile(path.join(dir, 'tags.txt'), 'utf8')).trim().split('\n');
      await fs.writeFile(path.join(dir, 'tags.txt'), [...tags.slice(0, 3), tags[1], ...tags.slice(4)].join('\n'));
      return dir;
    }, /tags\.txt lists "\S+" 2 times \(line 2, line 4\): each entry is one model output/],
    ['an unknown layer class in model_config', async (dir) => {
      await writeRelease(dir);
      const config = tf2Config(keras) as { config: { layers: { class_name: string; name: string }[] } };
      const act = config.config.layers.find((l) => l.name === 'activation_3')!;
      act.class_name = 'LayerNormalization';
      await writeKerasH5(path.join(dir, `model-${ARCH}.h5`), keras, weights, { config });
      return dir;
    }, /layer activation_3 \(LayerNormalization\): layer class LayerNormalization is not supported\. Supported: InputLayer, Conv2D, /],
    ['no categories.json', async (dir) => {
      await writeRelease(dir, { categories: false });
      return dir;
    }, /has no categories\.json \(the General \/ Character \/ System ranges of tags\.txt\)/],
    ['a zip entry that climbs out of the folder (zip slip)', async (dir) => {
      await fs.mkdir(dir, { recursive: true });
      return writeZip(path.join(dir, 'slip.zip'), [{ name: 'tags.txt', data: 'a\n' }, { name: '../../../evil.txt', data: 'pwned' }]);
    }, /slip\.zip has an unsafe entry \(invalid relative path: \.\.\/\.\.\/\.\.\/evil\.txt\): it would be written outside the extraction folder/],
  ];

  it.each(cases)('%s', async (label, make, message) => {
    const before = await storeEntries();
    const source = await make(path.join(tmp, 'bad', label.replace(/\W+/g, '-')));
    const r = await cli(['import', source, '--name', 'bad-model'], { env: env() });
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('tagbooru import:'))).toHaveLength(1);
    expect(r.code).toBe(2);
    expect(await storeEntries()).toEqual(before);
  });

  it('the zip-slip entry was written nowhere', async () => {
    for (const dir of [tmp, home, path.join(home, 'models'), path.dirname(tmp)]) {
      await expect(fs.access(path.join(dir, 'evil.txt'))).rejects.toThrow();
    }
  });
});

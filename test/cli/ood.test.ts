import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../src/server/app.ts';
import { cli } from '../helpers/cli.ts';
import { circuitImage } from '../helpers/circuit.ts';
import { noiseImage } from '../helpers/images.ts';
import { multipart, type Part } from '../server/_fixtures.ts';

const DEFAULT = path.resolve('models/default');
const SAMPLE = path.resolve('samples/heldout-1000002.png');

type Ood = { score: number; threshold: number; flagged: boolean };
let dir: string, circuit: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-ood-'));
  circuit = await circuitImage(path.join(dir, 'circuit.png'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('out-of-distribution flag of the bundled model', () => {
  test('tag --format json flags a circuit board and not a held-out portrait', async () => {
    const r = await cli(['tag', SAMPLE, circuit, '--model', DEFAULT, '--format', 'json']);
    expect(r.code).toBe(0);
    const [sample, board] = JSON.parse(r.stdout) as { file: string; ood: Ood }[];
    expect(sample!.ood.flagged).toBe(false);
    expect(sample!.ood.score).toBeLessThanOrEqual(sample!.ood.threshold);
    expect(board!.ood.flagged).toBe(true);
    expect(board!.ood.score).toBeGreaterThan(board!.ood.threshold);
    expect(r.stderr).toBe(''); // the note is for the table, which a reader sees
  });

  test('table mode notes each flagged image on stderr', async () => {
    const r = await cli(['tag', SAMPLE, circuit, '--model', DEFAULT]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/circuit\.png is unlike the images the model was trained on/);
    expect(r.stderr).not.toMatch(/heldout-1000002/);
  });

  test('POST /v1/tag carries ood; /evaluate only with ood=1', async () => {
    const app: FastifyInstance = await buildApp({ model: DEFAULT, prepWorkers: 1, maxUploadBytes: 1 << 20, maxFiles: 4 });
    try {
      const files: Part[] = [
        { name: 'file', value: await fs.readFile(SAMPLE), filename: 'sample.png', type: 'image/png' },
        { name: 'file', value: await fs.readFile(circuit), filename: 'circuit.png', type: 'image/png' },
      ];
      const tagged = await app.inject({ method: 'POST', url: '/v1/tag', ...multipart(files) });
      expect(tagged.statusCode).toBe(200);
      const results = tagged.json<{ results: { file: string; ood: Ood }[] }>().results;
      expect(results.map((x) => [x.file, x.ood.flagged])).toEqual([['sample.png', false], ['circuit.png', true]]);
      const cliScores = JSON.parse((await cli(['tag', SAMPLE, circuit, '--model', DEFAULT, '--format', 'json'])).stdout) as { ood: Ood }[];
      expect(results.map((x) => x.ood)).toEqual(cliScores.map((x) => x.ood));

      const evaluate = async (extra: Part[]) => (await app.inject({ method: 'POST', url: '/evaluate', ...multipart([...files, { name: 'format', value: 'json' }, ...extra]) })).json<{ filename: string; ood?: Ood }[]>();
      expect((await evaluate([])).every((x) => x.ood === undefined)).toBe(true);
      expect((await evaluate([{ name: 'ood', value: '1' }])).map((x) => x.ood?.flagged)).toEqual([false, true]);
      const page = await app.inject({ method: 'POST', url: '/evaluate', ...multipart([...files, { name: 'ood', value: '1' }]) });
      expect(page.body.match(/Unlike the images the model was trained on/g)).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});

describe('fit-ood', () => {
  test('fits both scores into a bundle, which tag then applies', async () => {
    const tags = path.join(dir, 'tags.txt'), bundle = path.join(dir, 'tiny'), images = path.join(dir, 'fit');
    await fs.writeFile(tags, 'a\nb\nc\n');
    expect((await cli(['init-model', 'test_tiny', '--tags', tags, '--image-size', '32', '--out', bundle, '--seed', '3'])).code).toBe(0);
    await fs.mkdir(images);
    for (let i = 0; i < 50; i++) await noiseImage(path.join(images, `${i}.png`), 24, 24, i + 1);
    expect((await cli(['info', bundle])).stdout).toMatch(/^out-of-distribution\s+none fitted; tagbooru fit-ood can fit energy or mahalanobis$/m);
    const fit = await cli(['fit-ood', bundle, images, '--method', 'energy', '--flag-rate', '0.1']);
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    const manifest = JSON.parse(await fs.readFile(path.join(bundle, 'tagger.json'), 'utf8')) as { ood: { method: string; flagRate: number; thresholds: Record<string, number>; file: string } };
    expect(manifest.ood).toMatchObject({ method: 'energy', flagRate: 0.1, file: 'ood.safetensors', provenance: { fitImages: 40, validationImages: 10 } });
    expect(Object.keys(manifest.ood.thresholds).sort()).toEqual(['energy', 'mahalanobis']);
    await fs.access(path.join(bundle, 'ood.safetensors'));
    expect((await cli(['info', bundle])).stdout).toMatch(/^out-of-distribution\s+energy, threshold -?[\d.]+ \(flags ≤ 10 % of in-distribution images\); also fitted: mahalanobis [\d.]+$/m);
    const tagged = JSON.parse((await cli(['tag', path.join(images, '0.png'), '--model', bundle, '--format', 'json'])).stdout) as { ood: Ood }[];
    expect(tagged[0]!.ood.threshold).toBeCloseTo(manifest.ood.thresholds.energy!, 4);

    const bad = await cli(['fit-ood', bundle, images, '--flag-rate', '0.9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/between 0 and 0.5 for --flag-rate but received "0.9"/);
  });
});

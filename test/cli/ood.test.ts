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
  let bundle: string, images: string;
  beforeAll(async () => {
    const tags = path.join(dir, 'tags.txt');
    bundle = path.join(dir, 'tiny');
    images = path.join(dir, 'fit');
    await fs.writeFile(tags, 'a\nb\nc\n');
    expect((await cli(['init-model', 'test_tiny', '--tags', tags, '--image-size', '32', '--out', bundle, '--seed', '3'])).code).toBe(0);
    await fs.mkdir(images);
    for (let i = 0; i < 50; i++) await noiseImage(path.join(images, `${i}.png`), 24, 24, i + 1);
  });

  test('fits every score into a bundle, which tag then applies', async () => {
    expect((await cli(['info', bundle])).stdout).toMatch(/^out-of-distribution\s+none fitted; tagbooru fit-ood can fit energy, mahalanobis, mahalanobis-l2 or knn$/m);
    const fit = await cli(['fit-ood', bundle, images, '--method', 'energy', '--flag-rate', '0.1']);
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    const read = async () => JSON.parse(await fs.readFile(path.join(bundle, 'tagger.json'), 'utf8')) as { ood: { method: string; flagRate: number; thresholds: Record<string, number>; file: string; k: number } };
    const manifest = await read();
    expect(manifest.ood).toMatchObject({ method: 'energy', flagRate: 0.1, file: 'ood.safetensors', provenance: { fitImages: 40, validationImages: 10, knn: { bank: 40 } } });
    expect(Object.keys(manifest.ood.thresholds).sort()).toEqual(['energy', 'knn', 'mahalanobis', 'mahalanobis-l2']);
    expect(fit.stdout).toContain(`knn k = ${manifest.ood.k} of a 40-row bank`);
    await fs.access(path.join(bundle, 'ood.safetensors'));
    expect((await cli(['info', bundle])).stdout).toMatch(/^out-of-distribution\s+energy, threshold -?[\d.]+ \(flags ≤ 10 % of in-distribution images\); also fitted: mahalanobis [\d.]+, mahalanobis-l2 [\d.]+, knn \(k = \d+\) [\d.]+$/m);
    const tagged = JSON.parse((await cli(['tag', path.join(images, '0.png'), '--model', bundle, '--format', 'json'])).stdout) as { ood: Ood }[];
    expect(tagged[0]!.ood.threshold).toBeCloseTo(manifest.ood.thresholds.energy!, 4);

    // knn with a given k and a smaller bank: tag applies its threshold
    expect((await cli(['fit-ood', bundle, images, '--method', 'knn', '--k', '3', '--bank-size', '20'])).code).toBe(0);
    const knn = await read();
    expect(knn.ood).toMatchObject({ method: 'knn', k: 3, provenance: { knn: { bank: 20, k: 3, kChosenBy: 'given' } } });
    expect((await cli(['info', bundle])).stdout).toMatch(/^out-of-distribution\s+knn \(k = 3\), threshold [\d.]+ /m);
    const knnTagged = JSON.parse((await cli(['tag', path.join(images, '0.png'), '--model', bundle, '--format', 'json'])).stdout) as { ood: Ood }[];
    expect(knnTagged[0]!.ood.threshold).toBeCloseTo(knn.ood.thresholds.knn!, 4);
  });

  test('a bad --method, --k, --bank-size or --flag-rate is a usage error naming the valid range', async () => {
    const usage = async (args: string[], message: RegExp) => {
      const r = await cli(['fit-ood', bundle, images, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    };
    await usage(['--method', 'cosine'], /Expected one of energy, mahalanobis, mahalanobis-l2, knn for --method but received "cosine"/);
    await usage(['--k', '0'], /Expected an integer between 1 and 1000 for --k but received "0"/);
    await usage(['--k', '2.5'], /Expected an integer between 1 and 1000 for --k but received "2.5"/);
    await usage(['--k', '30', '--bank-size', '20'], /Expected an integer between 1 and 20 for --k but received "30"/);
    await usage(['--bank-size', '0'], /Expected an integer between 1 and 20000 for --bank-size but received "0"/);
    await usage(['--sample', '10'], /Expected an integer between 50 and 10000000 for --sample but received "10"/);
    // within --bank-size but above the rows the 40 fitting images give: found once the bank is fitted
    await usage(['--k', '45'], /Expected an integer between 1 and 40 \(the knn bank's rows\) for --k but received 45/);
    await usage(['--flag-rate', '0.9'], /between 0 and 0.5 for --flag-rate but received "0.9"/);
  });
});

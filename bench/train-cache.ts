/**
 * Whole training runs with and without the decoded-image cache (src/train/decoded-cache.ts): `train-project` on
 * a generated dataset of small images, `--cache-mb 0` (every epoch decodes every image) against the default,
 * interleaved, each run its own process from scratch. Reports each run's mean training speed over the epochs after
 * the first (the first decodes in both), its wall time, and the ratios of the means.
 *
 *   MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296 \
 *     node --import tsx bench/train-cache.ts [--size 64] [--count 3000] [--epochs 6] [--rounds 2]
 *
 * The dataset (make-dataset synthetic, seed 1; generated once, training/ablation/steps.ts) and the projects live in
 * bench/out/train-cache/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { ensureDataset, tagbooru } from '../training/ablation/steps.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'bench', 'out', 'train-cache');
const { values: v } = parseArgs({ options: { size: { type: 'string', default: '64' }, count: { type: 'string', default: '3000' }, epochs: { type: 'string', default: '6' }, rounds: { type: 'string', default: '2' } } });
const [size, count, epochs, rounds] = [v.size, v.count, v.epochs, v.rounds].map(Number) as [number, number, number, number];

const name = `${size}px-${count}`;
const data = path.dirname(ensureDataset(OUT, name, ['make-dataset', 'synthetic', path.join(OUT, 'data', name), '--count', String(count), '--seed', '1', '--size', String(size), '--no-masks', '--workers', '2']));

const arms = { 'decode every epoch': ['--cache-mb', '0'], 'decoded images kept': [] } as Record<string, string[]>;
const results: Record<string, { speed: number; wall: number }[]> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [arm, flags] of r % 2 === 0 ? Object.entries(arms) : Object.entries(arms).reverse()) {
    const dir = path.join(OUT, arm.replace(/\W+/g, '-'));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['tags.txt', 'categories.json']) fs.copyFileSync(path.join(data, f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'project.json'), JSON.stringify({
      image_width: size, image_height: size, database_path: path.join(data, 'dataset.sqlite'), minimum_tag_count: 0, model: 'resnet_custom_mini',
      minibatch_size: 32, epoch_count: epochs, export_model_per_epoch: 0, learning_rate: 0.001, seed: 1, augmentation: { preset: 'deepdanbooru' },
    }));
    const t = performance.now();
    const log = tagbooru(['train-project', dir, ...flags], true);
    const wall = (performance.now() - t) / 1000;
    const speeds = [...log.matchAll(/^Epoch\[(\d+)\].*Speed = ([\d.]+) samples\/s/gm)].filter((m) => Number(m[1]) >= 1).map((m) => Number(m[2]));
    const speed = speeds.reduce((a, b) => a + b, 0) / speeds.length;
    results[arm]!.push({ speed, wall });
    process.stderr.write(`round ${r + 1}, ${arm}: ${speed.toFixed(1)} samples/s after epoch 1, ${wall.toFixed(1)} s\n`);
  }
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const [off, on] = Object.keys(arms).map((k) => results[k]!);
console.log(`${count} images of ${size} px, resnet_custom_mini, batch 32, ${epochs} epochs, ${rounds} rounds`);
console.log('| | samples/s (epochs 2–) | wall time |\n|---|---|---|');
for (const [arm, rs] of Object.entries(results)) console.log(`| ${arm} | ${rs.map((x) => x.speed.toFixed(1)).join(', ')} | ${rs.map((x) => `${x.wall.toFixed(1)} s`).join(', ')} |`);
console.log(`speed ×${(mean(on!.map((x) => x.speed)) / mean(off!.map((x) => x.speed))).toFixed(2)}, wall time ×${(mean(on!.map((x) => x.wall)) / mean(off!.map((x) => x.wall))).toFixed(2)} with the cache`);

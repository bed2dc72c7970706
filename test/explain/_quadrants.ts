/**
 * The quadrant task: coloured squares, each in one quadrant of a noisy grey image, tagged by colour, plus `solo`
 * for a single square (a tag with no place). A test_tiny trained on it for a few seconds knows what each
 * colour looks like, so a map for `red_square` must light the quadrant the red square is in.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec } from '../../src/infer/bundle.ts';
import { Rng } from '../../src/models/random.ts';
import { runTrainingLoop, type TrainingData } from '../../src/train/loop.ts';
import { createTrainer } from '../../src/train/trainer.ts';

export const SIZE = 32;
export const QUAD_TAGS = ['red_square', 'green_square', 'blue_square', 'solo'] as const;
export type Colour = 'red' | 'green' | 'blue';
/** tl, tr, bl, br */
export type Quadrant = 0 | 1 | 2 | 3;
export const COLOURS: Record<Colour, [number, number, number]> = { red: [230, 30, 30], green: [30, 200, 50], blue: [40, 60, 240] };
const SIDE = 10;

export interface Square {
  readonly colour: Colour;
  readonly quadrant: Quadrant;
}

/** RGB bytes of a `width × height` scene (squares scaled as fit-then-pad scales the image), and its labels. */
export function drawScene(squares: readonly Square[], seed: number, width = SIZE, height = SIZE): { rgb: Uint8Array; labels: Float32Array } {
  const rng = new Rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = 115 + Math.floor(25 * rng.next());
  const labels = new Float32Array(QUAD_TAGS.length);
  if (squares.length === 1) labels[3] = 1;
  const sw = Math.round((SIDE * Math.max(width, height)) / SIZE), sh = sw;
  for (const s of squares) {
    labels[['red', 'green', 'blue'].indexOf(s.colour)] = 1;
    const qx = (s.quadrant % 2) * (width / 2), qy = Math.floor(s.quadrant / 2) * (height / 2);
    const x0 = Math.floor(qx + 1 + rng.next() * (width / 2 - sw - 2)), y0 = Math.floor(qy + 1 + rng.next() * (height / 2 - sh - 2));
    for (let y = y0; y < y0 + sh; y++) for (let x = x0; x < x0 + sw; x++) rgb.set(COLOURS[s.colour], (y * width + x) * 3);
  }
  return { rgb, labels };
}

export async function scenePng(squares: readonly Square[], seed: number, width = SIZE, height = SIZE): Promise<Uint8Array> {
  const { rgb } = drawScene(squares, seed, width, height);
  return new Uint8Array(await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer());
}

function randomScene(seed: number): Square[] {
  const rng = new Rng(seed);
  const colours: Colour[] = ['red', 'green', 'blue'];
  const quadrants: Quadrant[] = [0, 1, 2, 3];
  const n = 1 + rng.int(2);
  const out: Square[] = [];
  for (let k = 0; k < n; k++) {
    const colour = colours.splice(rng.int(colours.length), 1)[0]!, quadrant = quadrants.splice(rng.int(quadrants.length), 1)[0]!;
    out.push({ colour, quadrant });
  }
  return out;
}

/** One sample in BLANK_EVERY is the background alone, dimmed by a random factor down to black, with no tags. */
const BLANK_EVERY = 8;

/**
 * The scenes, and among them blank ones from black to the usual grey: Score-CAM compares masked (darkened) inputs
 * with the all-zero input, which must mean "no square" to the model. Without them black is a colour it never
 * saw, and what it makes of it is chance (one training run called it red at 0.997).
 */
function quadrantData(count: number): TrainingData {
  return {
    size: count,
    load: (i) => {
      const { rgb, labels } = drawScene(i % BLANK_EVERY === BLANK_EVERY - 1 ? [] : randomScene(i), 1_000 + i);
      const dim = labels.some((v) => v > 0) ? 1 : 0;
      return Promise.resolve({ x: Float32Array.from(rgb, (v) => (v * dim) / 255), labels });
    },
  };
}

/** Part of the cache key: raise it when the task changes. */
const VERSION = 3;

/**
 * The rest of the cache key: this file and every source the training runs through. A bundle cached under a
 * version number alone outlived the trainer that made it: tests passed on machines that kept an old bundle
 * and failed on a fresh one.
 */
async function sourceKey(): Promise<string> {
  const hash = crypto.createHash('sha256').update(await fs.readFile(fileURLToPath(import.meta.url)));
  const src = fileURLToPath(new URL('../../src/', import.meta.url));
  for (const dir of ['autodiff', 'graph', 'infer', 'models', 'train']) {
    const files = (await fs.readdir(path.join(src, dir), { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
    for (const f of files) hash.update(f).update(await fs.readFile(path.join(src, dir, f)));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * A trained bundle (model.onnx, tagger.json, weights.safetensors), made once per machine and source and reused:
 * training goes to a fresh folder that is renamed into place, so test files starting together never see half a
 * bundle.
 */
export async function quadrantBundle(): Promise<string> {
  const dir = path.join(os.tmpdir(), `tagbooru-test-quadrants-v${VERSION}-${await sourceKey()}`);
  if (await fs.stat(path.join(dir, 'tagger.json')).catch(() => null)) return dir;
  const trainer = await createTrainer({ model: 'test_tiny', tags: QUAD_TAGS.length, imageSize: [SIZE, SIZE], batchSize: 32, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', seed: 5, threads: 2 });
  const staging = await fs.mkdtemp(`${dir}-staging-`);
  try {
    await runTrainingLoop({ trainer, data: quadrantData(32 * 100), epochs: 6, batchSize: 32, sampleSize: SIZE * SIZE * 3, tags: QUAD_TAGS.length, seed: 2, learningRate: (e) => [1e-2, 3e-3, 3e-3, 1e-3, 1e-3, 1e-3][e]! });
    await trainer.exportBundle(staging, {
      format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: 'quadrants', preset: 'deepdanbooru', preprocess: presetSpec('deepdanbooru', { width: SIZE, height: SIZE }),
      tags: QUAD_TAGS.map((name) => ({ name, category: 'general' })), thresholds: { default: 0.5 }, provenance: { createdBy: 'test/explain/_quadrants.ts' },
    });
  } finally {
    await trainer.close();
  }
  await fs.rename(staging, dir).catch(async () => fs.rm(staging, { recursive: true, force: true })); // another file won the race
  return dir;
}

/** A generated multi-label task: coloured circles and squares on noise, drawn straight into NHWC floats. */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/models/random.ts';
import type { Sample, TrainingData } from '../../src/train/loop.ts';

export const SHAPE_TAGS = ['circle', 'square', 'red', 'green', 'blue', 'two_objects'] as const;
const COLOURS: Record<string, [number, number, number]> = { red: [0.9, 0.1, 0.1], green: [0.1, 0.8, 0.2], blue: [0.15, 0.25, 0.95] };

export function drawSample(size: number, seed: number): Sample {
  const rng = new Rng(seed);
  const x = new Float32Array(size * size * 3);
  for (let i = 0; i < x.length; i++) x[i] = 0.45 + 0.1 * rng.next();
  const labels = new Float32Array(SHAPE_TAGS.length);
  const count = rng.next() < 0.5 ? 1 : 2;
  if (count === 2) labels[5] = 1;
  for (let k = 0; k < count; k++) {
    const shape = rng.int(2), colour = ['red', 'green', 'blue'][rng.int(3)]!;
    labels[shape] = 1;
    labels[2 + ['red', 'green', 'blue'].indexOf(colour)] = 1;
    const r = Math.floor(size * (0.12 + 0.08 * rng.next()));
    // two objects live in separate halves so they never overlap
    const half = count === 2 ? k : rng.int(2);
    const cx = Math.floor(size / 4 + (half * size) / 2), cy = Math.floor(r + rng.next() * (size - 2 * r));
    const rgb = COLOURS[colour]!;
    for (let y = cy - r; y <= cy + r; y++) for (let xx = cx - r; xx <= cx + r; xx++) {
      if (y < 0 || y >= size || xx < 0 || xx >= size) continue;
      if (shape === 0 && (y - cy) ** 2 + (xx - cx) ** 2 > r * r) continue;
      x.set(rgb, (y * size + xx) * 3);
    }
  }
  return { x, labels };
}

export function shapesData(size: number, count: number, seedBase: number): TrainingData {
  return { size: count, load: (i) => Promise.resolve(drawSample(size, seedBase + i)) };
}

export function microF1(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = probs[i]! >= threshold, t = labels[i]! > 0.5;
    if (p && t) tp++;
    else if (p) fp++;
    else if (t) fn++;
  }
  return (2 * tp) / Math.max(2 * tp + fp + fn, 1);
}

/** Samples 0 … count−1 as `img<i>.png` with their tags in `img<i>.txt`: a folder for `make-training-database --from-folder`. */
export async function writeShapesFolder(folder: string, count: number, size: number): Promise<void> {
  await fs.mkdir(folder, { recursive: true });
  for (let i = 0; i < count; i++) {
    const s = drawSample(size, i);
    await fs.writeFile(path.join(folder, `img${i}.png`), await sharp(Uint8Array.from(s.x, (v) => Math.round(v * 255)), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer());
    await fs.writeFile(path.join(folder, `img${i}.txt`), SHAPE_TAGS.filter((_, k) => s.labels[k]! > 0.5).join(', '));
  }
}

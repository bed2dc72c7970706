/**
 * What a teacher costs a training step: ms per step of the same student with and without distillation, the
 * teacher's soft targets for the next batch computed while the step runs, as src/train/loop.ts does. The
 * teacher is a bundle of the student's own architecture (its weights do not matter for the time).
 *   node --import tsx bench/distill-overlap.ts [--model resnet_custom_mini] [--size 32] [--batch 16] [--steps 20]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec } from '../src/infer/bundle.ts';
import { openTeacher } from '../src/train/teacher.ts';
import { createTrainer, type TrainerConfig } from '../src/train/trainer.ts';

const { values: v } = parseArgs({ options: { model: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, steps: { type: 'string' } } });
const model = v.model ?? 'resnet_custom_mini', SIZE = Number(v.size ?? 32), B = Number(v.batch ?? 16), N = Number(v.steps ?? 20), TAGS = 34;
const spec = presetSpec('deepdanbooru', { width: SIZE, height: SIZE });
const tags = Array.from({ length: TAGS }, (_, i) => `tag_${i}`);
const config: TrainerConfig = { model, tags: TAGS, imageSize: [SIZE, SIZE], batchSize: B, optimizer: { name: 'adam' }, loss: 'binary_crossentropy', threads: 1 };
const batch = () => Float32Array.from({ length: B * SIZE * SIZE * 3 }, () => Math.random());

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-distill-bench-'));
const exporter = await createTrainer({ ...config, seed: 9 });
const bundle = await exporter.exportBundle(path.join(dir, 'teacher'), {
  format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: 'teacher', preset: 'deepdanbooru', preprocess: spec,
  tags: tags.map((name) => ({ name, category: 'general' })), thresholds: { default: 0.5 }, provenance: {},
});
await exporter.close();

async function msPerStep(distil: boolean): Promise<number> {
  const trainer = await createTrainer({ ...config, ...(distil && { distillation: { alpha: 0.5, temperature: 2 } }) });
  const teacher = distil ? await openTeacher(bundle, { tags, spec }, 1) : null;
  const next = async () => {
    const x = batch();
    return { x, teacher: teacher ? await teacher.targets(x) : undefined };
  };
  const step = (b: Awaited<ReturnType<typeof next>>) => trainer.step(b.x, new Float32Array(B * TAGS), 1e-3, { teacher: b.teacher });
  await step(await next()); // the first run of a session is not a step's cost
  let b = await next();
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    const running = step(b);
    const prefetch = next();
    await running;
    b = await prefetch;
  }
  const ms = (performance.now() - start) / N;
  await Promise.all([trainer.close(), teacher?.close()]);
  return ms;
}

const runs = { without: [] as number[], with: [] as number[] };
for (let round = 0; round < 2; round++) {
  runs.without.push(await msPerStep(false));
  runs.with.push(await msPerStep(true));
}
await fs.rm(dir, { recursive: true, force: true });
const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
console.log(`${model} ${SIZE} px, batch ${B}, ${N} steps, one thread each: ms/step without a teacher ${f(runs.without)}; with one ${f(runs.with)}`);

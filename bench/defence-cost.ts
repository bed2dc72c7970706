/**
 * What each defence costs in time per image, at its default setting, on one image at the default model's input
 * size (224²): `apply`, and for the de-noiser its `backward` (one VJP, what an adaptive attack pays per step).
 *
 *   node --import tsx bench/defence-cost.ts <image> [--rounds 9]
 */
import { parseArgs } from 'node:util';
import { BUILTIN_DEFENCES, decodeImage, preprocessPixels } from '../src/image/index.ts';
import { readBundle } from '../src/infer/bundle.ts';
import { openDefence } from '../src/infer/defences.ts';
import { DEFAULT_MODEL_DIR } from '../src/package.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '9' } } });
const rounds = Number(values.rounds);
const spec = (await readBundle(DEFAULT_MODEL_DIR)).manifest.preprocess;
const image = preprocessPixels(await decodeImage(positionals[0]!), spec);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const time = async (f: () => Promise<unknown>) => {
  await f(); // warm-up: the first call creates the de-noiser's session
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return median(out).toFixed(1);
};
console.log('| defence | apply, ms (median) | backward, ms (median) |\n|---|---|---|');
for (const name of [...Object.keys(BUILTIN_DEFENCES), 'denoiser']) {
  const d = (await openDefence({ spec: name, baseDir: process.cwd() }))!;
  const back = d.backward ? await time(() => d.backward!(image, new Float32Array(image.data.length).fill(1), Math.random)) : '— (BPDA)';
  console.log(`| \`${name}\` | ${await time(() => d.apply(image, Math.random))} | ${back} |`);
  await d.close?.();
}

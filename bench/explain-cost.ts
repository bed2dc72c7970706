/**
 * What a CAM costs next to a plain tag call, on one bundle and one image, interleaved so load drifts hit both:
 *   raw:        ONNX Runtime alone, model.onnx vs the explain variant fetching the predictions and `cam` (every tag's map)
 *   end to end: tagger.tag(image) vs tagger.explain(image, { method: 'cam', tags }) (decode, run, post-process),
 *   and the same with refine: 'guided' and 'segments'; and the finer map (mapStride, default half the model's stride) raw and end to end
 *
 *   node --import tsx bench/explain-cost.ts [--model <bundle>] [--image <file>] [--rounds 10] [--tags 10] [--threads 2] [--map-stride px]
 */
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { probeVariant } from '../src/explain/surgery.ts';
import { decodeImage, preprocess } from '../src/image/index.ts';
import { readBundle } from '../src/infer/bundle.ts';
import { ModelSession } from '../src/infer/session.ts';
import { createTagger } from '../src/index.ts';

const { values: v } = parseArgs({ options: { model: { type: 'string', default: 'models/default' }, image: { type: 'string', default: 'samples/heldout-1000002.png' }, rounds: { type: 'string', default: '10' }, tags: { type: 'string', default: '10' }, threads: { type: 'string', default: '2' }, 'map-stride': { type: 'string' } } });
const rounds = Number(v.rounds), threads = Number(v.threads);
const bundle = await readBundle(v.model);
const { manifest } = bundle;
const spec = manifest.preprocess;
const x = preprocess(await decodeImage(v.image), spec);
const dims = spec.layout === 'NCHW' ? [1, 3, spec.height, spec.width] : [1, spec.height, spec.width, 3];
const bytes = await fs.readFile(bundle.modelPath);
const variant = probeVariant(bytes, manifest.output.name);
const mapStride = v['map-stride'] ? Number(v['map-stride']) : variant.mapStrides[1]!;
const fine = probeVariant(bytes, manifest.output.name, mapStride);
const plain = await ModelSession.create(bundle.modelPath, { threads, spinning: false });
const probe = await ModelSession.create(variant.model, { threads, spinning: false });
const fineProbe = await ModelSession.create(fine.model, { threads, spinning: false });
const tagger = await createTagger(bundle, { threads });
const tags = manifest.tags.slice(0, Number(v.tags)).map((t) => t.name);

const EXPLAIN = `explain(cam, ${tags.length} tags)`, REFINED = `explain(cam+guided, ${tags.length})`, REGIONS = `explain(cam+segments, ${tags.length})`, FINE = `explain(cam@${mapStride}px, ${tags.length})`;
const RAW_FINE = `raw cam@${mapStride}px (all)`;
const times: Record<string, number[]> = { 'raw plain': [], 'raw cam (all tags)': [], [RAW_FINE]: [], 'tag()': [], [EXPLAIN]: [], [REFINED]: [], [REGIONS]: [], [FINE]: [] };
const time = async (name: string, f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  times[name]!.push(performance.now() - t);
};
const feeds = () => ({ [manifest.input.name]: { data: x.slice(), dims } });
for (let r = -2; r < rounds; r++) { // two warm-up rounds, not counted
  const steps: [string, () => Promise<unknown>][] = [
    ['raw plain', () => plain.run(feeds(), [manifest.output.name])],
    ['raw cam (all tags)', () => probe.run(feeds(), [manifest.output.name, variant.cam!])],
    [RAW_FINE, () => fineProbe.run(feeds(), [manifest.output.name, fine.cam!])],
    ['tag()', () => tagger.tag(v.image)],
    [EXPLAIN, () => tagger.explain(v.image, { method: 'cam', tags })],
    [REFINED, () => tagger.explain(v.image, { method: 'cam', tags, refine: 'guided' })],
    [REGIONS, () => tagger.explain(v.image, { method: 'cam', tags, refine: 'segments' })],
    [FINE, () => tagger.explain(v.image, { method: 'cam', tags, mapStride })],
  ];
  for (const [name, f] of r % 2 === 0 ? steps : steps.reverse()) await time(name, f);
  if (r < 0) for (const k of Object.keys(times)) times[k] = [];
}
await Promise.all([plain.release(), probe.release(), fineProbe.release(), tagger.close()]);

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(`${manifest.name}: ${manifest.tags.length} tags, ${spec.width}×${spec.height}, ${threads} threads, ${rounds} rounds`);
for (const [name, t] of Object.entries(times)) console.log(`${name.padEnd(24)} median ${median(t).toFixed(1).padStart(8)} ms   min ${Math.min(...t).toFixed(1).padStart(8)} ms`);
const ratio = (a: number[], b: number[]) => `median ${(median(a) / median(b)).toFixed(3)}, min ${(Math.min(...a) / Math.min(...b)).toFixed(3)}`;
console.log(`raw cam / raw plain: ${ratio(times['raw cam (all tags)']!, times['raw plain']!)}`);
console.log(`raw cam@${mapStride}px / raw plain: ${ratio(times[RAW_FINE]!, times['raw plain']!)}`);
const e = times[EXPLAIN]!, g = times[REFINED]!, t = times['tag()']!;
console.log(`explain / tag:       ${ratio(e, t)}`);
console.log(`guided / explain:    ${ratio(g, e)}`);
console.log(`segments / explain:  ${ratio(times[REGIONS]!, e)}`);
console.log(`cam@${mapStride}px / tag:    ${ratio(times[FINE]!, t)}`);

import fs from 'node:fs';
import path from 'node:path';
import { TrainingDatabase } from '../../data/training-db.ts';
import { maskPath } from '../../data/paths.ts';
import { TagbooruError } from '../../errors.ts';
import { accumulate, bestThreshold, newAccumulator, score, truthOnGrid, type LocalisationScore, type TagAccumulator, type TruthMask } from '../../explain/localisation-metrics.ts';
import { isPlaceless } from '../../explain/placeless.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS, type FloatMap } from '../../explain/types.ts';
import { readMask } from '../../image/mask.ts';
import { readBundle } from '../../infer/bundle.ts';
import { createTagger } from '../../tagger.ts';
import { isValidation } from '../../train/dataset.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { resolveModel } from '../model-option.ts';
import { createProgress } from '../progress.ts';

export const mapsEvalCommand = defineCommand({
  name: 'maps-eval',
  usage: 'maps-eval [--model <bundle>] <dataset folder | dataset.sqlite> [--method cam|gradcam|scorecam|saliency] [--format table|json]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    method: { type: 'string', placeholder: EXPLAIN_METHODS.join('|'), description: 'localisation method', default: 'cam' },
    refine: { type: 'string', placeholder: EXPLAIN_REFINEMENTS.join('|'), description: 'segments or guided: refine each map before scoring (see grad-cam --help)', default: 'none' },
    'map-stride': { type: 'string', placeholder: 'px', description: 'cam: a finer map, this many input pixels per cell (e.g. 16 for a stride-32 model; see grad-cam --help)' },
    ceiling: { type: 'string', placeholder: 'px', description: 'score the masks themselves on a grid of px-pixel cells instead of a method: the best any map that coarse can do (e.g. 32 for a stride-32 CNN at its input size)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    limit: { type: 'string', placeholder: 'n', description: 'score only the first n images with masks (Score-CAM is slow)' },
    tags: { type: 'string', multiple: true, placeholder: 'a,b', description: 'only these tags' },
    tolerance: { type: 'string', placeholder: 'px', description: 'pointing game: a peak this close to the region counts as a hit', default: '15' },
    'tune-fraction': { type: 'string', placeholder: '0–1', description: 'share of images (by id hash) used only to choose the mask threshold', default: '0.3' },
  },
  details: [
    'For every image and every localisable tag it has a mask for (tags without a place, such as solo, are skipped),',
    'the map of the true tag is scored whether or not the model predicted it. Pointing game: the map\'s maximum lies in',
    'the mask (strict) or within --tolerance pixels of it. mIoU: the mean over tags of Σ|map ≥ τ ∩ mask| / Σ|map ≥ τ ∪ mask|,',
    'with τ (relative to each map\'s maximum) chosen on the tuning split and reported on the rest. --ceiling scores',
    'the masks themselves, averaged onto cells of that size and upsampled as maps are: the best any map that coarse',
    'can do, against which a method\'s figures can be read (the default model\'s 7×7 map at 224 px has 32-px cells).',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [data] = positionals;
    if (!data || positionals.length > 1) throw new TagbooruError('E_USAGE', `maps-eval: usage: tagbooru ${this.usage}`);
    const method = choiceOption('method', v.method, EXPLAIN_METHODS) ?? 'cam';
    const refine = choiceOption('refine', v.refine, EXPLAIN_REFINEMENTS) ?? 'none';
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const limit = numberOption('limit', v.limit, 1, Number.MAX_SAFE_INTEGER, true);
    const tolerance = numberOption('tolerance', v.tolerance, 0, 1000) ?? 15;
    const tuneFraction = numberOption('tune-fraction', v['tune-fraction'], 0.01, 0.99) ?? 0.3;
    const ceiling = numberOption('ceiling', v.ceiling, 1, 4096, true);
    const mapStride = numberOption('map-stride', v['map-stride'], 1, 4096, true);
    const only = v.tags ? new Set(listOption(v.tags)) : null;
    const dbFile = fs.existsSync(data) && fs.statSync(data).isDirectory() ? path.join(data, 'dataset.sqlite') : data;
    if (!fs.existsSync(dbFile)) throw new TagbooruError('E_USAGE', `maps-eval: ${dbFile} does not exist`);

    const bundle = await readBundle(resolveModel(v.model, io.env));
    const known = new Map(bundle.manifest.tags.map((t) => [t.name, t]));
    const db = TrainingDatabase.open(dbFile, { readonly: true });
    const items: { id: number; file: string; masks: { tag: string; file: string }[] }[] = [];
    try {
      for (const r of db.records()) {
        const masks = db.masks(r.id).filter((m) => known.has(m.tag) && !isPlaceless(known.get(m.tag)!) && (!only || only.has(m.tag)));
        if (masks.length === 0) continue;
        items.push({ id: r.id, file: r.path, masks: masks.map((m) => ({ tag: m.tag, file: maskPath(dbFile, r.md5, m.tag) })) });
        if (limit !== undefined && items.length >= limit) break;
      }
    } finally {
      db.close();
    }
    if (items.length === 0) throw new TagbooruError('E_USAGE', `${dbFile} has no ground-truth masks for localisable tags of this model (make one with \`tagbooru make-dataset synthetic\`)`);

    const tuning = new Map<string, TagAccumulator>(), evaluation = new Map<string, TagAccumulator>();
    const add = (id: number, tag: string, map: FloatMap, truth: TruthMask, peak: readonly [number, number]) => {
      const split = isValidation(id, tuneFraction) ? tuning : evaluation;
      let acc = split.get(tag);
      if (!acc) split.set(tag, (acc = newAccumulator()));
      accumulate(acc, map, truth, peak, tolerance);
    };
    let failed = 0, explainMs = 0;
    const progress = createProgress(io, items.length);
    if (ceiling !== undefined) {
      for (const [done, item] of items.entries()) {
        for (const m of item.masks) {
          const truth = await readMask(m.file);
          const best = truthOnGrid(truth, ceiling);
          add(item.id, m.tag, best.map, truth, best.peak);
        }
        progress.update(done + 1);
      }
    } else {
      const tagger = await createTagger(bundle);
      try {
        let done = 0;
        for (const item of items) {
          const t0 = performance.now();
          const result = await tagger.explain(item.file, { tags: item.masks.map((m) => m.tag), method, refine, mapStride, includePlaceless: true });
          explainMs += performance.now() - t0;
          progress.update(++done);
          if (result.error !== null) {
            failed++;
            progress.log(`error: ${item.file}: ${result.error}`);
            continue;
          }
          for (const region of result.tags) {
            const truth = await readMask(item.masks.find((m) => m.tag === region.name)!.file);
            if (truth.width !== result.width || truth.height !== result.height) throw new TagbooruError('E_USAGE', `${item.file}: the mask of ${region.name} is ${truth.width}×${truth.height} but the image is ${result.width}×${result.height}`);
            add(item.id, region.name, region.map, truth, region.peak);
          }
        }
      } finally {
        await tagger.close();
      }
    }
    progress.finish();
    if (tuning.size === 0 || evaluation.size === 0) throw new TagbooruError('E_USAGE', `too few images (${items.length}) to split into tuning and evaluation; raise --limit`);
    const result = score(evaluation, bestThreshold(tuning));
    const msPerImage = explainMs / items.length;
    const scored = ceiling !== undefined ? { ceiling } : { method, refine, mapStride: mapStride ?? null };
    const variant = [mapStride !== undefined && `${mapStride}-px map`, refine !== 'none' && refine].filter(Boolean).join(', ');
    const label = ceiling !== undefined ? `ceiling (the masks on ${ceiling}-px cells)` : variant ? `${method} (${variant})` : method;
    io.stdout.write(format === 'json'
      ? `${JSON.stringify({ model: bundle.dir, data: dbFile, ...scored, tolerance, images: items.length, msPerImage, ...result }, null, 1)}\n`
      : `${formatTable(label, result, tolerance, items.length, msPerImage)}\n`);
    return failed > 0 ? 1 : 0;
  },
});

function formatTable(method: string, s: LocalisationScore, tolerance: number, images: number, msPerImage: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);
  const rows = [...s.perTag].sort((a, b) => a.tag.localeCompare(b.tag)).map((t) => `${t.tag.padEnd(20)} ${String(t.instances).padStart(9)} ${pct(t.pointing)}  ${pct(t.pointingStrict)}  ${pct(t.iou)}`);
  return [
    `${'tag'.padEnd(20)} ${'instances'.padStart(9)} ${'pointing'.padStart(7)} ${'strict'.padStart(8)} ${'IoU'.padStart(8)}`,
    ...rows,
    '',
    `method ${method}   images ${images}${msPerImage > 0 ? ` (${msPerImage.toFixed(1)} ms each)` : ''}   instances ${s.instances}   pointing game ${pct(s.pointing).trim()} (±${tolerance} px), strict ${pct(s.pointingStrict).trim()}   mIoU ${pct(s.mIoU).trim()} at τ = ${s.threshold.toFixed(2)}`,
  ].join('\n');
}

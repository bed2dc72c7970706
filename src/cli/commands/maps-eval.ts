import { TagbooruError } from '../../errors.ts';
import type { LocalisationScore } from '../../explain/localisation-metrics.ts';
import { MAPS_EVAL_DEFAULTS, evaluateMaps } from '../../explain/maps-eval.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS } from '../../explain/types.ts';
import { defined } from '../../option-values.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { resolveModel } from '../model-option.ts';
import { createProgress, type Progress } from '../progress.ts';

export const mapsEvalCommand = defineCommand({
  name: 'maps-eval',
  usage: 'maps-eval [--model <bundle>] <dataset folder | dataset.sqlite> [--method cam|gradcam|scorecam|saliency] [--format table|json]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle (default: the bundled model)' },
    method: { type: 'string', placeholder: EXPLAIN_METHODS.join('|'), description: 'localisation method', default: MAPS_EVAL_DEFAULTS.method },
    refine: { type: 'string', placeholder: EXPLAIN_REFINEMENTS.join('|'), description: 'segments or guided: refine each map before scoring (see grad-cam --help)', default: MAPS_EVAL_DEFAULTS.refine },
    'map-stride': { type: 'string', placeholder: 'px', description: 'cam: a finer map, this many input pixels per cell (e.g. 16 for a stride-32 model; see grad-cam --help)' },
    ceiling: { type: 'string', placeholder: 'px', description: 'score the masks themselves on a grid of px-pixel cells instead of a method: the best any map that coarse can do (e.g. 32 for a stride-32 CNN at its input size)' },
    format: { type: 'string', short: 'f', placeholder: 'table|json', description: 'output format', default: 'table' },
    limit: { type: 'string', placeholder: 'n', description: 'score only the first n images with masks (Score-CAM is slow)' },
    tags: { type: 'string', multiple: true, placeholder: 'a,b', description: 'only these tags' },
    tolerance: { type: 'string', placeholder: 'px', description: 'pointing game: a peak this close to the region counts as a hit', default: String(MAPS_EVAL_DEFAULTS.tolerance) },
    'tune-fraction': { type: 'string', placeholder: '0–1', description: 'share of images (by id hash) used only to choose the mask threshold', default: String(MAPS_EVAL_DEFAULTS.tuneFraction) },
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
    const format = choiceOption('format', v.format, ['table', 'json'] as const) ?? 'table';
    const options = {
      method: choiceOption('method', v.method, EXPLAIN_METHODS),
      refine: choiceOption('refine', v.refine, EXPLAIN_REFINEMENTS),
      limit: numberOption('limit', v.limit, 1, Number.MAX_SAFE_INTEGER, true),
      tolerance: numberOption('tolerance', v.tolerance, 0, 1000),
      tuneFraction: numberOption('tune-fraction', v['tune-fraction'], 0.01, 0.99),
      ceiling: numberOption('ceiling', v.ceiling, 1, 4096, true),
      mapStride: numberOption('map-stride', v['map-stride'], 1, 4096, true),
      tags: v.tags && listOption(v.tags),
    };
    const model = resolveModel(v.model, io.env);
    // the total is known once the dataset is read
    const progress: { bar?: Progress } = {};
    const result = await evaluateMaps(model, data, {
      ...options,
      onProgress: (done, total) => (progress.bar ??= createProgress(io, total)).update(done),
      onError: (file, error) => progress.bar?.log(`error: ${file}: ${error}`),
    });
    progress.bar?.finish();
    const { method, refine, tolerance, ceiling, mapStride } = { ...MAPS_EVAL_DEFAULTS, ...defined(options) };
    const scored = ceiling !== undefined ? { ceiling } : { method, refine, mapStride: mapStride ?? null };
    const variant = [mapStride !== undefined && `${mapStride}-px map`, refine !== 'none' && refine].filter(Boolean).join(', ');
    const label = ceiling !== undefined ? `ceiling (the masks on ${ceiling}-px cells)` : variant ? `${method} (${variant})` : method;
    const { data: dbFile, images, msPerImage, failed, ...score } = result;
    io.stdout.write(format === 'json'
      ? `${JSON.stringify({ model, data: dbFile, ...scored, tolerance, images, msPerImage, ...score }, null, 1)}\n`
      : `${formatTable(label, result, tolerance, images, msPerImage)}\n`);
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

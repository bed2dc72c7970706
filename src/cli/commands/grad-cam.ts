/**
 * DeepDanbooru's `grad-cam`, same name and layout (`<out>/<stem>/input.png`, `result-<tag>.png`,
 * `result-<tag>-masked.png`), any of the four methods, plus an overlay, a mask and the regions per tag.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { defined } from '../../option-values.ts';
import { composite, maskBytes, maskedInput, regionsSvg } from '../../explain/draw.ts';
import { EXPLAIN_DEFAULTS } from '../../explain/explain.ts';
import { upsample } from '../../explain/postprocess.ts';
import { EXPLAIN_METHODS, EXPLAIN_REFINEMENTS, type ExplainResult, type TagRegion } from '../../explain/types.ts';
import { mapBytes, overlayHeatmap } from '../../image/heatmap.ts';
import { IMAGE_EXTENSIONS, decodeImage } from '../../image/index.ts';
import { roundScore } from '../../infer/rounding.ts';
import { dropAlpha } from '../../image/preprocess.ts';
import { toPng } from '../../image/encode.ts';
import { renderSvg } from '../../image/svg.ts';
import { createTagger } from '../../tagger.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { collectAll } from '../inputs.ts';
import { isProjectDir, resolveModel, resolveProjectModel } from '../model-option.ts';
import { createProgress } from '../progress.ts';

/** DeepDanbooru replaces `:` and `/`; the other characters a file system refuses go the same way. */
export const safeTagName = (tag: string) => tag.replace(/[:/\\*?"<>|]/g, '_');

export const gradCamCommand = defineCommand({
  name: 'grad-cam',
  usage: 'grad-cam [--model <bundle> | --project <dir> | <project>] <images…> <out>',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle folder (default: the bundled model)' },
    project: { type: 'string', placeholder: 'dir', description: 'a project folder: use the bundle train-project exported' },
    method: { type: 'string', placeholder: 'name', description: `${EXPLAIN_METHODS.join(', ')} (default: cam where the head allows it, else scorecam)` },
    tags: { type: 'string', multiple: true, placeholder: 'a,b', description: 'explain these tags (default: those the thresholds select)' },
    threshold: { type: 'string', short: 't', placeholder: '0–1', description: 'score threshold for the default tags (default: the bundle\'s)' },
    'mask-threshold': { type: 'string', placeholder: '0–1', description: 'mask where the map reaches this fraction of its maximum', default: String(EXPLAIN_DEFAULTS.maskThreshold) },
    refine: { type: 'string', placeholder: EXPLAIN_REFINEMENTS.join('|'), description: 'segments: average each map over the image\'s regions of near-uniform colour (tight masks on drawn images); guided: smooth it along the image\'s edges (guided filter)', default: 'none' },
    'all-tags': { type: 'boolean', description: 'also explain tags with no place (ratings, meta, solo, 1girl…)' },
    'scorecam-channels': { type: 'string', placeholder: 'n', description: 'Score-CAM: use the n strongest channels (default: all)' },
    'map-stride': { type: 'string', placeholder: 'px', description: 'cam: a finer map, this many input pixels per cell (16 or 8 for a stride-32 model; the last layers run again at each offset)' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
  },
  details: [
    'Writes <out>/<image stem>/: input.png, and per tag result-<tag>.png, result-<tag>-masked.png, overlay-<tag>.png,',
    'mask-<tag>.png; then regions.json and regions.png. `:` and `/` in tag names become `_`.',
    'An ensemble bundle (cam, scorecam): each member\'s map on its own input, averaged with the members\' weights (docs/ensembles.md).',
    'Exit status: 0 when every image was explained, 1 when some were skipped (each is reported on stderr), 2 for a usage error.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const args = [...positionals];
    let project = v.project;
    if (!project && !v.model && args.length >= 3 && isProjectDir(args[0]!)) project = args.shift();
    const out = args.pop();
    if (!out || args.length === 0) throw new TagbooruError('E_USAGE', 'give at least one image and the output folder');
    const options = {
      method: choiceOption('method', v.method, EXPLAIN_METHODS),
      tags: listOption(v.tags),
      threshold: numberOption('threshold', v.threshold, 0, 1),
      maskThreshold: numberOption('mask-threshold', v['mask-threshold'], 0, 1),
      refine: choiceOption('refine', v.refine, EXPLAIN_REFINEMENTS),
      includePlaceless: v['all-tags'],
      scorecamChannels: numberOption('scorecam-channels', v['scorecam-channels'], 1, 1_000_000, true),
      mapStride: numberOption('map-stride', v['map-stride'], 1, 4096, true),
      keepInput: true,
    };
    const threads = numberOption('threads', v.threads, 1, 256, true);
    const bundle = project ? await resolveProjectModel(project) : resolveModel(v.model, io.env);

    const tagger = await createTagger(bundle, { threads });
    try {
      const files = await collectAll(args, { recursive: false, extensions: [...IMAGE_EXTENSIONS], stdin: io.stdin });
      const progress = createProgress(io, files.length);
      let failed = 0, done = 0;
      // options merge once: undefined flags fall back to the library's defaults
      for await (const r of tagger.explainStream(files, defined(options))) {
        if (r.error !== null) {
          failed++;
          progress.log(`error: ${r.file}: ${r.error}`);
        } else {
          const dir = await writeResult(r, out);
          progress.log(`${r.file}: ${r.tags.length} tags → ${dir}`);
        }
        progress.update(++done);
      }
      progress.finish();
      if (failed > 0) io.stderr.write(`${failed} of ${files.length} files skipped\n`);
      return failed > 0 ? 1 : 0;
    } finally {
      await tagger.close();
    }
  },
});

async function writePng(file: string, data: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<void> {
  await fs.writeFile(file, await toPng(data, width, height, channels));
}

/** One image's folder: DeepDanbooru's three files per tag, then the overlay, mask and regions. */
async function writeResult(r: ExplainResult, out: string): Promise<string> {
  const dir = path.join(out, path.parse(r.file).name);
  await fs.mkdir(dir, { recursive: true });
  const input = r.input!;
  await writePng(path.join(dir, 'input.png'), input.rgb, input.width, input.height, 3);
  const decoded = await decodeImage(r.file);
  const original = dropAlpha(decoded, { alpha: 'composite', background: [255, 255, 255] }).data as Uint8Array;
  const { width, height } = r;
  const entries = [];
  for (const t of r.tags) {
    const name = safeTagName(t.name);
    const m = t.inputMap!;
    await writePng(path.join(dir, `result-${name}.png`), mapBytes(m.data), m.width, m.height, m.channels);
    await writePng(path.join(dir, `result-${name}-masked.png`), maskedInput(input.rgb, m), input.width, input.height, 3);
    const onImage = upsample(t.map, width, height);
    await writePng(path.join(dir, `overlay-${name}.png`), overlayHeatmap(decoded, t.map, { opacity: 0.6, box: t.box, peak: t.peak }), width, height, 3);
    await writePng(path.join(dir, `mask-${name}.png`), maskBytes(onImage, t.threshold), width, height, 1);
    entries.push(regionEntry(t, `mask-${name}.png`));
  }
  const json = { file: r.file, method: r.method, width, height, tags: entries };
  await fs.writeFile(path.join(dir, 'regions.json'), `${JSON.stringify(json, null, 1)}\n`);
  const labels = await renderSvg(regionsSvg(width, height, r.tags), width, height);
  await writePng(path.join(dir, 'regions.png'), composite(original, labels.data), width, height, 3);
  return dir;
}

function regionEntry(t: TagRegion, mask: string) {
  return { name: t.name, category: t.category, score: roundScore(t.score), box: t.box, peak: t.peak, threshold: t.threshold, mask };
}

import { TagbooruError } from '../../errors.ts';
import { PRESETS, type PresetName } from '../../image/spec.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, presetSpec, writeBundle, type TagInfo } from '../../infer/bundle.ts';
import { readTagsFile } from '../../infer/tags-file.ts';
import { ARCHITECTURES, DEFAULT_INPUT, DEFAULT_OUTPUT, buildModel, expectImageSize, exportInference, initWeights, parameterCount } from '../../models/index.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';

const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export const initModelCommand = defineCommand({
  name: 'init-model',
  usage: 'init-model <arch> --tags <N | tags.txt> --image-size <S> --out <dir>',
  options: {
    tags: { type: 'string', placeholder: 'N | tags.txt', description: 'number of tags, or a tags.txt with one tag per line' },
    'image-size': { type: 'string', placeholder: 'px', description: 'square input size', default: '512' },
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'bundle folder to write' },
    seed: { type: 'string', placeholder: 'n', description: 'initialisation seed', default: '0' },
    preset: { type: 'string', placeholder: PRESET_NAMES.join('|'), description: 'preprocessing preset', default: 'deepdanbooru' },
  },
  details: `Writes <out>/model.onnx (inference graph), weights.safetensors (training weights) and tagger.json.\nArchitectures: ${ARCHITECTURES.join(', ')}`,

  async run({ values: v, positionals }, io) {
    const [arch] = positionals;
    if (!arch || positionals.length > 1) throw new TagbooruError('E_USAGE', `give one architecture (${ARCHITECTURES.join(', ')})`);
    if (!v.tags) throw new TagbooruError('E_USAGE', '--tags is required (a number or a tags.txt file)');
    if (!v.out) throw new TagbooruError('E_USAGE', '--out is required');
    const size = numberOption('image-size', v['image-size'], 32, 4096, true) ?? 512;
    expectImageSize(arch, [size, size], '--image-size', String(size));
    const seed = numberOption('seed', v.seed, 0, 2 ** 32 - 1, true) ?? 0;
    const preset = choiceOption('preset', v.preset, PRESET_NAMES) ?? 'deepdanbooru';
    const tags: TagInfo[] = /^\d+$/.test(v.tags)
      ? Array.from({ length: numberOption('tags', v.tags, 1, 1_000_000, true)! }, (_, i) => ({ name: `tag_${String(i).padStart(5, '0')}`, category: 'general' }))
      : await readTagsFile(v.tags);

    const spec = buildModel(arch, { tags: tags.length, imageSize: [size, size] });
    const model = exportInference(spec, initWeights(spec, seed));
    const params = parameterCount(spec);
    await writeBundle(v.out, {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      name: `${arch}-${size}-untrained`,
      architecture: arch,
      model: 'model.onnx',
      input: { name: DEFAULT_INPUT, batch: 'dynamic' },
      output: { name: DEFAULT_OUTPUT, activation: 'sigmoid' },
      preset,
      preprocess: presetSpec(preset, { width: size, height: size }),
      tags,
      thresholds: { default: 0.5 },
      provenance: { createdBy: 'tagbooru init-model', weights: 'freshly initialised, untrained', seed, parameters: params.total, createdAt: new Date().toISOString() },
    }, model);
    io.stdout.write(`wrote ${v.out}: ${arch} at ${size}×${size}, ${tags.length} tags, ${params.total.toLocaleString('en-US')} parameters, ${(model.length / 2 ** 20).toFixed(1)} MiB\n`);
    return 0;
  },
});

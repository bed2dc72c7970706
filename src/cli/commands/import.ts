/** `tagbooru import <path>`: a model people already have → a bundle in the store. */
import { TagbooruError } from '../../errors.ts';
import { DEFAULT_EXTRACT_LIMIT, FORMATS, importModel, type ImportFormat, type ImportResult } from '../../import/index.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { categoryCounts } from './info.ts';

export const importCommand = defineCommand({
  name: 'import',
  usage: 'import <folder | .zip | .h5 | .keras | .onnx> [--name <name>] [--format <format>] [--force]',
  options: {
    name: { type: 'string', short: 'n', placeholder: 'name', description: 'store name (default: from the file or folder name)' },
    format: { type: 'string', placeholder: 'format', description: `skip detection: ${FORMATS.join(', ')}` },
    force: { type: 'boolean', description: 'replace a stored model of the same name' },
    'image-size': { type: 'string', placeholder: 'px', description: 'input size for models that leave it open' },
    'max-extract': { type: 'string', placeholder: 'MiB', description: `most data extracted from a zip or .keras (default: ${DEFAULT_EXTRACT_LIMIT / 2 ** 20})` },
  },
  details: [
    'Formats (detected from the files present):',
    '  deepdanbooru       release folder or zip: model-resnet_custom_v*.h5 or .keras, tags.txt, categories.json, project.json',
    '  deepdanbooru-onnx  an ONNX conversion (input_1, NHWC) with tags.txt',
    '  wd                 model.onnx + selected_tags.csv (v2 and v3)',
    '  joytag             model.onnx + top_tags.txt',
    '  camie              *.onnx + its metadata JSON (v1 and v2)',
    'The store is $TAGBOORU_HOME/models (default ~/.local/share/tagbooru/models); `tagbooru models` lists it.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [source] = positionals;
    if (!source || positionals.length > 1) throw new TagbooruError('E_USAGE', 'give one model folder, zip or file');
    const format = choiceOption<ImportFormat>('format', v.format, FORMATS);
    const size = numberOption('image-size', v['image-size'], 16, 8192, true);
    const maxExtract = numberOption('max-extract', v['max-extract'], 0.001, 2 ** 20);
    const result = await importModel(source, {
      name: v.name,
      format,
      force: v.force,
      imageSize: size === undefined ? undefined : [size, size],
      maxExtractBytes: maxExtract === undefined ? undefined : Math.round(maxExtract * 2 ** 20),
      onStep: io.stderr.isTTY ? (m) => io.stderr.write(`${m}…\n`) : undefined,
    }, io.env);
    io.stdout.write(importSummary('imported', result));
    return 0;
  },
});

/** `imported wd-vit-tagger-v3 (wd): 10861 tags (…), 448×448, preset wd`, where it is, and how to use it. */
export function importSummary(verb: string, result: ImportResult): string {
  const m = result.manifest;
  const counts = Object.entries(categoryCounts(m.tags)).map(([c, n]) => `${n} ${c}`).join(', ');
  return `${verb} ${result.name} (${result.format}): ${m.tags.length} tags (${counts}), ${m.preprocess.width}×${m.preprocess.height}, preset ${m.preset}\n` +
    `  stored in ${result.dir}\n  tag with: tagbooru tag --model ${result.name} <images…>\n`;
}

import { TagbooruError, errorMessage, invalidOption } from '../../errors.ts';
import { IMAGE_EXTENSIONS } from '../../image/index.ts';
import { CAPTION_DEFAULTS, EXISTING_POLICIES, parseCaptionExtension, parseCaptionOptions, type ExistingCaptionPolicy } from '../../infer/caption.ts';
import { ttaInMemory } from '../../compose/bundles.ts';
import { TTA_HELP, UNFITTED_TILES_NOTE, parseTta } from '../../compose/tta.ts';
import { readBundle } from '../../infer/bundle.ts';
import { oodNote } from '../../infer/ood.ts';
import { SELECTION_DEFAULTS } from '../../infer/selection.ts';
import { readSelection } from '../../infer/selection-options.ts';
import { TAG_DEFAULTS, type TagResult } from '../../infer/tagger.ts';
import { createTagger } from '../../tagger.ts';
import { choiceOption, defineCommand, flagReader, listOption, numberOption } from '../command.ts';
import { CaptionFiles } from '../caption-files.ts';
import { DEFENCE_OPTIONS, readDefenceOptions } from '../defence-option.ts';
import { collectAll } from '../inputs.ts';
import { resolveModel } from '../model-option.ts';
import { FORMATS, createWriter } from '../output.ts';
import { createProgress } from '../progress.ts';

export const tagCommand = defineCommand({
  name: 'tag',
  usage: 'tag <paths…|-> [options]',
  options: {
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'model bundle folder (default: the bundled model)' },
    threshold: { type: 'string', short: 't', placeholder: '0–1', description: 'one threshold for every category (default: the bundle\'s)' },
    'general-threshold': { type: 'string', placeholder: '0–1', description: 'threshold for general tags' },
    'character-threshold': { type: 'string', placeholder: '0–1', description: 'threshold for character tags' },
    'tag-threshold': { type: 'string', multiple: true, placeholder: 'tag=0–1', description: 'per-tag threshold, e.g. `hat=0.6` (repeatable)' },
    mcut: { type: 'boolean', description: 'MCut thresholds per category (general and character)' },
    'character-floor': { type: 'string', placeholder: '0–1', description: 'lowest MCut threshold for characters', default: String(SELECTION_DEFAULTS.characterFloor) },
    'top-k': { type: 'string', short: 'k', placeholder: 'n', description: 'keep at most n tags per image' },
    exclude: { type: 'string', short: 'x', multiple: true, placeholder: 'tags', description: 'drop tags: `long_hair`, `long hair`, `*_hair`, `/regex/i` (comma list, repeatable)' },
    include: { type: 'string', multiple: true, placeholder: 'tags', description: 'keep only these tags (same forms)' },
    'batch-size': { type: 'string', short: 'b', placeholder: '1–4096', description: 'images per inference batch', default: String(TAG_DEFAULTS.batchSize) },
    recursive: { type: 'boolean', short: 'r', description: 'descend into sub-folders' },
    ext: { type: 'string', placeholder: 'list', description: `extensions taken from folders (default: ${IMAGE_EXTENSIONS.join(',')})` },
    format: { type: 'string', short: 'f', placeholder: FORMATS.join('|'), description: 'output format', default: 'table' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    tta: { type: 'string', placeholder: TTA_HELP.placeholder, description: `test-time augmentation built in memory: ${TTA_HELP.views}` },
    seed: { type: 'string', placeholder: 'n', description: 'seed of the member draw of an ensemble built with --combine random' },
    ...DEFENCE_OPTIONS,
    'save-txt': { type: 'boolean', description: `write a caption file beside each image, <image>${CAPTION_DEFAULTS.extension} (a summary line on stderr)` },
    'caption-extension': { type: 'string', placeholder: '.ext', description: `captions: file extension, e.g. .caption (default: ${CAPTION_DEFAULTS.extension})` },
    existing: { type: 'string', placeholder: EXISTING_POLICIES.join('|'), description: 'captions: what to do with an existing caption file', default: 'overwrite' },
    'caption-separator': { type: 'string', placeholder: 'text', description: `captions: text between tags (default: "${CAPTION_DEFAULTS.separator}")` },
    'replace-underscores': { type: 'boolean', description: 'captions: `long_hair` → `long hair` (kaomoji kept)' },
    'escape-parens': { type: 'boolean', description: 'captions: `(` → `\\(`' },
    weights: { type: 'boolean', description: 'captions: write `(tag:0.87)`' },
    'with-rating': { type: 'boolean', description: 'captions: put the rating tag first' },
    'character-first': { type: 'boolean', description: 'captions: character tags before the others' },
    'always-first': { type: 'string', multiple: true, placeholder: 'tags', description: 'captions: these tags first, in this order, when present (comma list, repeatable)' },
    replace: { type: 'string', multiple: true, placeholder: 'from=to', description: 'captions: write tag `from` as `to`, `from=` drops it (comma list, `\\,` `\\=` escapes, repeatable)' },
    'max-tags': { type: 'string', placeholder: 'n', description: 'captions: at most n general tags, the highest-scoring (characters and the rating not counted)' },
  },
  details: [
    'Captions are made in this order: --max-tags cuts, --character-first and --with-rating order, --replace renames,',
    '--always-first moves, then underscores, escapes and weights, and a tag written twice is kept once.',
    '',
    'Exit status: 0 when every file was tagged, 1 when some were skipped (each is reported on stderr), 2 for a usage error.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    if (positionals.length === 0) throw new TagbooruError('E_USAGE', 'give at least one image, folder, or - to read paths from stdin');
    const format = choiceOption('format', v.format, FORMATS) ?? 'table';
    const existing = choiceOption<ExistingCaptionPolicy>('existing', v.existing, EXISTING_POLICIES) ?? 'overwrite';
    const batchSize = numberOption('batch-size', v['batch-size'], 1, 4096, true);
    const threads = numberOption('threads', v.threads, 1, 256, true);
    const extensions = listOption(v.ext ? [v.ext] : undefined)?.map((e) => e.replace(/^\./, '').toLowerCase()) ?? [...IMAGE_EXTENSIONS];
    // parsed with or without --save-txt: a bad value is refused either way
    const captionFiles = { caption: parseCaptionOptions(v, '--'), existing, extension: captionExtension(v['caption-extension'], extensions) };
    const captions = v['save-txt'] ? new CaptionFiles(captionFiles) : null;

    const seed = numberOption('seed', v.seed, 0, 2 ** 32 - 1, true);
    const stored = await readBundle(resolveModel(v.model, io.env));
    const tta = v.tta === undefined ? undefined : parseTta('--tta', v.tta);
    if (tta?.tiles) io.stderr.write(UNFITTED_TILES_NOTE);
    const bundle = tta === undefined ? stored : await ttaInMemory(stored, tta);
    const selection = readSelection(flagReader(v), bundle.manifest.tags);
    const tagger = await createTagger(bundle, { threads, seed, ...readDefenceOptions(v) });
    try {
      const files = await collectAll(positionals, { recursive: v.recursive ?? false, extensions, stdin: io.stdin });
      const progress = createProgress(io, files.length);
      const writer = createWriter(format, io);
      let failed = 0;
      const onResult = async (r: TagResult) => {
        if (r.error !== null) captions?.failed();
        else if (captions) {
          try {
            await captions.write(r);
          } catch (e) {
            r = { ...r, error: `cannot write caption: ${errorMessage(e)}` };
          }
        }
        if (r.error !== null) {
          failed++;
          progress.log(`error: ${r.file}: ${r.error}`);
        }
        if (format === 'table' && r.ood?.flagged) progress.log(oodNote(r.file, r.ood));
        writer.write(r);
      };
      let done = 0;
      for await (const r of tagger.stream(files, { ...selection, batchSize })) {
        await onResult(r);
        progress.update(++done);
      }
      writer.end();
      progress.finish();
      if (failed > 0) io.stderr.write(`${failed} of ${files.length} files skipped\n`);
      if (captions) io.stderr.write(`${captions.summary()}\n`);
      return failed > 0 ? 1 : 0;
    } finally {
      await tagger.close();
    }
  },
});

/** The caption extension, refused when it is one of the image extensions tagged: the caption would replace the image. */
function captionExtension(raw: string | undefined, imageExtensions: readonly string[]): string | undefined {
  if (raw === undefined) return undefined;
  const extension = parseCaptionExtension('--caption-extension', raw);
  if (imageExtensions.includes(extension.slice(1).toLowerCase())) {
    throw invalidOption('--caption-extension', `an extension other than the images' (${imageExtensions.join(', ')})`, raw, 'the captions would replace the images');
  }
  return extension;
}

import path from 'node:path';
import { TagbooruError, errorMessage } from '../../errors.ts';
import { writeAtomic } from '../../atomic-files.ts';
import { readRegularTextIfExists } from '../../regular-files.ts';
import { IMAGE_EXTENSIONS } from '../../image/index.ts';
import { EXISTING_POLICIES, captionTags, mergeCaption, type CaptionStyle, type ExistingCaptionPolicy } from '../../infer/caption.ts';
import type { SelectionOptions } from '../../infer/selection.ts';
import { oodNote } from '../../infer/ood.ts';
import { expectKnownTags } from '../../infer/tag-names.ts';
import { createTagger, type TagResult } from '../../infer/tagger.ts';
import { choiceOption, defineCommand, listOption, numberOption, patternOption, tagValuesOption } from '../command.ts';
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
    'character-floor': { type: 'string', placeholder: '0–1', description: 'lowest MCut threshold for characters', default: '0.15' },
    'top-k': { type: 'string', short: 'k', placeholder: 'n', description: 'keep at most n tags per image' },
    exclude: { type: 'string', short: 'x', multiple: true, placeholder: 'tags', description: 'drop tags: `long_hair`, `long hair`, `*_hair`, `/regex/i` (comma list, repeatable)' },
    include: { type: 'string', multiple: true, placeholder: 'tags', description: 'keep only these tags (same forms)' },
    'batch-size': { type: 'string', short: 'b', placeholder: '1–4096', description: 'images per inference batch', default: '8' },
    recursive: { type: 'boolean', short: 'r', description: 'descend into sub-folders' },
    ext: { type: 'string', placeholder: 'list', description: `extensions taken from folders (default: ${IMAGE_EXTENSIONS.join(',')})` },
    format: { type: 'string', short: 'f', placeholder: FORMATS.join('|'), description: 'output format', default: 'table' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    'save-txt': { type: 'boolean', description: 'write a caption file <image>.txt beside each image' },
    'replace-underscores': { type: 'boolean', description: 'captions: `long_hair` → `long hair` (kaomoji kept)' },
    'escape-parens': { type: 'boolean', description: 'captions: `(` → `\\(`' },
    weights: { type: 'boolean', description: 'captions: write `(tag:0.87)`' },
    'with-rating': { type: 'boolean', description: 'captions: put the rating tag first' },
    existing: { type: 'string', placeholder: EXISTING_POLICIES.join('|'), description: 'captions: what to do with an existing .txt', default: 'overwrite' },
  },
  details: 'Exit status: 0 when every file was tagged, 1 when some were skipped (each is reported on stderr), 2 for a usage error.',

  async run({ values: v, positionals }, io) {
    if (positionals.length === 0) throw new TagbooruError('E_USAGE', 'give at least one image, folder, or - to read paths from stdin');
    const format = choiceOption('format', v.format, FORMATS) ?? 'table';
    const existing = choiceOption<ExistingCaptionPolicy>('existing', v.existing, EXISTING_POLICIES) ?? 'overwrite';
    const batchSize = numberOption('batch-size', v['batch-size'], 1, 4096, true) ?? 8;
    const threads = numberOption('threads', v.threads, 1, 256, true);
    const general = numberOption('general-threshold', v['general-threshold'], 0, 1);
    const character = numberOption('character-threshold', v['character-threshold'], 0, 1);
    const categoryThresholds = { ...(general !== undefined && { general }), ...(character !== undefined && { character }) };
    const selection: SelectionOptions = {
      threshold: numberOption('threshold', v.threshold, 0, 1),
      categoryThresholds,
      tagThresholds: tagValuesOption('tag-threshold', v['tag-threshold'], 0, 1),
      mcut: v.mcut,
      characterFloor: numberOption('character-floor', v['character-floor'], 0, 1),
      topK: numberOption('top-k', v['top-k'], 1, 1_000_000, true),
      exclude: patternOption('exclude', v.exclude),
      include: patternOption('include', v.include),
    };
    const style: CaptionStyle = { replaceUnderscores: v['replace-underscores'], escapeParens: v['escape-parens'], weights: v.weights };
    const extensions = listOption(v.ext ? [v.ext] : undefined)?.map((e) => e.replace(/^\./, '').toLowerCase()) ?? [...IMAGE_EXTENSIONS];

    const tagger = await createTagger(resolveModel(v.model, io.env), { threads });
    try {
      expectKnownTags('--tag-threshold', Object.keys(selection.tagThresholds ?? {}), tagger.bundle.manifest.tags);
      const files = await collectAll(positionals, { recursive: v.recursive ?? false, extensions, stdin: io.stdin });
      const progress = createProgress(io, files.length);
      const writer = createWriter(format, io);
      let failed = 0;
      const onResult = async (r: TagResult) => {
        if (r.error === null && v['save-txt']) {
          try {
            await writeCaption(r, style, existing, v['with-rating'] ?? false);
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
      return failed > 0 ? 1 : 0;
    } finally {
      await tagger.close();
    }
  },
});

async function writeCaption(r: TagResult, style: CaptionStyle, policy: ExistingCaptionPolicy, withRating: boolean): Promise<void> {
  const file = path.join(path.dirname(r.file), `${path.parse(r.file).name}.txt`);
  const existing = await readRegularTextIfExists(file).catch((e: unknown) => {
    throw new TagbooruError('E_IO', `${path.basename(file)}: ${errorMessage(e)}`, { cause: e });
  });
  const tags = withRating && r.rating ? [r.rating, ...r.tags] : r.tags;
  const text = mergeCaption(existing, captionTags(tags, style), policy);
  // the folder is not synced per caption: a power cut may undo a rename, which leaves the old caption whole
  if (text !== null) await writeAtomic(file, `${text}\n`, { syncFolder: false });
}

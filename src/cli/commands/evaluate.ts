/**
 * DeepDanbooru's `evaluate`, kept line for line so scripts written for it keep working:
 * `Tags of <path>:` then `(0.987) tag` in tags.txt order for every score ≥ threshold, then a blank line.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { writeAtomic } from '../../atomic-files.ts';
import { readBundle, type Bundle } from '../../infer/bundle.ts';
import { readTagsFile } from '../../infer/tags-file.ts';
import { createTagger } from '../../tagger.ts';
import { defineCommand, numberOption } from '../command.ts';
import { DEFENCE_OPTIONS, readDefenceOptions } from '../defence-option.ts';
import { collectAll } from '../inputs.ts';
import { resolveModel } from '../model-option.ts';

const DD_FILTERS = '*.[Pp][Nn][Gg],*.[Jj][Pp][Gg],*.[Jj][Pp][Ee][Gg],*.[Gg][Ii][Ff]';

/** `*.[Pp][Nn][Gg]` → `png`: the original's filters are case-folding globs on the extension. */
function filterExtensions(filters: string): string[] {
  return filters.split(',').map((f) => f.trim().replace(/^\*\./, '').replace(/\[(.)(.)\]/g, '$1').toLowerCase()).filter(Boolean);
}

export const evaluateCommand = defineCommand({
  name: 'evaluate',
  usage: 'evaluate <targets…> [--project-path <dir> | --model-path <bundle>] [--threshold 0.5]',
  details: 'Prints `Tags of <path>:` and `(score) tag` lines as DeepDanbooru does; writes a file only with --save-txt.',
  options: {
    'project-path': { type: 'string', placeholder: 'dir', description: 'project or bundle folder' },
    'model-path': { type: 'string', placeholder: 'bundle', description: 'model bundle (takes precedence over --project-path)' },
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'same as --model-path' },
    'tags-path': { type: 'string', placeholder: 'tags.txt', description: 'tag names to print instead of the bundle\'s (same count)' },
    threshold: { type: 'string', placeholder: '0–1', description: 'lowest score printed', default: '0.5' },
    'allow-folder': { type: 'boolean', description: 'expand folders recursively' },
    'folder-filters': { type: 'string', placeholder: 'globs', description: 'extensions taken from folders', default: DD_FILTERS },
    'save-txt': { type: 'boolean', description: 'write <image>.txt with the tags joined by ", "' },
    ...DEFENCE_OPTIONS,
    verbose: { type: 'boolean', description: 'accepted for compatibility' },
    'allow-gpu': { type: 'boolean', description: 'accepted for compatibility (CPU only)' },
    compile: { type: 'boolean', description: 'accepted for compatibility' },
    'no-compile': { type: 'boolean', description: 'accepted for compatibility' },
  },

  async run({ values: v, positionals }, io) {
    if (positionals.length === 0) throw new TagbooruError('E_USAGE', 'give at least one target image or folder');
    const threshold = numberOption('threshold', v.threshold, 0, 1) ?? 0.5;
    const bundle: Bundle = await readBundle(resolveModel(v['model-path'] ?? v.model ?? v['project-path'], io.env));
    const names = v['tags-path'] ? (await readTagsFile(v['tags-path'])).map((t) => t.name) : bundle.manifest.tags.map((t) => t.name);
    if (names.length !== bundle.manifest.tags.length) {
      throw new TagbooruError('E_USAGE', `--tags-path lists ${names.length} tags but the model has ${bundle.manifest.tags.length} outputs`);
    }
    const extensions = filterExtensions(v['folder-filters'] ?? DD_FILTERS);
    const files: string[] = [];
    for (const target of positionals) {
      const isDir = (await fs.stat(target).catch(() => null))?.isDirectory() ?? false;
      if (isDir && !v['allow-folder']) throw new TagbooruError('E_USAGE', `${target} is a folder; add --allow-folder to evaluate the images in it`);
      files.push(...(await collectAll([target], { recursive: true, extensions, stdin: io.stdin })));
    }

    const tagger = await createTagger(bundle, readDefenceOptions(v));
    let failed = 0;
    try {
      for await (const r of tagger.stream(files, { scores: true, batchSize: 1 })) {
        if (r.error !== null || !r.scores) {
          failed++;
          io.stderr.write(`error: ${r.file}: ${r.error}\n`);
          continue;
        }
        const lines: string[] = [], picked: string[] = [];
        r.scores.forEach((score, i) => {
          if (score < threshold) return;
          lines.push(`(${score.toFixed(3).padStart(5, '0')}) ${names[i]}`);
          picked.push(names[i]!);
        });
        io.stdout.write(`Tags of ${r.file}:\n${lines.map((l) => `${l}\n`).join('')}\n`);
        if (v['save-txt']) await writeAtomic(path.join(path.dirname(r.file), `${path.parse(r.file).name}.txt`), picked.join(', '), { syncFolder: false });
      }
    } finally {
      await tagger.close();
    }
    return failed > 0 ? 1 : 0;
  },
});

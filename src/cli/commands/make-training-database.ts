import fs from 'node:fs/promises';
import path from 'node:path';
import { countTags, deriveTagLists, writeTagFiles } from '../../data/tags.ts';
import { danbooruSqlitePosts, dumpPosts, ratingTag, readManifest, type FolderItem, type RatingScheme, type SourceFilter, type SourcePost } from '../../data/sources.ts';
import { TagbooruError } from '../../errors.ts';
import { IMAGE_EXTENSIONS } from '../../image/index.ts';
import { buildFolderDatabase, removeDatabase, writeNewDatabase, type FolderDatabase } from '../../train/folder-database.ts';
import { choiceOption, defineCommand, numberOption, type Io } from '../command.ts';
import { collectAll } from '../inputs.ts';
import { createProgress } from '../progress.ts';

export const makeTrainingDatabaseCommand = defineCommand({
  name: 'make-training-database',
  usage: 'make-training-database <source.sqlite|dump.json[l]> <output.sqlite>  |  make-training-database --from-folder <dir> <output.sqlite>',
  options: {
    'start-id': { type: 'string', placeholder: 'id', description: 'first post id', default: '1' },
    'end-id': { type: 'string', placeholder: 'id', description: 'last post id (default: no limit)' },
    'use-deleted': { type: 'boolean', description: 'keep deleted posts' },
    'chunk-size': { type: 'string', placeholder: 'n', description: 'rows read at a time', default: '5000000' },
    overwrite: { type: 'boolean', description: 'replace an existing output database' },
    vacuum: { type: 'boolean', description: 'VACUUM the output when done' },
    'rating-scheme': { type: 'string', placeholder: '4|3', description: 'rating tags: 4 (general/sensitive/questionable/explicit) or 3 (safe/questionable/explicit)', default: '4' },
    'from-folder': { type: 'string', placeholder: 'dir', description: 'images with .txt tag sidecars (or --manifest); copied into images/<md5[0:2]>/<md5>.<ext>' },
    manifest: { type: 'string', placeholder: 'file', description: 'with --from-folder: a CSV (file,tags) or JSONL ({file, tags}) instead of sidecars' },
    'derive-tags': { type: 'string', placeholder: 'min count', description: 'also write tags.txt and categories.json beside the output: tags seen at least this often' },
  },
  details: 'Writes the output SQLite (DeepDanbooru\'s posts table). Images referred to by a source database are expected in\n<output folder>/images/<md5[0:2]>/<md5>.<ext>, as DeepDanbooru reads them; a folder\'s images are copied there.',

  async run({ values: v, positionals }, io) {
    const folder = v['from-folder'];
    const [source, output] = folder ? [undefined, positionals[0]] : positionals;
    if (!output || (!folder && !source) || positionals.length > (folder ? 1 : 2)) throw new TagbooruError('E_USAGE', `make-training-database: usage: tagbooru ${this.usage}`);
    const filter: SourceFilter = {
      startId: numberOption('start-id', v['start-id'], 0, Number.MAX_SAFE_INTEGER, true) ?? 1,
      endId: numberOption('end-id', v['end-id'], 0, Number.MAX_SAFE_INTEGER, true) ?? Number.MAX_SAFE_INTEGER,
      useDeleted: v['use-deleted'] ?? false,
      chunkSize: numberOption('chunk-size', v['chunk-size'], 1, 1e9, true) ?? 5_000_000,
    };
    const scheme = Number(choiceOption('rating-scheme', v['rating-scheme'], ['4', '3'] as const) ?? '4') as RatingScheme;
    const minCount = numberOption('derive-tags', v['derive-tags'], 1, Number.MAX_SAFE_INTEGER, true);
    if (await fs.stat(output).catch(() => null)) {
      if (!v.overwrite) throw new TagbooruError('E_USAGE', `${output} exists; add --overwrite to replace it`);
      await removeDatabase(output);
    }

    if (folder) {
      const built = await importFolder(folder, v.manifest, output, io, { firstId: filter.startId, vacuum: v.vacuum });
      if (minCount !== undefined) await deriveTags(path.dirname(output), built.tagCounts, minCount, io);
      io.stdout.write(`wrote ${output}: ${built.posts} posts${built.skipped ? `, ${built.skipped} skipped` : ''}\n`);
      return built.skipped > 0 ? 1 : 0;
    }

    const sourcePosts: Iterable<SourcePost> | AsyncIterable<SourcePost> = /\.jsonl?$/i.test(source!) ? dumpPosts(source!, filter) : danbooruSqlitePosts(source!, filter);
    const { posts, records } = await writeNewDatabase(output, async (insert) => {
      const records: { tags: string[] }[] = [];
      let posts = 0;
      for await (const p of sourcePosts) {
        const general = p.tags.filter((t) => !t.startsWith('rating:'));
        const rating = ratingTag(p.rating, scheme);
        const tags = rating ? [...general, rating] : general;
        insert({ id: p.id, md5: p.md5, file_ext: p.fileExt, tag_string: tags.join(' '), tag_count_general: general.length });
        if (minCount !== undefined) records.push({ tags }); // a Danbooru dump has millions of posts
        posts++;
      }
      if (posts === 0) throw new TagbooruError('E_USAGE', `no posts in ${source} passed the filter (ids ${filter.startId}–${filter.endId}${filter.useDeleted ? '' : ', deleted posts excluded'})`);
      return { posts, records };
    }, { vacuum: v.vacuum });
    if (minCount !== undefined) await deriveTags(path.dirname(output), countTags(records), minCount, io);
    io.stdout.write(`wrote ${output}: ${posts} posts\n`);
    return 0;
  },
});

async function deriveTags(dir: string, counts: ReadonlyMap<string, number>, minCount: number, io: Io): Promise<void> {
  const lists = deriveTagLists(counts, minCount);
  await writeTagFiles(dir, lists);
  io.stdout.write(`wrote tags.txt: ${lists.general.length} general + ${lists.system.length} rating tags seen at least ${minCount} times\n`);
}

/** A folder's images with their sidecars, or a manifest's entries, into a new database at `output`, with a progress bar. */
export async function importFolder(folder: string, manifest: string | undefined, output: string, io: Io, o: { firstId?: number; vacuum?: boolean } = {}): Promise<FolderDatabase> {
  const items: FolderItem[] = manifest
    ? readManifest(manifest)
    : (await collectAll([folder], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin: io.stdin })).map((file) => ({ file, tags: [] }));
  const progress = createProgress(io, items.length);
  try {
    return await buildFolderDatabase(items, output, {
      ...o, source: folder, sidecars: !manifest,
      onProgress: (done) => progress.update(done), onSkip: (file, reason) => progress.log(`skipped ${file}: ${reason}`),
    });
  } finally {
    progress.finish();
  }
}

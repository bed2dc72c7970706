import fs from 'node:fs/promises';
import path from 'node:path';
import { countTags, deriveTagLists, writeTagFiles } from '../../data/tags.ts';
import { danbooruSqlitePosts, dumpPosts, parseSidecar, ratingTag, readManifest, type FolderItem, type RatingScheme, type SourceFilter, type SourcePost } from '../../data/sources.ts';
import { TrainingDatabase, type PostRow } from '../../data/training-db.ts';
import { imagePath, md5Hex } from '../../data/paths.ts';
import { TagbooruError, errorMessage } from '../../errors.ts';
import { IMAGE_EXTENSIONS, decodeImage, transcodeToPng } from '../../image/index.ts';
import { choiceOption, defineCommand, numberOption, type Io } from '../command.ts';
import { collectAll } from '../inputs.ts';
import { createProgress } from '../progress.ts';

const TRAINABLE = new Set(['png', 'jpg', 'jpeg']);

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
  details: 'Images referred to by a source database are expected in <output folder>/images/<md5[0:2]>/<md5>.<ext>, as DeepDanbooru reads them.',

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
      for (const suffix of ['', '-wal', '-shm']) await fs.rm(`${output}${suffix}`, { force: true });
    }

    const db = TrainingDatabase.open(output, { create: true });
    const counts = { posts: 0, skipped: 0 };
    const records: { tags: string[] }[] = [];
    try {
      const batch: PostRow[] = [];
      const flush = () => {
        db.insertPosts(batch);
        batch.length = 0;
      };
      const add = (p: { id: number; md5: string; fileExt: string; tags: string[] }, rating: string | null) => {
        const general = p.tags.filter((t) => !t.startsWith('rating:'));
        const tags = rating ? [...general, rating] : p.tags;
        batch.push({ id: p.id, md5: p.md5, file_ext: p.fileExt, tag_string: tags.join(' '), tag_count_general: general.length });
        if (minCount !== undefined) records.push({ tags });
        counts.posts++;
        if (batch.length >= 10_000) flush();
      };
      if (folder) {
        await importFolder(folder, v.manifest, output, filter.startId, io, (p) => add(p, null), () => void counts.skipped++);
      } else {
        const posts: Iterable<SourcePost> | AsyncIterable<SourcePost> = /\.jsonl?$/i.test(source!) ? dumpPosts(source!, filter) : danbooruSqlitePosts(source!, filter);
        for await (const p of posts) add({ ...p, tags: p.tags.filter((t) => !t.startsWith('rating:')) }, ratingTag(p.rating, scheme));
      }
      flush();
      if (counts.posts === 0) throw new TagbooruError('E_USAGE', folder ? `no usable images in ${folder}` : `no posts in ${source} passed the filter (ids ${filter.startId}–${filter.endId}${filter.useDeleted ? '' : ', deleted posts excluded'})`);
      if (v.vacuum) db.vacuum();
    } catch (e) {
      db.close();
      for (const suffix of ['', '-wal', '-shm']) await fs.rm(`${output}${suffix}`, { force: true });
      throw e;
    }
    db.close();
    if (minCount !== undefined) {
      const lists = deriveTagLists(countTags(records), minCount);
      await writeTagFiles(path.dirname(output), lists);
      io.stdout.write(`wrote tags.txt: ${lists.general.length} general + ${lists.system.length} rating tags seen at least ${minCount} times\n`);
    }
    io.stdout.write(`wrote ${output}: ${counts.posts} posts${counts.skipped ? `, ${counts.skipped} skipped` : ''}\n`);
    return counts.skipped > 0 ? 1 : 0;
  },
});

async function readSidecar(image: string): Promise<string[] | null> {
  const stem = path.join(path.dirname(image), path.parse(image).name);
  for (const candidate of [`${stem}.txt`, `${image}.txt`]) {
    const text = await fs.readFile(candidate, 'utf8').catch(() => null);
    if (text !== null) return parseSidecar(text);
  }
  return null;
}

/** Copy images into the DeepDanbooru layout under real md5 names; anything else becomes PNG so it trains. */
async function importFolder(dir: string, manifest: string | undefined, output: string, firstId: number, io: Io, add: (p: { id: number; md5: string; fileExt: string; tags: string[] }) => void, skip: () => void): Promise<void> {
  const items: FolderItem[] = manifest
    ? readManifest(manifest)
    : (await collectAll([dir], { recursive: true, extensions: IMAGE_EXTENSIONS, stdin: io.stdin })).map((file) => ({ file, tags: [] }));
  const progress = createProgress(io, items.length);
  let id = firstId, done = 0;
  for (const item of items) {
    progress.update(++done);
    try {
      const tags = manifest ? item.tags : await readSidecar(item.file);
      if (!tags) throw new TagbooruError('E_IO', 'no .txt tag sidecar');
      let bytes: Uint8Array = await fs.readFile(item.file);
      await decodeImage(bytes); // refuse what cannot be trained on now, not mid-epoch
      let ext = path.extname(item.file).slice(1).toLowerCase();
      if (!TRAINABLE.has(ext)) [bytes, ext] = [await transcodeToPng(bytes), 'png'];
      const md5 = md5Hex(bytes);
      const target = imagePath(output, md5, ext);
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, bytes);
      add({ id: id++, md5, fileExt: ext, tags });
    } catch (e) {
      skip();
      progress.log(`skipped ${item.file}: ${errorMessage(e)}`);
    }
  }
  progress.finish();
}

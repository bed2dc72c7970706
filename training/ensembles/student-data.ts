/**
 * The students' database with --extra-ratio: the training set's posts as they are, and the unlabelled images
 * with every tag unknown, so their hard term is masked out of the loss (the loss mask's 0) and only the
 * teacher's soft term teaches on them. Built once beside the training set, the images hard-linked; a folder
 * without its `.complete` marker is rebuilt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TrainingDatabase } from '../../src/data/training-db.ts';
import { imagePath, maskPath } from '../../src/data/paths.ts';

function link(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  if (!fs.existsSync(to)) fs.linkSync(from, to);
}

/** Links every image of `database`, and its ground-truth masks (which training reads for crops), beside `target`. */
function linkImages(database: string, target: string, db: TrainingDatabase): void {
  for (const r of db.records()) {
    link(imagePath(database, r.md5, r.fileExt), imagePath(target, r.md5, r.fileExt));
    for (const m of db.masks(r.id)) link(maskPath(database, r.md5, m.tag), maskPath(target, r.md5, m.tag));
  }
}

export function studentDatabase(trainDb: string, extraDb: string, dir: string): string {
  const target = path.join(dir, 'dataset.sqlite'), done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return target;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  process.stderr.write('building the students\' database\n');
  fs.copyFileSync(trainDb, target);
  for (const f of ['tags.txt', 'categories.json']) fs.copyFileSync(path.join(path.dirname(trainDb), f), path.join(dir, f));
  const vocabulary = fs.readFileSync(path.join(dir, 'tags.txt'), 'utf8').split('\n').filter(Boolean);
  const into = TrainingDatabase.open(target), train = TrainingDatabase.open(trainDb, { readonly: true }), extra = TrainingDatabase.open(extraDb, { readonly: true });
  try {
    linkImages(trainDb, target, train);
    linkImages(extraDb, target, extra);
    const posts = [...extra.records()].map((r) => extra.post(r.id)!);
    into.transaction(() => {
      into.insertPosts(posts);
      into.insertChoices(posts.map((p) => ({ postId: p.id, choices: { unlabelled: true }, unknownTags: vocabulary })));
    });
  } finally {
    extra.close();
    train.close();
    into.close();
  }
  fs.writeFileSync(done, `${JSON.stringify({ trainDb, extraDb })}\n`);
  return target;
}

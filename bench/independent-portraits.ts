/**
 * How a bundle does on portraits drawn WITHOUT `make-dataset synthetic`: DiceBear's own `lorelei` and
 * `adventurer` called directly with their own defaults (lorelei black on white, adventurer's own skin and hair
 * colours), one centred face filling a white square frame, the parts' probabilities raised so each tag has
 * support. No scene, no colour bands, no corruptions, no masks: nothing of the generator but its table of
 * what each DiceBear variant shows (src/dataset/synthetic/styles.ts), which labels the images. A variant the
 * table leaves unlabelled (a bun, a stud earring) makes that tag unknown for the image.
 *
 * Never used for training or model selection: it checks whether a model learned parts or the generator.
 * Usage: node --import tsx bench/independent-portraits.ts [bundle] [--count 200] [--size 256] [--seed 1] [--out dir]
 * Prints per-tag precision/recall/F1 (the bundle's thresholds) over all images and per style, and writes JSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createAvatar } from '@dicebear/core';
import { adventurer, lorelei } from '@dicebear/collection';
import { classifySkin } from '../src/dataset/synthetic/colour-bands.ts';
import { sharp } from '../src/image/sharp.ts';
import { readBundle } from '../src/infer/bundle.ts';
import { createTagger } from '../src/tagger.ts';
import {
  ADVENTURER_EARRINGS, ADVENTURER_FEATURES, ADVENTURER_GLASSES, ADVENTURER_HAIR, LORELEI_EARRINGS, LORELEI_GLASSES, LORELEI_HAIR,
} from '../src/dataset/synthetic/styles.ts';

/** The tags the check scores: the parts a portrait shows whatever its style. */
const TAGS = ['glasses', 'sunglasses', 'earrings', 'freckles', 'beard', 'mustache', 'blush', 'long_hair', 'short_hair', 'dark_skin'] as const;
type Tag = (typeof TAGS)[number];
type Label = 1 | 0 | null; // null: unknown

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: { count: { type: 'string', default: '200' }, size: { type: 'string', default: '256' }, seed: { type: 'string', default: '1' }, out: { type: 'string', default: 'bench/out/independent' } },
});
const bundleDir = positionals[0] ?? 'models/default';
const count = Number(v.count), size = Number(v.size), seed = v.seed;

const lookup = <T>(table: Record<string, T>, key: unknown): T | undefined => (typeof key === 'string' ? table[key] : undefined);

/** The generator's own skin rule (colour-bands.ts): dark, light, or near the edge and so unknown. */
function darkSkin(hex: unknown): Label {
  if (typeof hex !== 'string') return null;
  const skin = classifySkin(hex);
  return 'tag' in skin ? (skin.tag === 'dark_skin' ? 1 : 0) : null;
}

function labelsOf(style: 'lorelei' | 'adventurer', extra: Record<string, unknown>): Record<Tag, Label> {
  const l = Object.fromEntries(TAGS.map((t) => [t, 0])) as Record<Tag, Label>;
  const hair = lookup<string | null>(style === 'lorelei' ? LORELEI_HAIR : ADVENTURER_HAIR, extra.hair);
  if (hair === null || hair === undefined) l.long_hair = l.short_hair = null;
  else l[hair as 'long_hair' | 'short_hair'] = 1;
  l.dark_skin = darkSkin(extra.skinColor);
  if (extra.glasses !== undefined) l[lookup<Tag>(style === 'lorelei' ? LORELEI_GLASSES : ADVENTURER_GLASSES, extra.glasses)!] = 1;
  if (extra.earrings !== undefined) l.earrings = lookup<boolean>(style === 'lorelei' ? LORELEI_EARRINGS : ADVENTURER_EARRINGS, extra.earrings) ? 1 : null;
  if (style === 'lorelei') {
    if (extra.freckles !== undefined) l.freckles = 1;
    if (extra.beard !== undefined) l.beard = 1;
    l.mustache = l.blush = null; // lorelei draws neither as a separate part
  } else {
    l.beard = null; // adventurer has no beard part
    const feature = lookup<string | null>(ADVENTURER_FEATURES, extra.features);
    if (feature) l[feature as Tag] = 1;
    else if (extra.features !== undefined) l.blush = l.freckles = l.mustache = null; // a birthmark: a few pixels
  }
  return l;
}

function render(style: 'lorelei' | 'adventurer', i: number): { svg: string; labels: Record<Tag, Label> } {
  const common = { seed: `independent-${seed}-${i}`, size, backgroundColor: ['ffffff'], glassesProbability: 35, earringsProbability: 35 };
  const avatar = style === 'lorelei'
    ? createAvatar(lorelei, { ...common, frecklesProbability: 30, beardProbability: 25 })
    : createAvatar(adventurer, { ...common, featuresProbability: 60 });
  const json = avatar.toJson();
  return { svg: json.svg, labels: labelsOf(style, json.extra) };
}

interface Row { file: string; style: string; labels: Record<Tag, Label>; scores: Record<string, number> }

const bundle = await readBundle(bundleDir);
const names = bundle.manifest.tags.map((t) => t.name);
const threshold = (t: string) => bundle.manifest.thresholds.tags?.[t] ?? bundle.manifest.thresholds.default;
fs.mkdirSync(path.join(v.out, 'images'), { recursive: true });
const rows: Row[] = [];
const pngs: Buffer[] = [];
for (let i = 0; i < count; i++) {
  const style = i % 2 === 0 ? 'lorelei' : 'adventurer';
  const { svg, labels } = render(style, i);
  const png = await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toBuffer();
  const file = path.join(v.out, 'images', `${style}-${String(i).padStart(4, '0')}.png`);
  fs.writeFileSync(file, png);
  pngs.push(png);
  rows.push({ file, style, labels, scores: {} });
}
const tagger = await createTagger(bundle);
try {
  const results = await tagger.tag(pngs, { scores: true, threshold: 0 });
  results.forEach((r, k) => {
    if (r.error || !r.scores) throw new Error(`${rows[k]!.file}: ${r.error}`);
    for (const [j, n] of names.entries()) rows[k]!.scores[n] = r.scores[j]!;
  });
} finally {
  await tagger.close();
}

function table(subset: Row[], title: string): Record<string, number> {
  console.log(`\n${title} (${subset.length} images; thresholds from the bundle; unknown labels left out)`);
  console.log(`${'tag'.padEnd(12)} ${'pos'.padStart(4)} ${'neg'.padStart(4)} ${'P'.padStart(6)} ${'R'.padStart(6)} ${'F1'.padStart(6)}`);
  const f1s: Record<string, number> = {};
  for (const t of TAGS) {
    if (!names.includes(t)) continue;
    let tp = 0, fp = 0, pos = 0, neg = 0;
    for (const r of subset) {
      const y = r.labels[t];
      if (y === null) continue;
      const hit = r.scores[t]! >= threshold(t);
      if (y === 1) { pos++; if (hit) tp++; } else { neg++; if (hit) fp++; }
    }
    if (pos === 0) {
      if (neg) console.log(`${t.padEnd(12)} ${'0'.padStart(4)} ${String(neg).padStart(4)}   (no positives: ${fp} false positives)`);
      continue;
    }
    const p = tp + fp ? tp / (tp + fp) : 0, rc = tp / pos, f1 = p + rc ? (2 * p * rc) / (p + rc) : 0;
    f1s[t] = f1;
    console.log(`${t.padEnd(12)} ${String(pos).padStart(4)} ${String(neg).padStart(4)} ${(100 * p).toFixed(1).padStart(6)} ${(100 * rc).toFixed(1).padStart(6)} ${(100 * f1).toFixed(1).padStart(6)}`);
  }
  const vals = Object.values(f1s);
  const macro = vals.reduce((a, b) => a + b, 0) / vals.length;
  console.log(`macro-F1 ${macro.toFixed(3)} over ${vals.length} tags`);
  return { macro, ...f1s };
}

const summary = {
  bundle: bundleDir, count, size, seed,
  all: table(rows, 'all'),
  lorelei: table(rows.filter((r) => r.style === 'lorelei'), 'lorelei (DiceBear default: black on white)'),
  adventurer: table(rows.filter((r) => r.style === 'adventurer'), 'adventurer (DiceBear default colours)'),
};
fs.writeFileSync(path.join(v.out, 'results.json'), `${JSON.stringify({ summary, rows }, null, 1)}\n`);

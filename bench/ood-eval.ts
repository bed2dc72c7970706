/**
 * How well a bundle's out-of-distribution scores tell its own kind of image from foreign ones: AUROC of each
 * score fitted in the bundle (energy, Mahalanobis raw and L2-normalised, kNN) for in-distribution held-out images against
 *   (1) photographs and drawings from Debian's python3-skimage (scikit-image's sample images, installed here
 *       with apt-get when missing; never copied into the repository), and
 *       and Debian's desktop-base wallpapers and login backgrounds (abstract artwork, SVG rendered here),
 *   (2) DiceBear styles the model never trained on, rendered here (portrait-like styles, and robots/pixel art);
 * and the share of each set every score's fitted threshold flags.
 * Usage: node --import tsx bench/ood-eval.ts <bundle> <held-out images folder> [--per-style 40] [--out dir]
 * Writes a markdown table on stdout and every score in <out>/ood-eval.json.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createAvatar, type Style } from '@dicebear/core';
import * as collection from '@dicebear/collection';
import { IMAGE_EXTENSIONS } from '../src/image/index.ts';
import { sharp } from '../src/image/sharp.ts';
import { readBundle } from '../src/infer/bundle.ts';
import { OOD_METHODS, readOodParameters, scoreOf, type OodInputs, type OodMethod } from '../src/infer/ood.ts';
import { auroc, collectOodInputs } from '../src/train/ood-fit.ts';

const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';
const DESKTOP_BASE = '/usr/share/desktop-base';
/** Styles never drawn by `make-dataset synthetic` (which draws lorelei and adventurer). */
const UNSEEN_STYLES = ['avataaars', 'bigSmile', 'micah', 'notionists', 'openPeeps', 'personas', 'bottts', 'pixelArt'] as const;

const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { 'per-style': { type: 'string', default: '40' }, out: { type: 'string', default: 'bench/out/ood' } } });
const [bundleDir, heldout] = positionals;
if (!bundleDir || !heldout) throw new Error('usage: node --import tsx bench/ood-eval.ts <bundle> <held-out images folder> [--per-style 40] [--out dir]');
const perStyle = Number(v['per-style']);
const out = v.out;

const imagesIn = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
  .filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).slice(1).toLowerCase()))
  .map((f) => path.join(dir, f)).sort();

function skimageImages(): string[] {
  if (!fs.existsSync(SKIMAGE_DATA)) execFileSync('apt-get', ['install', '-y', 'python3-skimage'], { stdio: 'inherit' });
  // top level only: tests/ holds fixtures; truncated.jpg is broken on purpose
  return fs.readdirSync(SKIMAGE_DATA).filter((f) => /\.(png|jpe?g|gif)$/i.test(f) && f !== 'truncated.jpg').map((f) => path.join(SKIMAGE_DATA, f)).sort();
}

/** One wallpaper and the login background of each desktop-base theme, rendered to PNG (sharp reads SVG). */
async function desktopBaseImages(dir: string): Promise<string[]> {
  if (!fs.existsSync(DESKTOP_BASE)) execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'desktop-base'], { stdio: 'inherit' });
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const theme of fs.readdirSync(DESKTOP_BASE).filter((t) => t.endsWith('-theme') && t !== 'active-theme').sort()) {
    const wallpapers = path.join(DESKTOP_BASE, theme, 'wallpaper/contents/images');
    const first = fs.existsSync(wallpapers) ? fs.readdirSync(wallpapers).filter((f) => f.endsWith('.svg')).sort()[0] : undefined;
    const sources = [first && path.join(wallpapers, first), path.join(DESKTOP_BASE, theme, 'login/background.svg')].filter((f): f is string => !!f && fs.existsSync(f));
    for (const [i, svg] of sources.entries()) {
      const file = path.join(dir, `${theme}-${i}.png`);
      if (!fs.existsSync(file)) await sharp(svg).resize(640).flatten({ background: '#ffffff' }).png().toFile(file);
      files.push(file);
    }
  }
  return files;
}

async function renderStyles(dir: string): Promise<Record<string, string[]>> {
  const sets: Record<string, string[]> = {};
  for (const name of UNSEEN_STYLES) {
    const style = collection[name] as unknown as Style<Record<string, unknown>>;
    const files: string[] = [];
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let i = 0; i < perStyle; i++) {
      const file = path.join(dir, name, `${i}.png`);
      if (!fs.existsSync(file)) {
        const svg = createAvatar(style, { seed: `ood-eval-${name}-${i}`, size: 224 }).toString();
        await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toFile(file);
      }
      files.push(file);
    }
    sets[name] = files;
  }
  return sets;
}

async function main(): Promise<void> {
  const bundle = await readBundle(bundleDir!);
  const ood = bundle.manifest.ood;
  if (!ood) throw new Error(`${bundleDir} has no OOD fit: run tagbooru fit-ood first`);
  const { thresholds } = ood;
  const params = await readOodParameters(bundle.dir, ood);
  const methods = OOD_METHODS.filter((m) => thresholds[m] !== undefined);

  const styles = await renderStyles(path.join(out, 'styles'));
  const sets: [string, string[]][] = [['held-out (in-distribution)', imagesIn(heldout!)], ['scikit-image photos and drawings', skimageImages()], ['desktop-base wallpapers', await desktopBaseImages(path.join(out, 'desktop-base'))], ...Object.entries(styles).map(([k, f]): [string, string[]] => [`DiceBear ${k}`, f])];
  const scores: Record<string, Record<OodMethod, number[]>> = {};
  for (const [name, files] of sets) {
    process.stderr.write(`${name}: ${files.length} images\n`);
    const inputs: OodInputs[] = await collectOodInputs(bundle, files);
    scores[name] = Object.fromEntries(methods.map((m) => [m, inputs.map((x) => scoreOf(m, x, params))])) as Record<OodMethod, number[]>;
  }
  const inside = scores[sets[0]![0]]!;
  const allStyles = (m: OodMethod) => Object.keys(styles).flatMap((k) => scores[`DiceBear ${k}`]![m]);
  const pct = (xs: number[], t: number) => `${((100 * xs.filter((x) => x > t).length) / xs.length).toFixed(1)} %`;
  const rows = [
    ...sets.map(([name, files]) => ({ name, n: files.length, of: (m: OodMethod) => scores[name]![m] })),
    { name: '**all photos and drawings**', n: sets[1]![1].length + sets[2]![1].length, of: (m: OodMethod) => [...scores[sets[1]![0]]![m], ...scores[sets[2]![0]]![m]] },
    { name: '**all unseen DiceBear styles**', n: Object.values(styles).flat().length, of: allStyles },
  ];
  const head = `| set | images | ${methods.map((m) => `${m} AUROC | ${m} flagged`).join(' | ')} |`;
  const lines = [head, `|---|---:|${methods.map(() => '---:|---:').join('|')}|`];
  for (const r of rows) {
    const cells = methods.map((m) => {
      const xs = r.of(m);
      const a = r.name.startsWith('held-out') ? '—' : auroc(inside[m], xs).toFixed(3);
      return `${a} | ${pct(xs, thresholds[m]!)}`;
    });
    lines.push(`| ${r.name} | ${r.n} | ${cells.join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\nthresholds: ${methods.map((m) => `${m} ${thresholds[m]!.toFixed(3)}`).join(', ')}\n`);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'ood-eval.json'), JSON.stringify({ bundle: bundleDir, thresholds, scores }, null, 1));
}

await main();

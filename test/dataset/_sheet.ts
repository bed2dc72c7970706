/**
 * A contact sheet of every variant of one DiceBear component, each labelled with its name: how the
 * tables in src/dataset/synthetic/styles.ts and styles-micah.ts were made, by looking.
 *
 *   node --import tsx test/dataset/_sheet.ts <lorelei|adventurer|micah> <component> <out.png> [viewBox] [options JSON]
 *
 * e.g. `… adventurer mouth mouths.png "220 350 330 230"` crops to the mouths.
 */
import fs from 'node:fs/promises';
import { createCharacterAvatar, STYLES, type AvatarOptions, type StyleName } from '../../src/dataset/synthetic/character.ts';
import { toPng } from '../../src/image/encode.ts';
import { renderSvg } from '../../src/image/svg.ts';

const BASE: Record<StyleName, AvatarOptions> = {
  lorelei: { hair: ['variant01'], hairColor: ['8b5a2b'], skinColor: ['f5d0b0'], head: ['variant01'], eyes: ['variant04'], eyebrows: ['variant01'], nose: ['variant01'], mouth: ['happy01'],
    glassesProbability: 0, earringsProbability: 0, frecklesProbability: 0, beardProbability: 0, hairAccessoriesProbability: 0 },
  adventurer: { hair: ['short04'], hairColor: ['6a4e35'], skinColor: ['f2d3b1'], base: ['default'], eyes: ['variant01'], eyebrows: ['variant01'], mouth: ['variant02'],
    hairProbability: 100, glassesProbability: 0, earringsProbability: 0, featuresProbability: 0 },
  micah: { hair: ['fonze'], hairColor: ['6a4e35'], baseColor: ['f9c9b6'], eyes: ['eyes'], mouth: ['smile'], hairProbability: 100, glassesProbability: 0, glassesColor: ['000000'],
    earringsProbability: 0, facialHairProbability: 0 },
};

const [style, component, out, viewBox, extra] = process.argv.slice(2) as [StyleName, string, string, string?, string?];
if (!(style in BASE) || !component || !out) throw new Error('usage: _sheet.ts <lorelei|adventurer|micah> <component> <out.png> [viewBox] [options JSON]');
const schema = STYLES[style].schema.properties as Record<string, { default?: string[] }>;
const variants = [...(schema[component]?.default ?? [])].sort();
const cell = 200, cols = 8, rows = Math.ceil(variants.length / cols);
const body = variants.map((v, i) => {
  const x = (i % cols) * cell, y = Math.floor(i / cols) * cell;
  let svg = createCharacterAvatar(style, { ...BASE[style], ...(extra ? (JSON.parse(extra) as AvatarOptions) : {}), [component]: [v], [`${component}Probability`]: 100 }).svg;
  if (viewBox) svg = svg.replace(/viewBox="[^"]*"/, `viewBox="${viewBox}"`);
  return `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="#ddeeff" stroke="#888"/>${svg.replace(/^<svg /, `<svg x="${x}" y="${y}" width="${cell}" height="${cell}" `)}` +
    `<text x="${x + 4}" y="${y + 16}" font-family="DejaVu Sans" font-size="14" fill="#c00">${v}</text>`;
});
const w = cols * cell, h = rows * cell;
const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#fff"/>${body.join('')}</svg>`, w, h);
const rgb = new Uint8Array(w * h * 3);
for (let i = 0; i < w * h; i++) rgb.set(data.subarray(4 * i, 4 * i + 3), 3 * i);
await fs.writeFile(out, await toPng(rgb, w, h, 3));
console.log(`${out}: ${variants.length} ${style} ${component} variants`);

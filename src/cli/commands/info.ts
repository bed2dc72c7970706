/** `tagbooru info <model>`: what a bundle is, where it came from, and how it reads images. */
import fs from 'node:fs/promises';
import { TagbooruError } from '../../errors.ts';
import { countParameters } from '../../import/onnx-model.ts';
import { readBundle, readBundleFile, type Bundle, type BundleManifest, type TagInfo, type TtaTiles } from '../../infer/bundle.ts';
import { modelInputs } from '../../infer/model-io.ts';
import { oodVariant } from '../../infer/ood-graph.ts';
import { exclusiveGroupsOf } from '../../models/exclusive.ts';
import { decodeSpec } from '../../models/spec-file.ts';
import { defineCommand } from '../command.ts';
import { resolveModel } from '../model-option.ts';

/** Tags per category, largest first. */
export function categoryCounts(tags: readonly TagInfo[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of tags) counts[t.category] = (counts[t.category] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

function describePreprocess(p: BundleManifest['preprocess']): string {
  const norm = p.mean.some((x) => x !== 0) || p.std.some((x) => x !== 1) ? `, mean [${p.mean.join(', ')}], std [${p.std.join(', ')}]` : '';
  const pad = p.pad === 'edge' ? 'edge' : `colour (${p.padColor.join(',')})`;
  const alpha = p.alpha === 'strip' ? 'alpha stripped' : `alpha over (${p.background.join(',')})`;
  const inverse = 1 / p.scale;
  const scale = p.scale === 1 ? '0–255' : Math.abs(inverse - Math.round(inverse)) < 1e-6 ? `/${Math.round(inverse)}` : `×${p.scale}`;
  return `${p.geometry} with ${p.resize} resize, ${pad} padding, ${alpha}, ${p.channelOrder} ${p.layout}, ${scale}${norm}`;
}

/** Which calibration `tagbooru calibrate` fitted, for how many tags, on what. */
function describeCalibration(m: BundleManifest): string {
  const c = m.calibration;
  if (!c) return 'none; tagbooru calibrate can fit temperature, platt or isotonic';
  const p = c.provenance;
  const set = typeof p.folder === 'string' ? `captioned images of ${p.folder}` : `images of ${String(p.database)} (validation fraction ${String(p.validationFraction)})`;
  return `${c.method} of ${Object.keys(c.tags).length} of ${m.tags.length} tags, on ${String(p.images)} ${set}, ${String(p.date)}`;
}

/** The fitted OOD score, or which scores `fit-ood` could fit: Mahalanobis needs pooled features an imported graph may hide. */
function describeOod(m: BundleManifest, model: Uint8Array): string {
  if (m.ensemble || m.tta) return 'not offered: out-of-distribution scores are fitted on single models';
  const features = oodVariant(model, m.output.name);
  const possible = features.features ? 'energy, mahalanobis, mahalanobis-l2 or knn' : `energy only (no pooled features for mahalanobis, mahalanobis-l2 or knn: ${features.featuresError})`;
  if (!m.ood) return `none fitted; tagbooru fit-ood can fit ${possible}`;
  const label = (method: string) => (method === 'knn' ? `knn (k = ${m.ood!.k ?? '?'})` : method);
  const others = Object.entries(m.ood.thresholds).filter(([k]) => k !== m.ood!.method).map(([k, t]) => `${label(k)} ${t.toFixed(3)}`);
  const threshold = m.ood.thresholds[m.ood.method]!;
  return `${label(m.ood.method)}, threshold ${threshold.toFixed(3)} (flags ≤ ${100 * m.ood.flagRate} % of in-distribution images)${others.length ? `; also fitted: ${others.join(', ')}` : ''}`;
}

/** An ensemble's members and combination, and the views of test-time augmentation. */
function compositeLines(m: BundleManifest): [string, string][] {
  const lines: [string, string][] = [];
  if (m.ensemble) {
    const draw = m.ensemble.combine === 'random' ? ' (one member drawn per image; every member runs)' : '';
    lines.push(['ensemble', `${m.ensemble.members.length} members combined by ${m.ensemble.combine}${draw}`]);
    m.ensemble.members.forEach((x, k) => {
      const origin = [x.provenance.format, x.provenance.createdBy].find((o) => typeof o === 'string');
      lines.push([`  member ${k + 1}`, `${x.name}: ${x.architecture ?? 'unknown architecture'}, ${x.width}×${x.height} on ${x.input}, ${x.tags} tags, weight ${+x.weight.toFixed(4)}, from ${x.source}${origin ? ` (${String(origin)})` : ''}`]);
    });
  }
  if (m.tta) lines.push(['test-time aug.', `${m.tta.views} views (${[m.tta.flip && 'flip', m.tta.scales.length && `scales ${m.tta.scales.join(', ')}`, m.tta.tiles && tilesLine(m.tta.tiles)].filter(Boolean).join(', ')}), combined by ${m.tta.combine}`]);
  return lines;
}

function tilesLine(t: TtaTiles): string {
  const grid = `${t.grid}×${t.grid} tiles of ${t.size.toFixed(3)} of the side`;
  if (!t.fit) return `${grid}, the higher score winning on all tags but ${t.wholeImageTags.length} whole-image ones`;
  const images = t.fit.provenance.images;
  return `${grid}, combined with the whole image by weights fitted for ${Object.keys(t.fit.tags).length} tags${typeof images === 'number' ? ` on ${images} images` : ''}`;
}

/** The groups of tags the model answers as one softmax (spec.json's output layer), by name; none without a spec. */
async function exclusiveTags(bundle: Bundle): Promise<string[][]> {
  const file = bundle.manifest.spec;
  if (!file) return [];
  const spec = decodeSpec(Buffer.from(await readBundleFile(bundle, file)).toString('utf8'), `${bundle.dir}/${file}`);
  return exclusiveGroupsOf(spec).map((group) => group.map((i) => bundle.manifest.tags[i]?.name ?? `#${i}`));
}

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export const infoCommand = defineCommand({
  name: 'info',
  usage: 'info <model name | bundle folder> [--json]',
  options: {
    json: { type: 'boolean', description: 'one JSON object' },
  },

  async run({ values: v, positionals }, io) {
    if (positionals.length !== 1) throw new TagbooruError('E_USAGE', 'give one model (a store name or a bundle folder)');
    const bundle = await readBundle(resolveModel(positionals[0], io.env));
    const m = bundle.manifest;
    const modelBytes = (await fs.stat(bundle.modelPath)).size;
    const stated = m.provenance.parameters;
    const modelFile = await fs.readFile(bundle.modelPath);
    const parameters = typeof stated === 'number' ? stated : countParameters(modelFile);
    const ood = describeOod(m, modelFile);
    const exclusive = await exclusiveTags(bundle);
    const info = {
      name: m.name,
      path: bundle.dir,
      format: m.provenance.format ?? null,
      architecture: m.architecture ?? null,
      preset: m.preset,
      input: { ...m.input, layout: m.preprocess.layout, width: m.preprocess.width, height: m.preprocess.height },
      output: m.output,
      preprocess: m.preprocess,
      tags: m.tags.length,
      categories: categoryCounts(m.tags),
      thresholds: m.thresholds,
      exclusive,
      parameters,
      modelBytes,
      provenance: m.provenance,
      ood: { ...m.ood, description: ood },
      inputs: modelInputs(m),
      ensemble: m.ensemble ?? null,
      tta: m.tta ?? null,
      calibration: m.calibration ? { method: m.calibration.method, tags: Object.keys(m.calibration.tags).length, provenance: m.calibration.provenance } : null,
    };
    if (v.json) {
      io.stdout.write(`${JSON.stringify(info, null, 1)}\n`);
      return 0;
    }
    const t = m.thresholds;
    const lines: [string, string][] = [
      ['name', m.name],
      ['path', bundle.dir],
      ['format', `${typeof info.format === 'string' ? info.format : 'bundle'}${m.architecture ? ` (${m.architecture})` : ''}`],
      ...modelInputs(m).map((i, k): [string, string] => [k === 0 ? 'input' : '', `${i.name}: ${i.preprocess.layout} ${i.preprocess.width}×${i.preprocess.height}, batch ${m.input.batch}${m.inputs ? ` (${describePreprocess(i.preprocess)})` : ''}`]),
      ['output', `${m.output.name}: ${m.output.activation === 'logits' ? 'logits (sigmoid applied)' : 'probabilities'}`],
      ['preset', `${m.preset}: ${describePreprocess(m.preprocess)}`],
      ['tags', `${m.tags.length}: ${Object.entries(info.categories).map(([c, n]) => `${n} ${c}`).join(', ')}`],
      ['thresholds', [`default ${t.default}`, ...Object.entries(t.categories ?? {}).map(([c, x]) => `${c} ${x}`), ...(t.tags ? [`${Object.keys(t.tags).length} per-tag`] : [])].join(', ')],
      ...exclusive.map((group, k): [string, string] => [k === 0 ? 'exclusive tags' : '', `${group.join(', ')} (one softmax: at most one per image)`]),
      ['parameters', parameters.toLocaleString('en-US')],
      ['model file', `${MiB(modelBytes)} (${m.model})`],
      ['out-of-distribution', ood],
      ...compositeLines(m),
      ['calibration', describeCalibration(m)],
      ['defence', m.defence ?? 'none (tag --defence adds one; docs/defences.md)'],
    ];
    const skip = new Set(['format', 'parameters']);
    lines.push(['provenance', '']);
    for (const [k, val] of Object.entries(m.provenance)) {
      if (skip.has(k) || val === null || val === undefined) continue;
      lines.push([`  ${k}`, typeof val === 'string' || typeof val === 'number' ? String(val) : JSON.stringify(val)]);
    }
    const width = Math.max(...lines.map(([k]) => k.length));
    io.stdout.write(lines.map(([k, val]) => `${k.padEnd(width)}  ${val}`.trimEnd()).join('\n') + '\n');
    return 0;
  },
});

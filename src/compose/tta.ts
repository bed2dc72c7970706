/**
 * Test-time augmentation baked into a bundle's graph: each image input becomes its views (the image, its mirror
 * image, rescaled copies, tiles) stacked along the batch, the model runs once on batch × views, and the views'
 * scores are combined as an ensemble's members are (src/compose/combine.ts). Works on any bundle, ensembles
 * included.
 *
 * Tiles are for what is small in the frame (a crowd's faces, a hat in a wide scene): a grid × grid of
 * overlapping crops, each enlarged to the input size, so a part a few pixels wide in the whole image is seen at
 * the size the model learned it. A tag is in the image if it is in any tile, so the tiles are reduced to their
 * highest probability per tag. A fit (src/cli/tile-fit.ts) weighs that against the whole image's score, per tag;
 * unfitted, the higher of the two wins, except on tags about the whole picture (counts, background, colour
 * scheme; src/compose/whole-image-tags.ts), which keep the whole image's.
 */
import { TagbooruError, invalidOption } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { encodeModel, opsetOf } from '../graph/surgery.ts';
import type { BundleManifest, CombineMode, TagInfo, TtaManifest, TtaTiles } from '../infer/bundle.ts';
import { modelInputs } from '../infer/model-io.ts';
import type { PreprocessSpec } from '../image/spec.ts';
import { combineParts, logitsOf, probsOf, scoresOf, type Scores } from './combine.ts';
import { Emitter } from './emit.ts';
import { renameValue } from './merge.ts';
import { isWholeImageTag } from './whole-image-tags.ts';

export interface Tiles {
  /** Tiles per side: grid × grid views. */
  readonly grid: number;
  /** Each tile's side as a fraction of the image's (the tiles overlap where grid × size > 1). */
  readonly size: number;
  /** The combination fitted on labelled images (src/cli/tile-fit.ts), for the tags it names; the others take the maximum. */
  readonly fit?: TileFit;
}

/** Per tag, sigmoid(whole · z_w + tile · z_t + bias): z_w the whole image's logit, z_t the highest tile's. */
export type TileFit = NonNullable<TtaTiles['fit']>;

export interface TtaOptions {
  readonly flip: boolean;
  readonly scales: readonly number[];
  readonly tiles?: Tiles;
  /** How the views are combined: `logit-mean` (default) or `prob-mean`. */
  readonly combine?: CombineMode;
}

const SCALE_RANGE = [0.25, 4] as const;
const GRID_RANGE = [2, 6] as const;

/** What `tag --tta` and `serve --tta` say when they build tiles, which they cannot fit. */
export const UNFITTED_TILES_NOTE = 'note: unfitted tiles: the higher of the whole image\'s and the best tile\'s score wins, which invents parts in tiles of large faces; `tagbooru tta <bundle> --tta tiles=… --fit <training.sqlite | folder>` fits the combination per tag (docs/ensembles.md)\n';

/** What `--tta` takes, for the commands' help. */
export const TTA_HELP = { placeholder: 'flip[,scales=…][,tiles=…]', views: 'flip, scales=0.9:1.1, tiles=3 or tiles=3:0.5, comma-separated' } as const;

/** The default tile: 35 % wider than a grid cell, so a part cut by one tile's edge lies whole in the next. */
export const defaultTileSize = (grid: number) => Math.min(0.9, 1.35 / grid);

function parseTiles(value: string): Tiles | null {
  const [g, s, ...rest] = value.split(':');
  const grid = Number(g);
  if (rest.length || !Number.isInteger(grid) || grid < GRID_RANGE[0] || grid > GRID_RANGE[1]) return null;
  const size = s === undefined ? defaultTileSize(grid) : Number(s);
  return size >= 1 / grid && size < 1 ? { grid, size } : null;
}

/** `flip`, `scales=0.9:1.1`, `tiles=3` or `tiles=3:0.5`, comma-separated: the views besides the image itself. */
export function parseTta(option: string, raw: string): TtaOptions {
  let flip = false;
  let scales: number[] = [];
  let tiles: Tiles | undefined;
  const valid = `flip, scales=s1:s2:… (each ${SCALE_RANGE[0]}–${SCALE_RANGE[1]}, not 1) and/or tiles=grid[:size] (grid ${GRID_RANGE[0]}–${GRID_RANGE[1]}, size from 1/grid to below 1)`;
  for (const item of raw.split(',').map((s) => s.trim())) {
    if (item === 'flip') flip = true;
    else if (item.startsWith('scales=')) {
      scales = item.slice('scales='.length).split(':').map(Number);
      if (scales.length === 0 || scales.some((s) => !(s >= SCALE_RANGE[0] && s <= SCALE_RANGE[1]) || s === 1)) throw invalidOption(option, valid, raw);
    } else if (item.startsWith('tiles=')) {
      tiles = parseTiles(item.slice('tiles='.length)) ?? undefined;
      if (!tiles) throw invalidOption(option, valid, raw);
    } else throw invalidOption(option, valid, raw);
  }
  if (!flip && scales.length === 0 && !tiles) throw invalidOption(option, valid, raw);
  return { flip, scales, ...(tiles && { tiles }) };
}

/** `x` resized (bilinear, half-pixel) to h × w, whatever its batch. */
function resizedTo(e: Emitter, x: string, spec: PreprocessSpec, h: number, w: number, hint: string): string {
  const n = e.node('Slice', [e.node('Shape', [x]), e.ints([0]), e.ints([1])], {}, 'batch');
  const rest = spec.layout === 'NCHW' ? [3, h, w] : [h, w, 3];
  const sizes = e.node('Concat', [n, e.ints(rest)], { axis: 0 }, 'sizes');
  const empty = e.floats([], [0], 'empty');
  return e.node('Resize', [x, empty, empty, sizes], { mode: 'linear' }, hint);
}

/** Where tile (row, column) starts along a side of `length`: the tiles spread evenly from one edge to the other. */
export function tileOrigin(index: number, tiles: Tiles, length: number): { start: number; size: number } {
  const size = Math.max(1, Math.round(length * tiles.size));
  return { start: Math.round((index * (length - size)) / (tiles.grid - 1)), size };
}

/** The tiles of `x`, row by row, each enlarged to the input size. */
function tileViews(e: Emitter, x: string, spec: PreprocessSpec, tiles: Tiles): string[] {
  const [hAxis, wAxis] = spec.layout === 'NCHW' ? [2, 3] : [1, 2];
  const out: string[] = [];
  for (let row = 0; row < tiles.grid; row++) {
    for (let col = 0; col < tiles.grid; col++) {
      const y = tileOrigin(row, tiles, spec.height), xx = tileOrigin(col, tiles, spec.width);
      const tile = e.node('Slice', [x, e.ints([y.start, xx.start]), e.ints([y.start + y.size, xx.start + xx.size]), e.ints([hAxis, wAxis])], {}, 'tile');
      out.push(resizedTo(e, tile, spec, spec.height, spec.width, 'tile_enlarged'));
    }
  }
  return out;
}

/** The image's views for an input of `spec`, each the input's own shape: [x, mirror(x), scaled(x)…, tiles…]. */
function views(e: Emitter, x: string, spec: PreprocessSpec, tta: TtaOptions): string[] {
  const [hAxis, wAxis] = spec.layout === 'NCHW' ? [2, 3] : [1, 2];
  const out = [x];
  // Slice with step −1 from the last column to before the first: the width axis reversed, exactly
  if (tta.flip) out.push(e.node('Slice', [x, e.ints([-1]), e.ints([-(2 ** 63)]), e.ints([wAxis]), e.ints([-1])], {}, 'flipped'));
  for (const s of tta.scales) {
    const [h, w] = [Math.max(1, Math.round(spec.height * s)), Math.max(1, Math.round(spec.width * s))];
    const resized = resizedTo(e, x, spec, h, w, 'rescaled');
    if (s > 1) {
      // centre crop back to the input size
      const [top, left] = [Math.floor((h - spec.height) / 2), Math.floor((w - spec.width) / 2)];
      out.push(e.node('Slice', [resized, e.ints([top, left]), e.ints([top + spec.height, left + spec.width]), e.ints([hAxis, wAxis])], {}, 'cropped'));
    } else {
      // pad back to the input size with the border's own values
      const [top, left] = [Math.floor((spec.height - h) / 2), Math.floor((spec.width - w) / 2)];
      const begin = [0, 0, 0, 0], end = [0, 0, 0, 0];
      [begin[hAxis], begin[wAxis], end[hAxis], end[wAxis]] = [top, left, spec.height - h - top, spec.width - w - left];
      out.push(e.node('Pad', [resized, e.ints([...begin, ...end])], { mode: 'edge' }, 'padded'));
    }
  }
  return tta.tiles ? [...out, ...tileViews(e, x, spec, tta.tiles)] : out;
}

/** `tags`: the bundle's, which name the whole-image tags the tiles leave alone. */
export function ttaManifest(tta: TtaOptions, tags: readonly TagInfo[]): TtaManifest {
  const whole = 1 + (tta.flip ? 1 : 0) + tta.scales.length;
  return {
    flip: tta.flip, scales: [...tta.scales], views: whole + (tta.tiles ? tta.tiles.grid ** 2 : 0), combine: tta.combine ?? 'logit-mean',
    ...(tta.tiles && { tiles: { ...tta.tiles, wholeImageTags: tags.filter(isWholeImageTag).map((t) => t.name) } }),
  };
}

/**
 * The whole image's probabilities `image` and the highest tile's `tileMax` [N, tags] as one: a fitted tag's
 * sigmoid(whole · z_image + tile · z_tile + bias); any other's the higher of the two, but a whole-image tag's the image's.
 */
function withTiles(e: Emitter, image: string, tileMax: string, tags: readonly TagInfo[], tiles: TtaTiles): string {
  const perTag = (value: (t: TagInfo) => number, hint: string) => e.floats(tags.map(value), [tags.length], hint);
  const wholeImage = new Set(tiles.wholeImageTags);
  const local = perTag((t) => (wholeImage.has(t.name) ? 0 : 1), 'tile_tags');
  const highest = e.node('Add', [image, e.node('Mul', [local, e.node('Relu', [e.node('Sub', [tileMax, image])])])], {}, 'tiled');
  const fit = tiles.fit;
  if (!fit) return highest;
  const weight = (k: number) => perTag((t) => fit.tags[t.name]?.[k] ?? 0, 'tile_weights');
  const [zImage, zTile] = [image, tileMax].map((probs) => logitsOf(e, { logits: null, probs }));
  const stacked = e.node('Sigmoid', [e.node('Add', [e.node('Add', [e.node('Mul', [zImage!, weight(0)]), e.node('Mul', [zTile!, weight(1)])]), weight(2)])], {}, 'tile_fitted');
  const fitted = perTag((t) => (fit.tags[t.name] ? 1 : 0), 'fitted'), unfitted = perTag((t) => (fit.tags[t.name] ? 0 : 1), 'unfitted');
  return e.node('Add', [e.node('Mul', [stacked, fitted]), e.node('Mul', [highest, unfitted])], {}, 'tiled');
}

/** The bundle's graph with its views built in, and the manifest that says so. */
export function withTta(manifest: BundleManifest, model: Uint8Array, tta: TtaOptions, where: string): { manifest: BundleManifest; model: Uint8Array } {
  return buildTta(manifest, model, tta, where, (e, image, tileMax, tiles) => (tileMax && tiles ? withTiles(e, image, tileMax, manifest.tags, tiles) : image), manifest.tags);
}

/** Where the tile probe's second half of tags comes from: `tile:<name>` is the best tile's score for `<name>`. */
export const TILE_PROBE_PREFIX = 'tile:';

/**
 * What a tile fit (src/cli/tile-fit.ts) is fitted on, in one pass: the tiled graph answering [N, 2 × tags], the
 * whole image's combined scores under the bundle's tag names, then the best tile's under `tile:<name>`.
 */
export function tileProbe(manifest: BundleManifest, model: Uint8Array, tta: TtaOptions, where: string): { manifest: BundleManifest; model: Uint8Array } {
  if (!tta.tiles) throw new TagbooruError('E_USAGE', 'a tile probe needs tiles');
  const probeTags = [...manifest.tags, ...manifest.tags.map((t) => ({ ...t, name: `${TILE_PROBE_PREFIX}${t.name}` }))];
  return buildTta(manifest, model, tta, where, (e, image, tileMax) => e.node('Concat', [image, tileMax!], { axis: 1 }, 'probe'), probeTags);
}

/**
 * The views built in front of the model and combined; `finish` turns the whole image's combined probabilities and
 * the best tile's (null without tiles) into the output, whose tags are `outputTags`.
 */
function buildTta(manifest: BundleManifest, model: Uint8Array, tta: TtaOptions, where: string,
  finish: (e: Emitter, image: string, tileMax: string | null, tiles: TtaTiles | undefined) => string, outputTags: readonly TagInfo[]): { manifest: BundleManifest; model: Uint8Array } {
  const combine = tta.combine ?? 'logit-mean';
  if (combine !== 'logit-mean' && combine !== 'prob-mean') throw invalidOption('--combine', 'logit-mean or prob-mean for test-time augmentation', combine);
  if (manifest.tta) throw new TagbooruError('E_USAGE', `${where} already has test-time augmentation (${manifest.tta.views} views)`);
  if (manifest.ensemble?.combine === 'random') throw new TagbooruError('E_USAGE', `${where} draws one member per image (--combine random); build the ensemble with --tta instead, or from augmented members`);
  if (typeof manifest.input.batch === 'number') throw new TagbooruError('E_USAGE', `${where} was exported with a fixed batch of ${manifest.input.batch}; test-time augmentation runs the views as one batch`);
  const m = decodeModel(model);
  if ((tta.scales.length || tta.tiles) && opsetOf(m) < 11) throw new TagbooruError('E_USAGE', `${where} is exported at an opset before 11; scale and tile views need Resize from opset 11`);
  const g = m.graph!;
  const e = new Emitter(m);
  const summary = ttaManifest({ ...tta, combine }, manifest.tags);
  const v = summary.views, tileCount = tta.tiles ? tta.tiles.grid ** 2 : 0;
  for (const input of modelInputs(manifest)) {
    const inner = e.name(`${input.name}_views`);
    renameValue(g, input.name, inner);
    const all = views(e, input.name, input.preprocess, tta);
    g.node!.push({ opType: 'Concat', name: e.name(`node_${inner}`), input: all, output: [inner], attribute: [{ name: 'axis', type: 2, i: 0 }] });
  }
  // the model's scores on batch × views, split back into one [N, tags] per view
  const output = manifest.output.name, tags = manifest.tags.length;
  const scores = scoresOf(m, output, manifest.output.activation);
  const inner = e.name(`${output}_views`);
  renameValue(g, output, inner);
  const view = (value: string | null, i: number) => (value === null ? null : e.node('Gather', [e.node('Reshape', [value === output ? inner : value, e.ints([v, -1, tags])]), e.ints([i], [])], { axis: 0 }, 'view'));
  const viewScores = (i: number): Scores => ({ logits: view(scores.logits, i), probs: view(scores.probs, i) });
  const parts = Array.from({ length: v - tileCount }, (_, i) => ({ scores: viewScores(i), columns: null }));
  const image = combineParts(e, parts, parts.map(() => new Float32Array(tags).fill(1 / parts.length)), combine).probs;
  const tileMax = tileCount ? e.node('Max', Array.from({ length: tileCount }, (_, i) => probsOf(e, viewScores(v - tileCount + i))), {}, 'tile_max') : null;
  g.node!.push({ opType: 'Identity', name: e.name(`node_${output}`), input: [finish(e, image, tileMax, summary.tiles)], output: [output], attribute: [] });
  g.output = g.output!.filter((o) => o.name === output).map((o) => ({ name: o.name, type: { tensorType: { elemType: 1 } } }));
  // the OOD fit, the training weights and their spec describe the graph without its views; the copy carries model.onnx alone
  const { ood: _ood, weights: _weights, spec: _spec, ...rest } = manifest;
  return {
    manifest: { ...rest, tags: [...outputTags], output: { name: output, activation: 'sigmoid' }, tta: summary, provenance: { ...manifest.provenance, tta: `${v} views` } },
    model: encodeModel(m),
  };
}

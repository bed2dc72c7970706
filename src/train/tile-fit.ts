/**
 * Fitting tiled test-time augmentation (src/compose/tta.ts) to labelled images: per tag, the weights with which
 * the whole image's logit and the highest tile's combine (calibration-fit.ts, fitTileWeights), and the
 * thresholds re-fitted for F1 on the combined scores. The maximum alone finds small parts and invents parts
 * in tiles of large ones (a tile of a big face is unlike anything the model was shown); the fit learns, per tag,
 * how far a tile's word is worth taking against the whole image's.
 */
import { logit, sigmoid } from '../infer/calibration.ts';
import { roundScore } from '../infer/rounding.ts';
import { hasEnoughOfBoth } from './calibrate.ts';
import { fitTileWeights } from './calibration-fit.ts';
import { fitThresholds } from './metrics.ts';

export interface TileCombinationFit {
  /** The fitted tags' weights [whole, tile, bias], seven significant digits. */
  readonly tags: Record<string, [whole: number, tile: number, bias: number]>;
  /** Tags with too few known positives or negatives: they keep the unfitted rule. */
  readonly unfitted: string[];
  /** The fitted tags' thresholds for F1 on the combined scores. */
  readonly thresholds: Record<string, number>;
  /** The combined scores on the fitting images [samples × tags], as the tiled graph gives them. */
  readonly probs: Float32Array;
}

/**
 * `whole` and `tile` are the whole image's and the highest tile's probabilities on the same images, `labels` and
 * `mask` (0: unknown) alike [samples × tags]; `wholeImage` names the tags an unfitted tag leaves to the image.
 */
export function fitTileCombination(whole: Float32Array, tile: Float32Array, labels: ArrayLike<number>, mask: ArrayLike<number> | null, names: readonly string[], wholeImage: ReadonlySet<string>, minPositives: number): TileCombinationFit {
  const T = names.length, n = whole.length / T;
  const column = (data: ArrayLike<number>, j: number, f: (v: number) => number = (v) => v) => Float64Array.from({ length: n }, (_, i) => f(data[i * T + j]!));
  const r = (v: number) => Number(v.toPrecision(7));
  const tags: Record<string, [number, number, number]> = {};
  names.forEach((name, j) => {
    if (!hasEnoughOfBoth(labels, mask, T, j, minPositives)) return;
    const [a, b, c] = fitTileWeights(column(whole, j, logit), column(tile, j, logit), column(labels, j), mask ? column(mask, j) : undefined);
    tags[name] = [r(a), r(b), r(c)];
  });
  const probs = new Float32Array(whole.length);
  for (let k = 0; k < probs.length; k++) {
    const name = names[k % T]!, w = tags[name];
    probs[k] = w ? sigmoid(w[0] * logit(whole[k]!) + w[1] * logit(tile[k]!) + w[2]) : wholeImage.has(name) ? whole[k]! : Math.max(whole[k]!, tile[k]!);
  }
  const fitted = fitThresholds(probs, labels, T, 0.5, mask);
  const thresholds = Object.fromEntries(names.flatMap((name, j) => (tags[name] ? [[name, roundScore(fitted[j]!)]] : [])));
  return { tags, unfitted: names.filter((name) => !tags[name]), thresholds, probs };
}

/**
 * The checked options of one explain call, and the steps every kind of bundle shares once it has its scores and
 * a map per tag: which tags to explain, and each tag's map to its region.
 */
import type { BundleManifest } from '../infer/bundle.ts';
import type { CompiledSelection } from '../infer/selection.ts';
import type { TagMap } from './methods.ts';
import { isPlaceless } from './placeless.ts';
import { inputFrameMap, scaleByMax, toRegion, type Frame, type Refine } from './postprocess.ts';
import type { ExplainMethod, ExplainRefinement, TagRegion } from './types.ts';

export interface Resolved {
  readonly method: ExplainMethod;
  readonly maskThreshold: number;
  readonly refine: ExplainRefinement;
  readonly includePlaceless: boolean;
  readonly keepInput: boolean;
  readonly scorecamChannels?: number;
  readonly mapStride?: number;
  /** Explicit tag indices; null: the selection picks the default tags from the scores. */
  readonly tags: readonly number[] | null;
  readonly selection: CompiledSelection;
}

type Tags = Pick<BundleManifest, 'tags'>;

/** The tags to explain on this image: the ones asked for, or those the thresholds select that have a place. */
export function pickTags(m: Tags, o: Resolved, scores: Float32Array): number[] {
  if (o.tags) return [...o.tags];
  const index = new Map(m.tags.map((t, i) => [t.name, i]));
  const { tags: selected, rating } = o.selection.select(scores);
  const all = o.includePlaceless && rating ? [rating, ...selected] : selected;
  return all.filter((t) => o.includePlaceless || !isPlaceless(t)).map((t) => index.get(t.name)!);
}

export function region(m: Tags, o: Resolved, frame: Frame, t: number, score: number, map: TagMap, refine: Refine | undefined): TagRegion {
  const tag = m.tags[t]!;
  const r = toRegion(map.grid, frame, o.maskThreshold, refine);
  const base = { name: tag.name, category: tag.category, score, threshold: o.maskThreshold, ...r };
  if (!o.keepInput) return base;
  const { width, height } = frame.input;
  const inputMap = map.rgb ? { width, height, data: scaleByMax(map.rgb.slice()), channels: 3 as const } : { width, height, data: inputFrameMap(map.grid, width, height), channels: 1 as const };
  return { ...base, inputMap };
}

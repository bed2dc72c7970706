/**
 * What an augmentation does to a sample's labels. An op that can change a label says which (LABEL_RULES);
 * a label it invalidates becomes unknown in the loss mask (DESIGN.md decision 13), never a made-up negative.
 *
 * Geometry (crop, warp, cutout) is one rule for all: a positive tag whose part is cut out of the frame is
 * unknown. With a ground-truth mask of the part (the synthetic generator writes them) the part must stay
 * seen for at least `part_visible_min` of its pixels. Without one, the rule is conservative: when less than
 * `frame_visible_min` of the picture is seen, every positive localisable tag (not a background, rating or
 * medium tag) is unknown. Both default to one half; DeepDanbooru's own ranges (scale ≤ 1.1, shift ≤ 0.1, any
 * rotation) keep more than that of the picture, so its projects keep every label, as they did.
 * Negative labels stay known under geometry: cutting a picture cannot add a part to it. Counts are the
 * exception: a crop or cutout that hides one of three characters makes `2others` true, so count tags are
 * unknown, either way, whenever one is applied (the ablation in docs/robustness.md found crops teaching wrong
 * counts). DeepDanbooru's warp keeps them, as it keeps the other labels.
 */
import { LINE_ART_HIDES, SCREENTONE_HIDES, frameVisibility, hidesAnything, partVisibility, readMask, type AppliedOp, type AugmentResult, type Rect } from '../image/index.ts';
import type { AugmentationSettings } from './augmentation-config.ts';
import { tagProperties, type TagProperty } from './tag-properties.ts';

export interface LabelRule {
  /** Tags with any of these properties become unknown. */
  readonly unknown?: readonly TagProperty[];
  /** Tags made positive and known, when the project lists them. */
  readonly adds?: readonly string[];
  /** Tags made unknown by name, when the project lists them. */
  readonly forgets?: readonly string[];
  /** Tag → the tags made unknown when the sample has it (a part the op can no longer tell from another). */
  readonly hides?: Readonly<Record<string, readonly string[]>>;
}

/** One rule per op: a missing one does not compile. */
export const LABEL_RULES = {
  crop: { unknown: ['count'] }, // and geometry: see the file comment
  cutout: { unknown: ['count'] },
  flip: { unknown: ['sided'] },
  greyscale: { unknown: ['colour'], adds: ['monochrome', 'greyscale'] },
  // one hue is monochrome and (unless the ink is near grey) no longer greyscale; a grey source's label is forgotten, not denied
  tint: { unknown: ['colour'], adds: ['monochrome'], forgets: ['greyscale'] },
  // the generator's line art labels the same way (dataset/synthetic/render.ts), but draws it on white: here a
  // gradient or patterned background leaves faint or stray edges, so background tags are unknown too
  lineart: { unknown: ['colour', 'background'], adds: ['monochrome', 'greyscale', 'lineart'], hides: LINE_ART_HIDES },
  // black ink on paper; a light background turns paper and a gradient turns dots, so background tags are unknown.
  // `lineart` keeps its label: the dots are shading, which line art has none of
  screentone: { unknown: ['colour', 'background'], adds: ['monochrome', 'greyscale'], hides: SCREENTONE_HIDES },
  // NOTE: within the default ±25 % brightness and contrast keep every hue and the order of lightness, and
  // Danbooru tags an off-white scan white_background: no label changes. Wider ranges may want ['colour'].
  brightness: {},
  contrast: {},
  // corruptions degrade but do not remove: a blurred freckle is still drawn
  blur: {},
  downscale: {},
  noise: {},
  jpeg: {},
} satisfies Record<AppliedOp, LabelRule>;

/** A ground-truth mask of one of the sample's tags. */
export interface Part {
  /** Index into the tag list. */
  readonly tag: number;
  /** Bounding box in source pixels. */
  readonly box: Rect;
  /** The mask PNG. */
  readonly file: string;
}

export type LabelThresholds = Pick<AugmentationSettings, 'part_visible_min' | 'frame_visible_min'>;

/** The rules compiled for one tag list: which indices each op invalidates or adds, which tags are localisable. */
export class LabelRules {
  private readonly unknown = new Map<AppliedOp, number[]>();
  private readonly adds = new Map<AppliedOp, number[]>();
  private readonly hides = new Map<AppliedOp, [when: number, hidden: number[]][]>();
  private readonly localisable: boolean[];

  constructor(tags: readonly string[], private readonly thresholds: LabelThresholds) {
    const props = tags.map(tagProperties);
    const index = new Map(tags.map((t, i) => [t, i]));
    this.localisable = props.map((p) => !p.has('global'));
    for (const [op, rule] of Object.entries(LABEL_RULES) as [AppliedOp, LabelRule][]) {
      this.unknown.set(op, props.flatMap((p, i) => (rule.unknown?.some((u) => p.has(u)) || rule.forgets?.includes(tags[i]!) ? [i] : [])));
      const listed = (names: readonly string[]) => names.flatMap((t) => (index.has(t) ? [index.get(t)!] : []));
      this.adds.set(op, listed(rule.adds ?? []));
      this.hides.set(op, Object.entries(rule.hides ?? {}).flatMap(([when, hidden]) => (index.has(when) ? [[index.get(when)!, listed(hidden)] as [number, number[]]] : [])));
    }
  }

  /**
   * Applies the rules to `labels` in place; the loss mask, or undefined when every label stays known.
   * `known` is the mask before augmentation (the database's unknown tags), never modified: an op that adds a
   * tag makes it known, whatever the database said.
   */
  async apply(labels: Float32Array, result: AugmentResult, parts: readonly Part[] = [], known?: Float32Array): Promise<Float32Array | undefined> {
    let mask: Float32Array | undefined = known?.slice();
    const forget = (j: number) => {
      mask ??= new Float32Array(labels.length).fill(1);
      mask[j] = 0;
    };
    for (const op of result.applied) for (const j of this.unknown.get(op)!) forget(j);
    for (const op of result.applied) for (const [when, hidden] of this.hides.get(op)!) if (labels[when] === 1 && known?.[when] !== 0) hidden.forEach(forget);
    for (const op of result.applied) {
      for (const j of this.adds.get(op)!) {
        labels[j] = 1;
        if (mask) mask[j] = 1;
      }
    }
    const g = result.geometry;
    if (!hidesAnything(g)) return mask;
    const byTag = new Map(parts.map((p) => [p.tag, p]));
    let frame: number | undefined;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 1 || (mask && mask[j] === 0) || !this.localisable[j]) continue;
      const part = byTag.get(j);
      if (part) {
        if ((await partVisibility(g, part.box, () => readMask(part.file))) < this.thresholds.part_visible_min) forget(j);
      } else if ((frame ??= frameVisibility(g)) < this.thresholds.frame_visible_min) {
        forget(j);
      }
    }
    return mask;
  }
}

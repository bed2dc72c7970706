/**
 * The refinements a map can get after upsampling, by name: each one is built once per image from the network
 * input's content (the padding is no guide) and applied to every tag's map.
 */
import { guidedRefiner } from './guided-filter.ts';
import type { Frame, Refine } from './postprocess.ts';
import { regionRefiner } from './segments.ts';
import type { ExplainRefinement } from './types.ts';

const REFINERS: { [K in Exclude<ExplainRefinement, 'none'>]: (rgb: Uint8Array, width: number, height: number) => Refine } = {
  guided: guidedRefiner,
  segments: regionRefiner,
};

/** The refiner of `kind` over the content rectangle of the network input (`rgb`, interleaved); none for 'none'. */
export function contentRefiner(kind: ExplainRefinement, rgb: Uint8Array, inputWidth: number, [x0, y0, x1, y1]: Frame['bounds']): Refine | undefined {
  if (kind === 'none') return undefined;
  const w = x1 - x0, content = new Uint8Array(w * (y1 - y0) * 3);
  for (let y = y0; y < y1; y++) content.set(rgb.subarray((y * inputWidth + x0) * 3, (y * inputWidth + x1) * 3), (y - y0) * w * 3);
  return REFINERS[kind](content, w, y1 - y0);
}

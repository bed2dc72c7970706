/** Many SVG renders of one image as a single rasterisation: tiles laid out in rows of one strip. */
import { renderSvg } from '../../image/svg.ts';

/** A box-sized picture inside the rendered strip: pixel (x, y) starts at `base + y·stride + 4x` (straight RGBA). */
export interface View {
  base: number;
  stride: number;
}

/** One render: `svg(x, y)` is its SVG element drawn at (x, y) of the strip, `width`×`height` pixels. */
export interface Tile {
  svg: (x: number, y: number) => string;
  width: number;
  height: number;
}

/**
 * Every SVG of a scene in one rasterisation, tiles in rows (one row per character): the pipeline's
 * fixed cost is paid once per image rather than once per render.
 */
export async function renderTiles(rows: Tile[][]): Promise<{ data: Uint8Array; views: View[][] }> {
  let height = 0, width = 0;
  const at = rows.map((row) => {
    let x = 0;
    const xs = row.map((t) => ((x += t.width), x - t.width));
    const y = height;
    width = Math.max(width, x);
    height += Math.max(0, ...row.map((t) => t.height));
    return { xs, y };
  });
  const body = rows.flatMap((row, r) => row.map((t, i) => t.svg(at[r]!.xs[i]!, at[r]!.y))).join('');
  const { data } = await renderSvg(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`, width, height);
  return { data, views: at.map(({ xs, y }) => xs.map((x) => ({ base: (y * width + x) * 4, stride: width * 4 }))) };
}

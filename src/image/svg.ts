/**
 * SVG to pixels, for the synthetic dataset generator (image/encode.ts makes the PNG). Everything between (compositing,
 * masks) is plain TypeScript on these buffers.
 */
import { TagbooruError, errorMessage } from '../errors.ts';
import { sharp } from './sharp.ts';

/** Straight (not premultiplied) RGBA, row-major. */
export interface Rgba {
  data: Uint8Array;
  width: number;
  height: number;
}

// NOTE: small images, many at once: one libvips thread per image and the libuv pool in parallel beat
// several threads per image. Set once, before the first render.
let configured = false;
function configure(): void {
  if (configured) return;
  sharp.concurrency(1);
  sharp.cache(false);
  configured = true;
}

/** Rasterise an SVG whose root has `width`/`height` in px (72 dpi, so one user unit is one pixel). */
export async function renderSvg(svg: string, width: number, height: number): Promise<Rgba> {
  configure();
  try {
    const { data, info } = await sharp(Buffer.from(svg), { density: 72 }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.width !== width || info.height !== height || info.channels !== 4) {
      throw new TagbooruError('E_INTERNAL', `Expected a ${width}×${height} RGBA render but received ${info.width}×${info.height}×${info.channels}`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
  } catch (e) {
    if (e instanceof TagbooruError) throw e;
    throw new TagbooruError('E_INTERNAL', `SVG rendering failed: ${errorMessage(e)}`, { cause: e });
  }
}

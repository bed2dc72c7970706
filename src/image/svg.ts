/**
 * SVG to pixels and pixels to PNG, for the synthetic dataset generator. Everything between (compositing,
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

/** Encode 8-bit pixels (1 = grey, 3 = RGB) as PNG. */
export async function encodePng(data: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  configure();
  // NOTE: level 3 without filtering: 40% faster than level 6 for 9% more bytes on these flat-coloured images
  const image = sharp(data, { raw: { width, height, channels } });
  // NOTE: without the b-w colourspace sharp writes one raw channel as an sRGB (three-channel) PNG
  return (channels === 1 ? image.toColourspace('b-w') : image).png({ compressionLevel: 3, adaptiveFiltering: false }).toBuffer();
}

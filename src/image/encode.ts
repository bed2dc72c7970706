/** Pixels out as PNG (sharp): grey heat maps for the API, overlays for people, synthetic images. */
import { TagbooruError, errorMessage } from '../errors.ts';
import { sharp } from './sharp.ts';

export interface PngOptions {
  /** Flat-coloured images (the synthetic dataset): level 3 without filtering, 40% faster than level 6 for 9% more bytes. */
  readonly flat?: boolean;
}

/** 8-bit pixels, row-major, 1 (grey), 3 (RGB) or 4 (RGBA) channels, as a PNG file: the one PNG encoder. */
export async function toPng(data: Uint8Array, width: number, height: number, channels: 1 | 3 | 4, options: PngOptions = {}): Promise<Uint8Array> {
  if (data.length !== width * height * channels) {
    throw new TagbooruError('E_INTERNAL', `Expected ${width * height * channels} bytes for a ${width}×${height}×${channels} PNG but received ${data.length}`);
  }
  try {
    let image = sharp(data, { raw: { width, height, channels } });
    // NOTE: without it libvips writes one channel as RGB, three times the bytes
    if (channels === 1) image = image.toColourspace('b-w');
    const png = await image.png(options.flat ? { compressionLevel: 3, adaptiveFiltering: false } : { compressionLevel: 6 }).toBuffer();
    return new Uint8Array(png.buffer, png.byteOffset, png.length);
  } catch (e) {
    throw new TagbooruError('E_INTERNAL', `PNG encoding failed: ${errorMessage(e)}`, { cause: e });
  }
}

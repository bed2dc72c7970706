/**
 * Decoding with sharp (src/image/sharp.ts). Everything after it (resizing, padding, normalising) is plain
 * TypeScript, so it is exact, synchronous and testable against the reference arithmetic.
 */
import { TagbooruError, errorMessage, expectNumberInRange } from '../errors.ts';
import { readRegularFile } from '../regular-files.ts';
import { sharp } from './sharp.ts';

/** 8-bit RGB or RGBA, row-major HWC. */
export interface DecodedImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** A decoded file, with the media type of the format the decoder recognised in its bytes. */
export interface DecodedFile extends DecodedImage {
  readonly mediaType: string;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this, before any pixel is decoded. */
  maxPixels?: number;
}

const DEFAULTS = { maxPixels: 100_000_000 } satisfies Required<DecodeOptions>;

/** File name extensions of the formats accepted below, lower case, without the dot. */
export const IMAGE_EXTENSIONS: readonly string[] = ['png', 'jpg', 'jpeg', 'jpe', 'jfif', 'gif', 'webp', 'avif', 'tif', 'tiff'];

// sharp's `metadata().format` names for them, with their media types; `heif` is AVIF (the prebuilt libvips
// carries no HEVC decoder).
// NOTE: SVG, PDF and libvips' own format would decode too; they are refused as not being photographs or art.
const MEDIA_TYPES: Readonly<Record<string, string>> = {
  jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp', heif: 'image/avif', tiff: 'image/tiff',
};

function decodeError(error: unknown): TagbooruError {
  const message = errorMessage(error);
  if (/unsupported image format/i.test(message)) {
    return new TagbooruError('E_IMAGE', 'not a recognised image format', { cause: error });
  }
  // libvips may stack several lines; the first says what went wrong.
  const first = message.split('\n').find((line) => line.trim() !== '') ?? message;
  return new TagbooruError('E_IMAGE', `corrupt or truncated image data (${first.trim()})`, { cause: error });
}

/** The header alone: a 100000×100000 PNG is refused here without a pixel allocated. */
async function readHeader(input: Uint8Array, maxPixels: number): Promise<{ width: number; height: number; mediaType: string }> {
  if (input.length === 0) throw new TagbooruError('E_IMAGE', 'empty file');
  const meta = await sharp(input, { limitInputPixels: false }).metadata().catch((error: unknown) => {
    throw decodeError(error);
  });
  const mediaType = Object.hasOwn(MEDIA_TYPES, meta.format) ? MEDIA_TYPES[meta.format] : undefined;
  if (!mediaType) {
    throw new TagbooruError('E_IMAGE', `not a recognised image format (${meta.format} is not accepted)`);
  }
  if (meta.width * meta.height > maxPixels) {
    throw new TagbooruError('E_IMAGE', `${meta.width}×${meta.height} pixels exceeds the pixel limit of ${maxPixels}`);
  }
  return { width: meta.width, height: meta.height, mediaType };
}

/**
 * The pixels `decodeImage` would decode from these bytes, read from the header only; 0 when it would refuse them
 * before decoding a pixel (not an image, too large), as such an upload costs no decoding memory.
 */
export async function declaredPixels(input: Uint8Array, options: DecodeOptions = {}): Promise<number> {
  const { maxPixels } = { ...DEFAULTS, ...options };
  try {
    const { width, height } = await readHeader(input, maxPixels);
    return width * height;
  } catch (e) {
    if (e instanceof TagbooruError) return 0;
    throw e;
  }
}

/**
 * Decode the first frame of an image file or buffer to 8-bit RGB(A), EXIF orientation applied.
 *
 * - Alpha is kept (4 channels) when the image has it; grey, palette and CMYK become RGB.
 * - 16-bit samples keep their high byte, as TF's `png_set_strip_16` does.
 * - NOTE: embedded ICC profiles are ignored, as TF's decode_png and PIL's `convert("RGB")` ignore them:
 *   the models were trained on untransformed samples. CMYK still goes through libvips' default CMYK profile.
 */
export async function decodeImage(source: string | Uint8Array, options: DecodeOptions = {}): Promise<DecodedFile> {
  const { maxPixels } = { ...DEFAULTS, ...options };
  expectNumberInRange('maxPixels', maxPixels, 1, Number.MAX_SAFE_INTEGER, true);
  const input = typeof source === 'string' ? await readRegularFile(source) : source;
  const { mediaType } = await readHeader(input, maxPixels);

  const { data, info } = await sharp(input, {
    autoOrient: true,
    failOn: 'truncated',
    limitInputPixels: maxPixels,
    ignoreIcc: true,
    pages: 1,
  })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => {
      throw decodeError(error);
    });
  const { channels } = info;
  if (channels !== 3 && channels !== 4) {
    throw new TagbooruError('E_INTERNAL', `Expected 3 or 4 channels from the decoder but received ${channels}`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels, mediaType };
}

/** Round-trip RGB bytes through a JPEG encoder: the compression artefacts of a re-saved upload. */
export async function jpegRoundTrip(rgb: Uint8Array, width: number, height: number, quality: number): Promise<Uint8Array> {
  const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
  const { data } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Re-encode any decodable image as PNG (the training query reads png/jpg/jpeg only). */
export async function transcodeToPng(bytes: Uint8Array): Promise<Uint8Array> {
  const out = await sharp(bytes, { autoOrient: true, pages: 1, failOn: 'truncated' }).png().toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

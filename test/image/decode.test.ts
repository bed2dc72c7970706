/** Decoding real encoder output, and every kind of bad input with the one-line reason a user sees. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { IMAGE_EXTENSIONS, PRESETS, declaredPixels, decodeImage, loadImageTensor, preprocess, type DecodedImage } from '../../src/image/index.ts';
import { badInputs, pngHeaderOnly } from '../helpers/images.ts';
import { encodePng, noise } from './_synthetic.ts';

let dir = '';
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-image-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<TagbooruError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TagbooruError);
    return error as TagbooruError;
  }
  return expect.fail('expected decoding to fail');
}

const raw = (image: DecodedImage) => ({ raw: { width: image.width, height: image.height, channels: image.channels } });
const pixel = (image: DecodedImage, x: number, y: number): number[] =>
  Array.from(image.data.subarray((y * image.width + x) * image.channels, (y * image.width + x + 1) * image.channels));

/** Left half `left`, right half `right`, as an RGB buffer sharp can encode. */
function halves(width: number, height: number, left: number[], right: number[]): DecodedImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(i % width < width / 2 ? left : right, i * 3);
  return { data, width, height, channels: 3 };
}

describe('decodeImage', () => {
  it('returns the exact pixels of an RGB PNG, from a path or a buffer', async () => {
    const image = noise(13, 7);
    const png = await sharp(image.data, raw(image)).png().toBuffer();
    await fs.writeFile(path.join(dir, 'noise.png'), png);
    expect(await decodeImage(png)).toEqual({ ...image, mediaType: 'image/png' });
    expect(await decodeImage(path.join(dir, 'noise.png'))).toEqual({ ...image, mediaType: 'image/png' });
  });

  it('keeps alpha as a fourth channel', async () => {
    const image = noise(5, 4, 4);
    const png = encodePng({ width: 5, height: 4, bitDepth: 8, colorType: 6, pixels: image.data });
    expect(await decodeImage(png)).toEqual({ ...image, mediaType: 'image/png' });
  });

  it('keeps the high byte of 16-bit samples, as png_set_strip_16 does', async () => {
    const pixels = Uint8Array.from([0x12, 0xff, 0x12, 0x80, 0x12, 0x7f, 0xab, 0xcd, 0x00, 0x80, 0xff, 0x7f]);
    const decoded = await decodeImage(encodePng({ width: 2, height: 1, bitDepth: 16, colorType: 2, pixels }));
    expect(Array.from(decoded.data)).toEqual([0x12, 0x12, 0x12, 0xab, 0x00, 0xff]);
  });

  it('expands grey, grey+alpha and palette PNGs to RGB or RGBA', async () => {
    const grey = await decodeImage(encodePng({ width: 2, height: 1, bitDepth: 8, colorType: 0, pixels: Uint8Array.from([7, 200]) }));
    expect(grey).toMatchObject({ channels: 3, data: Uint8Array.from([7, 7, 7, 200, 200, 200]) });
    const greyAlpha = await decodeImage(encodePng({ width: 1, height: 1, bitDepth: 8, colorType: 4, pixels: Uint8Array.from([9, 128]) }));
    expect(greyAlpha).toMatchObject({ channels: 4, data: Uint8Array.from([9, 9, 9, 128]) });
    const palette = [255, 0, 0, 1, 2, 3, 40, 50, 60];
    const indexed = await decodeImage(encodePng({ width: 3, height: 1, bitDepth: 8, colorType: 3, pixels: Uint8Array.from([2, 0, 1]), palette }));
    expect(indexed).toMatchObject({ channels: 3, data: Uint8Array.from([40, 50, 60, 255, 0, 0, 1, 2, 3]) });
    const trns = await decodeImage(encodePng({ width: 2, height: 1, bitDepth: 8, colorType: 3, pixels: Uint8Array.from([1, 0]), palette, transparency: [0] }));
    expect(trns).toMatchObject({ channels: 4, data: Uint8Array.from([1, 2, 3, 255, 255, 0, 0, 0]) });
  });

  it('applies EXIF orientation 6 (rotate 90° clockwise): the stored left half ends on top', async () => {
    const image = halves(32, 16, [230, 20, 20], [20, 20, 230]);
    const jpeg = await sharp(image.data, raw(image)).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const decoded = await decodeImage(jpeg);
    expect([decoded.width, decoded.height]).toEqual([16, 32]);
    const [top, bottom] = [pixel(decoded, 8, 4), pixel(decoded, 8, 28)];
    expect(top[0]! > 200 && top[2]! < 60).toBe(true);
    expect(bottom[2]! > 200 && bottom[0]! < 60).toBe(true);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const image = halves(16, 16, [220, 30, 40], [220, 30, 40]);
    const cmyk = await sharp(image.data, raw(image)).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const decoded = await decodeImage(cmyk);
    expect(decoded.channels).toBe(3);
    // Through libvips' default CMYK profile and back: still red, not the raw inks read as RGB.
    const [r, g, b] = pixel(decoded, 8, 8);
    expect(r! > 180 && g! < 80 && b! < 80).toBe(true);
  });

  it.each(['gif', 'webp'] as const)('takes the first frame of an animated %s', async (format) => {
    const frame = (background: string): Promise<Buffer> => sharp({ create: { width: 6, height: 4, channels: 3, background } }).png().toBuffer();
    const animated = await sharp([await frame('#ff0000'), await frame('#00ff00')], { join: { animated: true } })[format]().toBuffer();
    expect((await sharp(animated).metadata()).pages).toBe(2);
    const decoded = await decodeImage(animated);
    expect([decoded.width, decoded.height]).toEqual([6, 4]);
    const [r, g] = pixel(decoded, 3, 2); // lossy WebP may drift by a level
    expect(r! > 250 && g! < 5).toBe(true);
  });

  it.each(['png', 'jpeg', 'webp', 'gif', 'avif', 'tiff'] as const)('decodes %s, and says so by its media type', async (format) => {
    const image = noise(24, 10);
    const decoded = await decodeImage(await sharp(image.data, raw(image))[format]().toBuffer());
    expect([decoded.width, decoded.height]).toEqual([24, 10]);
    expect(decoded.mediaType).toBe(`image/${format}`);
  });

  it("lists every file suffix of the accepted formats, and not SVG's", () => {
    const suffixes = (['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff'] as const).flatMap((id) => sharp.format[id].input.fileSuffix ?? []);
    for (const suffix of suffixes) expect(IMAGE_EXTENSIONS).toContain(suffix.slice(1));
    expect(IMAGE_EXTENSIONS).not.toContain('svg');
  });
});

describe('decodeImage on bad input', () => {
  it('gives each bad file one line naming the reason, without the path', async () => {
    await badInputs(dir);
    const expected: Record<string, [string, RegExp]> = {
      'empty.png': ['E_IMAGE', /^empty file$/],
      'truncated.jpg': ['E_IMAGE', /^corrupt or truncated image data \(.*premature end/i],
      'text.png': ['E_IMAGE', /^not a recognised image format$/],
      'bomb.png': ['E_IMAGE', /^100000×100000 pixels exceeds the pixel limit of 100000000$/],
      'unreadable.png': ['E_IO', /^file not found$/],
      'folder.jpg': ['E_IO', /^is a directory/],
    };
    for (const [name, [code, message]] of Object.entries(expected)) {
      const error = await failure(decodeImage(path.join(dir, name)));
      expect({ name, code: error.code }).toEqual({ name, code });
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(dir);
    }
  });

  it('refuses a 100000×100000 header from its metadata, without decoding', async () => {
    const start = performance.now();
    const error = await failure(decodeImage(pngHeaderOnly(100_000, 100_000)));
    expect(error.message).toMatch(/exceeds the pixel limit/);
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('honours a smaller maxPixels and validates it', async () => {
    const png = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#000' } }).png().toBuffer();
    expect((await failure(decodeImage(png, { maxPixels: 5000 }))).message).toBe('100×100 pixels exceeds the pixel limit of 5000');
    expect((await decodeImage(png, { maxPixels: 10_000 })).width).toBe(100);
    for (const maxPixels of [0, 1.5, Number.NaN]) expect((await failure(decodeImage(png, { maxPixels }))).code).toBe('E_USAGE');
  });

  it('refuses a truncated PNG and an SVG', async () => {
    const png = await sharp(noise(64, 64).data, raw(noise(64, 64))).png().toBuffer();
    expect((await failure(decodeImage(png.subarray(0, png.length >> 1)))).message).toMatch(/^corrupt or truncated image data/);
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
    expect((await failure(decodeImage(svg))).message).toBe('not a recognised image format (svg is not accepted)');
  });

  it.skipIf(process.getuid?.() === 0)('reports a file without read permission as E_IO', async () => {
    const file = path.join(dir, 'locked.png');
    await fs.writeFile(file, pngHeaderOnly(1, 1));
    await fs.chmod(file, 0);
    const error = await failure(decodeImage(file));
    expect([error.code, error.message]).toEqual(['E_IO', 'permission denied']);
  });
});

describe('declaredPixels', () => {
  it('reads the header alone: the pixels a decode would allocate, 0 for what decodeImage refuses before decoding', async () => {
    // the header's claim, though its pixel data could never decode to that
    expect(await declaredPixels(pngHeaderOnly(2000, 1000))).toBe(2_000_000);
    expect(await declaredPixels(pngHeaderOnly(2000, 1000), { maxPixels: 1_999_999 })).toBe(0);
    expect(await declaredPixels(Buffer.from('not an image'))).toBe(0);
    expect(await declaredPixels(new Uint8Array(0))).toBe(0);
  });
});

describe('loadImageTensor', () => {
  it('is decode then preprocess', async () => {
    const image = noise(40, 30);
    const png = await sharp(image.data, raw(image)).png().toBuffer();
    const [loaded, direct] = [await loadImageTensor(png, PRESETS.deepdanbooru), preprocess(image, PRESETS.deepdanbooru)];
    expect(loaded.length).toBe(direct.length);
    expect(loaded.filter((v, i) => v !== direct[i]).length).toBe(0);
  });
});

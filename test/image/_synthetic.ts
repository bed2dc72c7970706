/** Images built in memory for the image tests: deterministic pixels and hand-encoded PNGs. */
import zlib from 'node:zlib';
import type { DecodedImage } from '../../src/image/index.ts';

/** Deterministic pseudo-random bytes (an LCG), so a failure reproduces. */
export function noise(width: number, height: number, channels: 3 | 4 = 3, seed = 1): DecodedImage {
  const data = new Uint8Array(width * height * channels);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels };
}

export function solid(width: number, height: number, pixel: readonly number[]): DecodedImage {
  const channels = pixel.length as 3 | 4;
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = pixel[i % channels]!;
  return { data, width, height, channels };
}

/** Sample `c` of pixel (x, y) of an HWC tensor `width` wide. */
export const hwc = (t: ArrayLike<number>, width: number, x: number, y: number, c: number): number => t[(y * width + x) * 3 + c]!;

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const head = Buffer.alloc(4), crc = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([head, body, crc]);
}

export interface PngParts {
  width: number;
  height: number;
  bitDepth: 8 | 16;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA */
  colorType: 0 | 2 | 3 | 4 | 6;
  /** Unfiltered scanlines, concatenated. */
  pixels: Uint8Array;
  palette?: number[];
  transparency?: number[];
}

/** A PNG written byte by byte, for the sample layouts sharp will not write (16-bit, exact palettes). */
export function encodePng({ width, height, bitDepth, colorType, pixels, palette, transparency }: PngParts): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const rowBytes = pixels.length / height;
  const filtered = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) filtered.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...(palette ? [chunk('PLTE', Uint8Array.from(palette))] : []),
    ...(transparency ? [chunk('tRNS', Uint8Array.from(transparency))] : []),
    chunk('IDAT', zlib.deflateSync(filtered)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * 1-bit greyscale PNG for masks. Nine masks an image through sharp cost more than the image itself
 * (a pipeline each); a 1-bit PNG is five chunks around one deflate stream. Decoded by sharp in the tests.
 */
import { constants, crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** `mask` is `width`×`height` bytes; non-zero is white. The PNG decodes to 0 and 255. */
export function encodeMaskPng(mask: Uint8Array, width: number, height: number): Buffer {
  const stride = Math.ceil(width / 8) + 1; // filter byte, then 8 pixels a byte, most significant first
  const raw = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride + 1, src = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[src + x]) raw[row + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([1, 0, 0, 0, 0], 8); // bit depth 1, greyscale, deflate, filter method 0, no interlace
  // NOTE: run-length deflate: a third of the time of the default strategy, for a fifth more bytes
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, { strategy: constants.Z_RLE })), chunk('IEND', new Uint8Array(0))]);
}

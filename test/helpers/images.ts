/** Test images made on the spot: real encoders, known pixels, and the broken files users actually have. */
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';

export async function solidImage(file: string, width: number, height: number, rgb: [number, number, number]): Promise<string> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
  return file;
}

export async function noiseImage(file: string, width: number, height: number, seed = 1): Promise<string> {
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  const img = sharp(data, { raw: { width, height, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
  return file;
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4), crc = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header that claims width×height pixels: a decompression bomb's calling card. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const idat = chunk('IDAT', zlib.deflateSync(Buffer.alloc(64)));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), idat, chunk('IEND', Buffer.alloc(0))]);
}

/** Every kind of bad input the CLI must report and skip, keyed by file name. */
export async function badInputs(dir: string): Promise<string[]> {
  await fs.writeFile(path.join(dir, 'empty.png'), Buffer.alloc(0));
  const jpeg = await fs.readFile(await noiseImage(path.join(dir, 'whole.tmp.jpg'), 64, 48));
  await fs.rm(path.join(dir, 'whole.tmp.jpg'));
  await fs.writeFile(path.join(dir, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await fs.writeFile(path.join(dir, 'text.png'), 'this is not an image\n');
  await fs.writeFile(path.join(dir, 'bomb.png'), pngHeaderOnly(100_000, 100_000));
  await fs.symlink(path.join(dir, 'does-not-exist.png'), path.join(dir, 'unreadable.png'));
  await fs.mkdir(path.join(dir, 'folder.jpg'));
  return ['empty.png', 'truncated.jpg', 'text.png', 'bomb.png', 'unreadable.png', 'folder.jpg'];
}

import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { encodeMaskPng } from '../../src/dataset/synthetic/mask-png.ts';

describe('encodeMaskPng', () => {
  test.each([[13, 7], [8, 8], [1, 1], [256, 3]])('%i×%i decodes (by sharp) to the same 0/255 pixels', async (w, h) => {
    const mask = new Uint8Array(w * h);
    for (let i = 0; i < mask.length; i++) mask[i] = (i * 7919) % 5 < 2 ? 255 : i % 11 === 0 ? 1 : 0;
    const { data, info } = await sharp(encodeMaskPng(mask, w, h)).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 1]);
    expect([...data]).toEqual([...mask].map((v) => (v ? 255 : 0)));
  });

  test('is a 1-bit greyscale PNG', async () => {
    const meta = await sharp(encodeMaskPng(new Uint8Array(64), 8, 8)).metadata();
    expect([meta.format, meta.channels, meta.depth, meta.bitsPerSample]).toEqual(['png', 1, 'uchar', 1]);
  });
});

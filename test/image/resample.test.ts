/** The PIL-exact resampler against bytes Pillow 9.4 produced for the same input (`Image.resize`). */
import { describe, expect, it } from 'vitest';
import type { Raster } from '../../src/image/raster.ts';
import { fitSizeTruncated, resample, resampleNearest } from '../../src/image/resample.ts';
import { noise } from './_synthetic.ts';

/** 7×5 RGB, sample (x, y, c) = (37x + 91y + 53c + 13xy) mod 256: structured enough to exercise every tap. */
function pattern(): Raster & { data: Uint8Array } {
  const data = new Uint8Array(7 * 5 * 3);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 7; x++) for (let c = 0; c < 3; c++) data[(y * 7 + x) * 3 + c] = (x * 37 + y * 91 + c * 53 + x * y * 13) % 256;
  return { data, width: 7, height: 5 };
}

// np.asarray(Image.fromarray(pattern).resize(size, filter)).ravel()
const PILLOW = {
  cubic: {
    size: [3, 4],
    bytes: [45, 104, 149, 124, 158, 188, 172, 151, 118, 163, 166, 147, 151, 129, 114, 114, 126, 163, 121, 124, 109, 153, 140, 124, 161, 103, 136, 113, 179, 132, 131, 104, 134, 119, 109, 168],
  },
  lanczos3: {
    size: [10, 3],
    bytes: [
      42, 94, 144, 61, 112, 175, 95, 155, 175, 118, 175, 127, 160, 133, 141, 144, 113, 196, 101, 154, 200, 121, 194, 112, 165, 151, 111, 183, 92, 162,
      122, 192, 76, 170, 127, 136, 181, 106, 155, 123, 175, 88, 170, 119, 133, 162, 119, 131, 108, 178, 81, 176, 115, 139, 156, 85, 168, 91, 105, 152,
      56, 109, 176, 117, 168, 141, 142, 201, 87, 84, 140, 86, 135, 130, 157, 182, 92, 156, 148, 56, 108, 88, 122, 169, 122, 131, 182, 180, 97, 149,
    ],
  },
  linear: { size: [4, 2], bytes: [103, 131, 148, 137, 145, 138, 134, 142, 149, 148, 128, 143, 120, 148, 130, 133, 142, 118, 145, 112, 134, 139, 108, 158] },
} as const;

describe('resample', () => {
  it.each(Object.entries(PILLOW))('%s matches Pillow byte for byte', (kernel, { size, bytes }) => {
    const out = resample(pattern(), size[0], size[1], kernel as keyof typeof PILLOW);
    expect(Array.from(out.data)).toEqual(bytes);
  });

  it.each(['cubic', 'lanczos3', 'linear'] as const)('%s is the identity at the same size', (kernel) => {
    const image = noise(31, 17);
    expect(resample(image, 31, 17, kernel).data).toEqual(image.data);
  });

  it('keeps a flat colour exactly flat despite 22-bit coefficient rounding', () => {
    const data = new Uint8Array(300 * 200 * 3).fill(201);
    const out = resample({ data, width: 300, height: 200 }, 448, 97, 'lanczos3');
    expect(out.data.every((v) => v === 201)).toBe(true);
  });

  it('NEAREST picks source index trunc((o + 0.5) · in/out)', () => {
    const data = Uint8Array.from({ length: 10 * 3 }, (_, i) => Math.floor(i / 3));
    const out = resampleNearest({ data, width: 10, height: 1 }, 4, 1);
    expect(Array.from(out.data).filter((_, i) => i % 3 === 0)).toEqual([1, 3, 6, 8]);
  });
});

describe('fitSizeTruncated (Camie)', () => {
  it.each([
    [1000, 500, 512, 256],
    [500, 1000, 256, 512],
    [333, 500, 340, 512], // 340.99 truncates, where TF's rule gives 341
    [700, 300, 512, 219], // 219.43
    [512, 512, 512, 512],
    [1, 5000, 1, 512], // 0.1 truncates to 0; one pixel is kept
  ])('%i×%i fits 512×512 as %i×%i', (w, h, ew, eh) => {
    expect(fitSizeTruncated(w, h, 512, 512)).toEqual({ width: ew, height: eh });
  });
});

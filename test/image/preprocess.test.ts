/** The presets' pixel rules with values worked out by hand: compositing, padding, channel order, layout. */
import { describe, expect, it } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { PRESETS, preprocess, resolvePreset, type PreprocessSpec } from '../../src/image/index.ts';
import { hwc, noise, solid } from './_synthetic.ts';

const rows = (t: Float32Array, width: number, from: number, to: number): number[] => Array.from(t.subarray(from * width * 3, to * width * 3));
const plane = (t: Float32Array, c: number, size: number): Float32Array => t.subarray(c * size * size, (c + 1) * size * size);

function expectError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TagbooruError);
    expect((error as TagbooruError).code).toBe(code);
    expect((error as TagbooruError).message).toMatch(message);
    return;
  }
  expect.fail('expected an error');
}

describe('wd preset (PIL pad-then-resize, BGR 0–255 NHWC)', () => {
  it('pads a 200×100 image with white rows and keeps its colour exactly, in BGR', () => {
    const out = preprocess(solid(200, 100, [10, 20, 30]), PRESETS.wd);
    expect(out.length).toBe(448 * 448 * 3);
    // Padded square rows 0..49 and 150..199 are white; output rows whose cubic taps lie there stay exactly 255.
    expect(rows(out, 448, 0, 101).every((v) => v === 255)).toBe(true);
    expect(rows(out, 448, 347, 448).every((v) => v === 255)).toBe(true);
    const inside = rows(out, 448, 120, 328);
    expect(inside.every((v, i) => v === [30, 20, 10][i % 3])).toBe(true);
    expect([0, 1, 2].map((c) => hwc(out, 448, 224, 224, c))).toEqual([30, 20, 10]);
  });

  it.each([
    [[100, 50, 200, 128], [227, 152, 177]], // round(45185/255 = 177.2), round(152.1), round(227.4), then BGR
    [[0, 0, 0, 1], [254, 254, 254]],
    [[0, 0, 0, 254], [1, 1, 1]],
    [[9, 99, 199, 0], [255, 255, 255]],
    [[9, 99, 199, 255], [199, 99, 9]],
  ])('composites RGBA %j on white as BGR %j', (rgba, bgr) => {
    const out = preprocess(solid(448, 448, rgba), PRESETS.wd);
    expect([0, 1, 2].map((c) => hwc(out, 448, 17, 300, c))).toEqual(bgr);
  });

  it('is the identity on a 448×448 image, channels reversed', () => {
    const image = noise(448, 448);
    const out = preprocess(image, PRESETS.wd);
    const mismatches = out.filter((v, i) => v !== image.data[i - (i % 3) + 2 - (i % 3)]).length;
    expect(mismatches).toBe(0);
  });

  it('pastes at the floor of the centring offset', () => {
    const spec = { ...PRESETS.wd, width: 201, height: 201 }; // no resize: the padded square itself
    const out = preprocess(solid(100, 201, [0, 0, 0]), spec);
    const column = (x: number): number => hwc(out, 201, x, 100, 0);
    expect([column(49), column(50), column(149), column(150)]).toEqual([255, 0, 0, 255]);
  });
});

describe('joytag preset (RGB NCHW, CLIP normalisation)', () => {
  it('normalises each source channel with its own mean and std, in planes', () => {
    const image = noise(448, 448);
    const out = preprocess(image, PRESETS.joytag);
    const { mean, std } = PRESETS.joytag;
    for (const i of [0, 1234, 200_703]) {
      for (let c = 0; c < 3; c++) expect(plane(out, c, 448)[i]).toBeCloseTo((image.data[i * 3 + c]! / 255 - mean[c]!) / std[c]!, 6);
    }
  });
});

describe('camie presets (aspect kept with LANCZOS, colour pad, NCHW)', () => {
  it('pads 700×300 to 512×219 at row offset 146 with black', () => {
    const out = preprocess(solid(700, 300, [40, 80, 120]), PRESETS.camie);
    const red = plane(out, 0, 512);
    const at = (y: number): number => red[y * 512 + 256]!;
    expect([at(145), at(146), at(364), at(365)]).toEqual([0, 40 / 255, 40 / 255, 0].map(Math.fround));
    expect(plane(out, 2, 512)[200 * 512]).toBe(Math.fround(120 / 255));
  });

  it('camie-v2 pads with its grey and ImageNet-normalises it', () => {
    const out = preprocess(solid(512, 256, [0, 0, 0]), PRESETS['camie-v2']);
    expect(plane(out, 0, 512)[0]).toBeCloseTo((124 / 255 - 0.485) / 0.229, 6);
    expect(plane(out, 2, 512)[0]).toBeCloseTo((104 / 255 - 0.406) / 0.225, 6);
  });
});

describe('preprocess', () => {
  it('writes into a batch at an offset and leaves the rest alone', () => {
    const spec: PreprocessSpec = { ...PRESETS.wd, width: 4, height: 4 };
    const batch = new Float32Array(2 * 48).fill(-1);
    const returned = preprocess(solid(4, 4, [1, 2, 3]), spec, batch, 48);
    expect(returned).toBe(batch);
    expect(Array.from(batch.subarray(0, 48)).every((v) => v === -1)).toBe(true);
    expect(Array.from(batch.subarray(48, 51))).toEqual([3, 2, 1]);
  });

  it('stretches with NEAREST, ignoring aspect', () => {
    const spec: PreprocessSpec = { ...PRESETS.wd, geometry: 'stretch', resize: 'nearest', channelOrder: 'RGB', width: 2, height: 1 };
    const image = { data: Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]), width: 4, height: 1, channels: 3 as const };
    expect(Array.from(preprocess(image, spec))).toEqual([2, 2, 2, 4, 4, 4]);
  });

  it('refuses malformed input and options with E_USAGE', () => {
    const image = solid(4, 4, [1, 2, 3]);
    expectError(() => preprocess({ ...image, channels: 2 as 3 }, PRESETS.wd), 'E_USAGE', /Expected 3 or 4 for image.channels but received 2/);
    expectError(() => preprocess({ ...image, width: 5 }, PRESETS.wd), 'E_USAGE', /Expected 60 bytes .* but received 48 bytes/);
    expectError(() => preprocess(image, PRESETS.wd, new Float32Array(10)), 'E_USAGE', /at least 602112 floats .* received 10/);
    expectError(() => preprocess(image, PRESETS.wd, undefined, -3), 'E_USAGE', /offset/);
    const edgeFirst: PreprocessSpec = { ...PRESETS.wd, pad: 'edge' };
    expectError(() => preprocess(image, edgeFirst), 'E_USAGE', /pad "color" for geometry "pad-then-resize"/);
  });
});

describe('resolvePreset', () => {
  it('returns a preset, at another size when asked', () => {
    expect(resolvePreset('wd')).toBe(PRESETS.wd);
    expect(resolvePreset('deepdanbooru', { width: 299, height: 299 })).toEqual({ ...PRESETS.deepdanbooru, width: 299, height: 299 });
  });

  it('names the known presets when the name is unknown', () => {
    expectError(() => resolvePreset('wd14'), 'E_USAGE', /Unknown preprocessing preset "wd14"\. Known: deepdanbooru, wd, joytag, camie, camie-v2/);
    expectError(() => resolvePreset('toString'), 'E_USAGE', /Unknown/);
    expectError(() => resolvePreset('wd', { width: 0, height: 448 }), 'E_USAGE', /width/);
    expectError(() => resolvePreset('wd', { width: 448, height: 1.5 }), 'E_USAGE', /height/);
  });
});

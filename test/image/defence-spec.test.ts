/** Defence specs as users write them, and the preprocessing split the defences sit in. */
import { describe, expect, test } from 'vitest';
import { BUILTIN_DEFENCES, chainDefences, createDefence, defendedInput, formatDefenceSpec, parseDefenceSpec, preprocess, preprocessPixels, seededRandom, writeInput, PRESETS, type DecodedImage, type Defence, type PreprocessSpec } from '../../src/image/index.ts';

describe('parseDefenceSpec', () => {
  test('defaults fill every parameter; chains keep their order; the canonical form writes them all', () => {
    expect(parseDefenceSpec('jpeg')).toEqual([{ name: 'jpeg', params: { quality: 75 } }]);
    const chain = parseDefenceSpec(' jpeg:quality=60 + median:size=5 +bit-depth ');
    expect(chain.map((d) => d.name)).toEqual(['jpeg', 'median', 'bit-depth']);
    expect(formatDefenceSpec(chain)).toBe('jpeg:quality=60+median:size=5+bit-depth:bits=4');
    expect(formatDefenceSpec(parseDefenceSpec('noise:sigma=0.1'))).toBe('noise:sigma=0.1');
    expect(parseDefenceSpec('resize-pad:min=0.9')).toEqual([{ name: 'resize-pad', params: { min: 0.9 } }]);
    expect(parseDefenceSpec('none')).toEqual([]);
  });

  test('an unknown defence lists the known ones', () => {
    expect(() => parseDefenceSpec('blur:sigma=1')).toThrow('Expected a defence among jpeg, bit-depth, median, noise, resize-pad, none (chain them with +) for defence but received "blur"');
    expect(() => parseDefenceSpec('jpeg+', BUILTIN_DEFENCES, '--defence')).toThrow('for --defence but received ""');
  });

  test('a bad value names the defence, the parameter, the range and what arrived', () => {
    expect(() => parseDefenceSpec('jpeg:quality=101', BUILTIN_DEFENCES, '--defence')).toThrow('Expected an integer between 1 and 100 for --defence jpeg:quality but received "101"');
    expect(() => parseDefenceSpec('bit-depth:bits=2.5')).toThrow('Expected an integer between 1 and 8 for defence bit-depth:bits but received "2.5"');
    expect(() => parseDefenceSpec('median:size=4')).toThrow('Expected an odd integer between 3 and 15 (window side in pixels) for median:size for defence but received "4"');
    expect(() => parseDefenceSpec('noise:sigma=x')).toThrow('Expected a number between 0 and 0.5 for defence noise:sigma but received "x"');
    expect(() => parseDefenceSpec('jpeg:q=5')).toThrow('Expected a parameter of jpeg: quality for defence but received "q"');
    expect(() => parseDefenceSpec('jpeg:quality')).toThrow('Expected jpeg:quality=<value> for defence but received "quality"');
    expect(() => parseDefenceSpec('jpeg:quality=50,quality=60')).toThrow('Expected jpeg:quality once');
    expect(() => parseDefenceSpec('')).toThrow('Expected a defence such as jpeg:quality=75, a chain a+b, or none for defence but received ""');
  });

  test('a chain applies left to right and is randomised when a link is', async () => {
    const d = (await createDefence('bit-depth:bits=1+noise:sigma=0'))!;
    expect(d.randomised).toBe(true);
    expect(d.spec).toBe('bit-depth:bits=1+noise:sigma=0');
    expect('backward' in d).toBe(false); // BPDA for the attack
    const out = await d.apply({ data: Float32Array.of(0.2, 0.6, 0.9), width: 1, height: 1 }, seededRandom(0));
    expect(Array.from(out.data)).toEqual([0, 1, 1]);
    expect(await createDefence('none')).toBeNull();
  });
});

describe('chainDefences', () => {
  // y = 2x, then z = y²: dz/dx = 8x, so the chain's VJP at x with upstream u is 8·x·u
  const double: Defence = { name: 'double', randomised: false, apply: (im) => Promise.resolve({ ...im, data: im.data.map((v) => 2 * v) }), backward: (_im, u) => Promise.resolve(u.map((v) => 2 * v)) };
  const square: Defence = { name: 'square', randomised: false, apply: (im) => Promise.resolve({ ...im, data: im.data.map((v) => v * v) }), backward: (im, u) => Promise.resolve(u.map((v, i) => 2 * im.data[i]! * v)) };

  test('the backward of differentiable links is their VJPs in reverse, each at its own input', async () => {
    const chain = chainDefences([double, square]);
    const image = { data: Float32Array.of(0.1, 0.25, 0.5), width: 1, height: 1 };
    expect(Array.from((await chain.apply(image, () => 0)).data)).toEqual([0.04000000357627869, 0.25, 1].map(Math.fround));
    const grad = await chain.backward!(image, Float32Array.of(1, -1, 0.5), () => 0);
    [8 * 0.1, -8 * 0.25, 8 * 0.5 * 0.5].forEach((v, i) => expect(grad[i]).toBeCloseTo(v, 6));
    // the other order: z = (x²)·2, dz/dx = 4x
    const other = await chainDefences([square, double]).backward!(image, Float32Array.of(1, 1, 1), () => 0);
    [0.4, 1, 2].forEach((v, i) => expect(other[i]).toBeCloseTo(v, 6));
  });

  test('a link without backward, or a randomised one, leaves the chain to BPDA', () => {
    expect('backward' in chainDefences([double, { ...square, backward: undefined }])).toBe(false);
    expect('backward' in chainDefences([double, { ...square, randomised: true }])).toBe(false);
  });
});

describe('the preprocessing split', () => {
  const decoded: DecodedImage = { data: Uint8Array.from({ length: 37 * 23 * 4 }, (_, i) => (i * 97 + (i >> 3)) % 256), width: 37, height: 23, channels: 4 };
  const specs: PreprocessSpec[] = [
    { ...PRESETS.deepdanbooru, width: 32, height: 32 },
    { ...PRESETS.wd, width: 24, height: 24 },
    { ...PRESETS.joytag, width: 20, height: 20 },
  ];

  test('pixels in [0, 1] then writeInput is preprocess, within float rounding, for each preset', () => {
    for (const spec of specs) {
      const pixels = preprocessPixels(decoded, spec);
      expect(pixels.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      const split = writeInput(pixels, spec), whole = preprocess(decoded, spec);
      const scale = Math.max(...whole.map(Math.abs));
      expect(split.every((v, i) => Math.abs(v - whole[i]!) <= 1e-5 * scale)).toBe(true);
    }
  });

  test('without a defence the runtime path is preprocess itself, bit for bit', async () => {
    for (const spec of specs) expect(await defendedInput(decoded, spec, null, seededRandom(0))).toEqual(preprocess(decoded, spec));
  });

  test('writeInput refuses pixels of another size, naming both', () => {
    expect(() => writeInput({ data: new Float32Array(3), width: 1, height: 1 }, specs[0]!)).toThrow('Expected 32×32×3 pixels (the model\'s input) but received 1×1 with 3 values');
  });
});

/** project.json's "augmentation": presets, per-op settings over them, DeepDanbooru's keys on top, and range errors. */
import { describe, expect, test } from 'vitest';
import { AUGMENTATION_PRESETS, PRESET_NAMES } from '../../src/train/augmentation-config.ts';
import { augmentation } from '../../src/train/project-training.ts';
import { DEFAULT_PROJECT, validateProject } from '../../src/train/project.ts';

const read = (raw: object) => validateProject(raw, 'p/project.json').config;

describe('resolution', () => {
  test('without "augmentation" a project augments as before: DeepDanbooru\'s warp and nothing else', () => {
    const c = read({});
    expect(augmentation(c)).toEqual({ rotation: [0, 360], scale: [0.9, 1.1], shift: [-0.1, 0.1], flip: false, corruption: 0, ops: {} });
    expect(c.augmentation).toEqual({ part_visible_min: 0.5, frame_visible_min: 0.5, ops: {} });
    expect(augmentation(read({ rotation_range: false, scale_range: false, shift_range: false }))).toBeNull();
  });

  test('preset "none" turns off DeepDanbooru\'s defaults too; the file\'s own keys beat the preset', () => {
    expect(augmentation(read({ augmentation: { preset: 'none' } }))).toBeNull();
    const c = read({ augmentation: { preset: 'all' }, rotation_range: [-10, 10], flip_horizontal: false });
    expect(c.rotation_range).toEqual([-10, 10]);
    expect(c.flip_horizontal).toBe(false);
    expect(c.scale_range).toEqual(DEFAULT_PROJECT.scale_range);
    expect(c.augmentation!.ops.greyscale).toEqual({ probability: 0.15 });
  });

  test('an op merges over its preset: a range alone keeps the preset\'s probability', () => {
    const c = read({ augmentation: { preset: '+flips+crops', crop: { area: [0.5, 1] }, blur: { probability: 0.3 }, part_visible_min: 0.7 } });
    expect(c.augmentation!.ops.crop).toEqual({ probability: 0.5, area: [0.5, 1] });
    expect(c.augmentation!.ops.blur).toEqual({ probability: 0.3 });
    expect(c.augmentation!.part_visible_min).toBe(0.7);
    expect(augmentation(c)!.ops).toEqual({ crop: { probability: 0.5, area: [0.5, 1] }, blur: { probability: 0.3 } });
  });

  test('the presets are cumulative, in the ablation\'s order', () => {
    expect(PRESET_NAMES).toEqual(['none', 'deepdanbooru', '+flips+crops', '+corruptions', '+greyscale', 'all']);
    for (let i = 2; i < PRESET_NAMES.length; i++) {
      const before = Object.keys(AUGMENTATION_PRESETS[PRESET_NAMES[i - 1]!].ops), now = Object.keys(AUGMENTATION_PRESETS[PRESET_NAMES[i]!].ops);
      expect(now.length, PRESET_NAMES[i]).toBeGreaterThan(before.length);
      for (const op of before) expect(now, PRESET_NAMES[i]).toContain(op);
    }
    expect(AUGMENTATION_PRESETS['+greyscale'].ops).toHaveProperty('greyscale');
    expect(AUGMENTATION_PRESETS['+corruptions'].ops).not.toHaveProperty('greyscale');
  });
});

describe('errors name the key, the expectation and what arrived', () => {
  test.each([
    [{ preset: 'most' }, 'unknown augmentation preset "most". Known: none, deepdanbooru, +flips+crops, +corruptions, +greyscale, all'],
    [{ crop: { probability: 1.5 } }, '"augmentation.crop.probability" must be a number between 0 and 1, got 1.5'],
    [{ crop: { area: [0, 2] } }, '"augmentation.crop.area" must be [min, max] with 0.01 ≤ min ≤ max ≤ 1 (a fraction of the image area), got [0,2]'],
    [{ jpeg: { quality: [80, 20] } }, '"augmentation.jpeg.quality" must be [min, max] with 1 ≤ min ≤ max ≤ 100 (JPEG quality), got [80,20]'],
    [{ crop: { zoom: [1, 2] } }, 'unknown key "augmentation.crop.zoom". Known: probability, area, ratio'],
    [{ blurr: {} }, 'unknown key "augmentation.blurr". Known: preset, crop, cutout, greyscale, tint, lineart, screentone, brightness, contrast, blur, downscale, noise, jpeg, part_visible_min, frame_visible_min'],
    [{ greyscale: 0.2 }, '"augmentation.greyscale" must be an object like { "probability": 0.5 }, got 0.2'],
    [{ frame_visible_min: -1 }, '"augmentation.frame_visible_min" must be a number between 0 and 1, got -1'],
  ])('%j', (augmentationValue, message) => {
    expect(() => read({ augmentation: augmentationValue })).toThrow(`p/project.json: ${message}`);
  });

  test('"augmentation" must be an object', () => {
    expect(() => read({ augmentation: 'all' })).toThrow('p/project.json: "augmentation" must be an object');
  });
});

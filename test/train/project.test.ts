/** project.json mistakes are usage errors naming the key and what it takes, before any training starts. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { ARCHITECTURES } from '../../src/models/registry.ts';
import { DEFAULT_DISTILLATION, DEFAULT_PROJECT, validateProject } from '../../src/train/project.ts';
import { cli } from '../helpers/cli.ts';

function failure(raw: unknown): TagbooruError {
  try {
    validateProject(raw, 'p/project.json');
  } catch (e) {
    if (e instanceof TagbooruError) return e;
    throw e;
  }
  throw new Error('expected validateProject to fail');
}

describe('validateProject', () => {
  test('an image smaller than the model takes names both keys, the minimum and the size', () => {
    const e = failure({ model: 'resnet_152', image_width: 224, image_height: 64 });
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toBe('Expected "image_width" and "image_height" in p/project.json of at least 193 for resnet_152 but received 224×64');
  });

  test('an unknown model lists the known ones', () => {
    const e = failure({ model: 'resnet_custom_v9' });
    expect(e.code).toBe('E_USAGE');
    expect(e.message).toBe(`p/project.json: "model" must be one of ${ARCHITECTURES.join(', ')}, got "resnet_custom_v9"`);
  });

  test('the defaults and the minimum itself pass', () => {
    const { augmentation, ...config } = validateProject({}, 'p/project.json').config;
    expect(config).toEqual(DEFAULT_PROJECT);
    expect(augmentation?.ops).toEqual({}); // no "augmentation" key: DeepDanbooru's own warp only
    expect(validateProject({ model: 'resnet_152', image_width: 193, image_height: 193 }, 'p/project.json').config.image_width).toBe(193);
  });

  test('"teacher" takes "distillation" over its defaults; a bad value names its key, its range and what arrived', () => {
    expect(validateProject({ teacher: 'ens' }, 'p/project.json').config.distillation).toEqual(DEFAULT_DISTILLATION);
    expect(validateProject({ teacher: 'ens', distillation: { temperature: 4 } }, 'p/project.json').config.distillation).toEqual({ alpha: 0.5, temperature: 4, mixup: 0 });
    expect(validateProject({ teacher: 'ens', distillation: { alpha: 0, temperature: 0.1 } }, 'p/project.json').config.distillation).toEqual({ alpha: 0, temperature: 0.1, mixup: 0 });
    expect(validateProject({ teacher: 'ens', distillation: { mixup: 0.5 } }, 'p/project.json').config.distillation).toEqual({ alpha: 0.5, temperature: 2, mixup: 0.5 });
    expect(validateProject({}, 'p/project.json').config.distillation).toBeUndefined();
    const cases: [unknown, string][] = [
      [{ teacher: 'ens', distillation: { alpha: 1.5 } }, 'p/project.json: "distillation.alpha" must be a number in [0, 1], got 1.5'],
      [{ teacher: 'ens', distillation: { alpha: -0.1 } }, 'p/project.json: "distillation.alpha" must be a number in [0, 1], got -0.1'],
      [{ teacher: 'ens', distillation: { temperature: 0 } }, 'p/project.json: "distillation.temperature" must be a number > 0, got 0'],
      [{ teacher: 'ens', distillation: { temperature: '2' } }, 'p/project.json: "distillation.temperature" must be a number > 0, got "2"'],
      [{ teacher: 'ens', distillation: { mixup: 1.2 } }, 'p/project.json: "distillation.mixup" must be a number in [0, 1] (the share of each batch blended), got 1.2'],
      [{ teacher: 'ens', distillation: [0.5, 2] }, 'p/project.json: "distillation" must be an object ({ "alpha": 0.5, "temperature": 2, "mixup": 0 }), got [0.5,2]'],
      [{ teacher: '' }, 'p/project.json: "teacher" must be the path of a model bundle (relative to the project folder), got ""'],
      [{ distillation: { alpha: 0.5 } }, 'p/project.json: "distillation" needs "teacher": the path of the bundle to distil from'],
    ];
    for (const [raw, message] of cases) expect(failure(raw).message).toBe(message);
    expect(validateProject({ teacher: 'ens', distillation: { alpah: 0.3 } }, 'p/project.json').warnings).toEqual(['p/project.json: unknown key "distillation.alpah" is ignored']);
  });
});

test('train-project exits 2 on a project.json image size its model cannot take', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tagbooru-project-'));
  try {
    await fs.writeFile(path.join(dir, 'project.json'), JSON.stringify({ model: 'test_tiny_dense', image_width: 32, image_height: 32 }));
    const r = await cli(['train-project', dir]);
    expect(r.stderr).toBe(`tagbooru train-project: Expected "image_width" and "image_height" in ${path.join(dir, 'project.json')} of at least 49 for test_tiny_dense but received 32×32\n`);
    expect(r.code).toBe(2);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/** project.json's "adversarial": the defaults the papers use, budgets as fractions, and errors that name the key, the range and what arrived. */
import { describe, expect, test } from 'vitest';
import { TagbooruError } from '../../src/errors.ts';
import { PRESETS, resolvePreset } from '../../src/image/index.ts';
import { parseFraction } from '../../src/option-values.ts';
import { adversarialOptions, describeAdversarial, pixelMap } from '../../src/train/adversarial-config.ts';
import { validateProject } from '../../src/train/project.ts';

const FILE = 'p/project.json';
const adversarial = (a: unknown) => validateProject({ adversarial: a }, FILE).config.adversarial;

function failure(a: unknown): string {
  try {
    validateProject({ adversarial: a }, FILE);
  } catch (e) {
    if (e instanceof TagbooruError && e.code === 'E_USAGE') return e.message;
    throw e;
  }
  throw new Error('expected validateProject to fail');
}

describe('"adversarial" in project.json', () => {
  test('FGSM-RS by default: one step, α = 1.25ε, every sample attacked; "4/255" is ε in pixel units', () => {
    expect(adversarial({ eps: '4/255' })).toEqual({ method: 'fgsm-rs', eps: 4 / 255, steps: 1, step_size: 1.25 * (4 / 255), ratio: 1, goal: 'all-tags' });
    expect(adversarial({ eps: 0.0157, ratio: 0.5 })).toEqual({ method: 'fgsm-rs', eps: 0.0157, steps: 1, step_size: 1.25 * 0.0157, ratio: 0.5, goal: 'all-tags' });
    expect(validateProject({}, FILE).config.adversarial).toBeUndefined();
  });

  test('PGD: 7 steps of 2.5ε/7 unless told; more than one step means PGD', () => {
    expect(adversarial({ eps: '8/255', method: 'pgd' })).toEqual({ method: 'pgd', eps: 8 / 255, steps: 7, step_size: (2.5 * 8) / 255 / 7, ratio: 1, goal: 'all-tags' });
    expect(adversarial({ eps: '8/255', steps: 3, step_size: '2/255' })).toEqual({ method: 'pgd', eps: 8 / 255, steps: 3, step_size: 2 / 255, ratio: 1, goal: 'all-tags' });
    expect(adversarial({ eps: '4/255', goal: 'one-tag' })).toMatchObject({ goal: 'one-tag', hide_share: 0.5 });
  });

  test('one-tag attacks hide with even odds unless hide_share says otherwise; the log line says which', () => {
    const s = adversarial({ eps: '8/255', goal: 'one-tag', hide_share: 0.75 })!;
    expect(s.hide_share).toBe(0.75);
    expect(adversarialOptions(s, PRESETS.deepdanbooru).hideShare).toBe(0.75);
    expect(describeAdversarial(s, 32)).toContain('one tag each (hide 75 %, add 25 %)');
    expect(describeAdversarial(adversarial({ eps: '8/255', goal: 'one-tag' })!, 32)).toContain('one tag each (hide or add)');
  });

  test.each([
    [{ eps: 0 }, 'Expected a number or a fraction like 4/255 in (0, 0.25] for "adversarial.eps" in p/project.json but received 0 of type number'],
    [{ eps: 0.3 }, 'Expected a number or a fraction like 4/255 in (0, 0.25] for "adversarial.eps" in p/project.json but received 0.3 of type number'],
    [{ eps: '80/255' }, 'Expected a number or a fraction like 4/255 in (0, 0.25] for "adversarial.eps" in p/project.json but received "80/255"'],
    [{ eps: '4/0' }, 'received "4/0"'],
    [{ eps: '4 / 255' }, 'received "4 / 255"'],
    [{ eps: true }, 'Expected a number or a fraction like 4/255 in (0, 0.25] for "adversarial.eps" in p/project.json but received true of type boolean'],
    [{ ratio: 0.5 }, 'p/project.json: "adversarial" needs "eps", the L∞ budget in pixel units (e.g. "4/255")'],
    [{ eps: 0.01, steps: 1.5 }, 'Expected an integer ≥ 1 for "adversarial.steps" in p/project.json but received 1.5 of type number'],
    [{ eps: 0.01, steps: 0 }, 'Expected an integer ≥ 1 for "adversarial.steps" in p/project.json but received 0 of type number'],
    [{ eps: 0.01, method: 'fgsm-rs', steps: 3 }, 'Expected 1 with "method": "fgsm-rs" (one gradient pass; "pgd" takes more) for "adversarial.steps" in p/project.json but received 3 of type number'],
    [{ eps: 0.01, method: 'fgsm' }, 'Expected one of fgsm-rs, pgd for "adversarial.method" in p/project.json but received "fgsm"'],
    [{ eps: 0.01, ratio: 1.2 }, 'Expected a number in [0, 1] (the share of each batch trained adversarially) for "adversarial.ratio" in p/project.json but received 1.2 of type number'],
    [{ eps: 0.01, step_size: 2 }, 'Expected a number or a fraction like 4/255 in (0, 1] for "adversarial.step_size" in p/project.json but received 2 of type number'],
    [{ eps: 0.01, epsilon: 0.01 }, 'p/project.json: unknown key "adversarial.epsilon". Known: method, eps, steps, step_size, ratio, goal, hide_share'],
    [{ eps: 0.01, goal: 'one-tag', hide_share: 1.5 }, 'Expected a number in [0, 1] (the odds that a one-tag attack hides a positive rather than adds a negative) for "adversarial.hide_share" in p/project.json but received 1.5 of type number'],
    [{ eps: 0.01, hide_share: 0.7 }, '"adversarial.hide_share" in p/project.json needs "goal": "one-tag" (the all-tags goal draws no tag to hide or add)'],
    [{ eps: 0.01, goal: 'hide' }, 'Expected one of all-tags, one-tag for "adversarial.goal" in p/project.json but received "hide"'],
    ['4/255', 'p/project.json: "adversarial" must be an object ({ "eps": "4/255", "method": "fgsm-rs" | "pgd", "steps": …, "ratio": …, "step_size": … }), got "4/255"'],
  ])('%j is refused', (a, message) => {
    expect(failure(a)).toContain(message);
  });

  test('fractions as people write them', () => {
    expect(parseFraction('--eps', '4/255', 0, 1)).toBe(4 / 255);
    expect(parseFraction('--eps', '.5/10', 0, 1)).toBe(0.05);
    expect(parseFraction('--eps', '0.25', 0, 0.25)).toBe(0.25);
    expect(() => parseFraction('--eps', '0', 0, 1, true)).toThrow('Expected a number or a fraction like 4/255 in (0, 1] for --eps but received "0"');
    expect(parseFraction('--eps', '0', 0, 1)).toBe(0);
    for (const raw of ['1/2/3', '0x1/2', '', '/255', '4/', 'Infinity']) expect(() => parseFraction('--eps', raw, 0, 1)).toThrow(`received "${raw}"`);
  });
});

describe('the budget in pixel units under each preset\'s normalisation', () => {
  test('deepdanbooru feeds pixels in [0, 1]: the identity', () => {
    const m = pixelMap(PRESETS.deepdanbooru);
    m.scale.forEach((s) => expect(s).toBeCloseTo(1, 12));
    expect(m.offset).toEqual([0, 0, 0]);
    expect(adversarialOptions({ method: 'fgsm-rs', eps: 0.01, steps: 1, step_size: 0.0125, ratio: 1, goal: 'all-tags' }, PRESETS.deepdanbooru)).toMatchObject({ eps: 0.01, stepSize: 0.0125, steps: 1, ratio: 1 });
  });

  test('camie-v2 (ImageNet mean and std): input = (p − mean)/std per channel; wd (BGR in 0–255): ×255, channels reversed', () => {
    const camie = pixelMap(resolvePreset('camie-v2'));
    camie.scale.forEach((s, c) => expect(s).toBeCloseTo(1 / [0.229, 0.224, 0.225][c]!, 6));
    camie.offset.forEach((b, c) => expect(b).toBeCloseTo(-[0.485, 0.456, 0.406][c]! / [0.229, 0.224, 0.225][c]!, 6));
    const bgr = pixelMap({ ...resolvePreset('wd'), mean: [10, 20, 30], std: [1, 2, 4] });
    expect(bgr.scale).toEqual([255 / 4, 255 / 2, 255]);
    expect(bgr.offset).toEqual([-30 / 4, -10, -10]);
  });
});

/**
 * Which defence a tagger runs (DESIGN.md decision 15): the bundle's `defence` in tagger.json unless the caller
 * names another (`tag --defence`, `serve --defence`) or `none`. The image layer owns the pixel defences; the
 * learned de-noiser runs ONNX Runtime, so its factory lives here.
 */
import path from 'node:path';
import { BUILTIN_DEFENCES, NO_DEFENCE, createDefence, parseDefenceSpec, seededRandom, type Defence, type DefenceFactory } from '../image/index.ts';
import { DEFAULT_DENOISER_DIR } from '../package.ts';
import type { Bundle } from './bundle.ts';
import { openDenoiser } from './denoiser.ts';

/** A spec and the folder its relative paths (a de-noiser bundle) are resolved against. */
export interface DefenceChoice {
  readonly spec: string;
  readonly baseDir: string;
}

/** Every defence the runtime knows, the de-noiser's bundle path resolved against `baseDir`. */
export function runtimeDefences(baseDir: string): Record<string, DefenceFactory> {
  return {
    ...BUILTIN_DEFENCES,
    denoiser: {
      params: { bundle: { kind: 'text', unit: 'de-noiser bundle folder (tagbooru train-denoiser)', default: DEFAULT_DENOISER_DIR } },
      randomised: false,
      summary: 'a small learned residual de-noiser (differentiable: attacked end to end)',
      create: (p) => openDenoiser(path.resolve(baseDir, String(p.bundle))),
    },
  };
}

/**
 * `override` undefined or null: the bundle's own defence (paths relative to the bundle); a spec: that one (paths
 * relative to the working folder); `none`: no defence. Null when no defence applies.
 */
export function chooseDefence(bundle: Bundle, override?: string | null): DefenceChoice | null {
  const choice = override != null ? { spec: override, baseDir: process.cwd() } : bundle.manifest.defence ? { spec: bundle.manifest.defence, baseDir: bundle.dir } : null;
  return choice && choice.spec.trim() !== NO_DEFENCE ? choice : null;
}

/** The chosen defence, made (a de-noiser opens its sessions); null for none. */
export async function openDefence(choice: DefenceChoice | null, option = 'defence'): Promise<Defence | null> {
  return choice ? createDefence(choice.spec, runtimeDefences(choice.baseDir), option) : null;
}

/** Each image's draws: from `seed` when one is configured (the same image, the same answer), else fresh. */
export function imageRandom(seed: number | null | undefined): () => number {
  return seededRandom(seed ?? Math.floor(Math.random() * 2 ** 32));
}

/** Refuses a bad spec where it was given (a server checks before its workers start), naming `option`. */
export function checkDefence(choice: DefenceChoice | null, option = 'defence'): void {
  if (choice) parseDefenceSpec(choice.spec, runtimeDefences(choice.baseDir), option);
}

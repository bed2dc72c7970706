/** Victims for the attack tests: a spec with known weights, its inference export and its attack graph in real ORT sessions. */
import { buildInputGradientGraph } from '../../src/autodiff/input-gradient.ts';
import { PRESETS, type PreprocessSpec } from '../../src/image/spec.ts';
import { DEFAULT_INPUT, DEFAULT_OUTPUT, exportInference } from '../../src/models/export.ts';
import { inputLayer, type ModelSpec, type Weights } from '../../src/models/spec.ts';
import { pixelMap } from '../../src/robust/pixel-space.ts';
import { createVictim, type Victim } from '../../src/robust/victim.ts';
import { outputWidth } from '../autodiff/_harness.ts';

/** A normalisation that is not the identity: BGR order, per-channel mean and std (camie-v2's). */
export function preprocessFor(spec: ModelSpec, overrides: Partial<PreprocessSpec> = {}): PreprocessSpec {
  const [height, width] = inputLayer(spec).shape;
  return { ...PRESETS['camie-v2'], layout: 'NHWC', channelOrder: 'BGR', width: width, height: height, ...overrides };
}

export function victimOf(spec: ModelSpec, weights: Weights, preprocess: PreprocessSpec = preprocessFor(spec)): Promise<Victim> {
  return createVictim({
    preprocess, tagCount: outputWidth(spec), threads: 1,
    inference: exportInference(spec, weights, { batch: 'N' }),
    io: { input: { name: DEFAULT_INPUT, batch: 'dynamic' }, output: { name: DEFAULT_OUTPUT, activation: 'sigmoid' } },
    attack: buildInputGradientGraph(spec, weights, { batch: 'B', pixels: pixelMap(preprocess) }).model,
    attackWithStep: () => buildInputGradientGraph(spec, weights, { batch: 'B', pixels: pixelMap(preprocess), linfStep: true }).model,
  });
}

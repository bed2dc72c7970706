/** A linear tagger on the flattened image: logits = flatten(x)·W + b (weights `head/kernel`, `head/bias`), no BN, so ∂L/∂x is ±W in closed form. */
import type { ModelSpec } from '../../src/models/index.ts';

export function linearSpec(h: number, w: number, tags: number): ModelSpec {
  return {
    name: 'linear',
    layers: [
      { kind: 'input', name: 'in', shape: [h, w, 3] },
      { kind: 'flatten', name: 'fl', input: 'in' },
      { kind: 'dense', name: 'head', input: 'fl', units: tags, useBias: true },
      { kind: 'sigmoid', name: 'out', input: 'head' },
    ],
    output: 'out',
  };
}

/**
 * An input-transformation defence (step 13; DESIGN.md decision 15): applied to the image at the model's input
 * resolution, before the bundle's normalisation, as a bundle or serve option. The attack suite (src/robust)
 * evaluates each one adaptively: through `backward` when the defence has one (a learned de-noiser), with BPDA
 * (the identity as the backward pass) when it does not, and with EOT over `rng` when it is randomised.
 */
export interface DefenceImage {
  /** RGB, height × width × 3, row-major, values in [0, 1]. */
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

export interface Defence {
  /** As named on the command line and in tagger.json, e.g. `jpeg`, `bit-depth`, `median`. */
  readonly name: string;
  /** The canonical spec it was made from, every parameter written (`jpeg:quality=75`), when made by the registry. */
  readonly spec?: string;
  /** Draws from `rng` on every call: the adaptive attack takes the expectation over transformations (EOT). */
  readonly randomised: boolean;
  apply(image: DefenceImage, rng: () => number): Promise<DefenceImage>;
  /**
   * The vector-Jacobian product at `image` (for the same draw of `rng`), when the defence is differentiable;
   * absent: the attack uses BPDA with the identity (straight-through), the standard approximation for a
   * transformation that keeps the image close to its input.
   */
  backward?(image: DefenceImage, upstream: Float32Array, rng: () => number): Promise<Float32Array>;
  /** Releases what the defence holds (the de-noiser's ONNX Runtime sessions). */
  close?(): Promise<void>;
}

/** An RGB image between preprocessing steps: interleaved HWC, three samples a pixel, 0–255. */
export interface Raster {
  readonly data: Uint8Array | Float32Array;
  readonly width: number;
  readonly height: number;
}

/** Round half to even, as `tf.round` and numpy do (Math.round rounds half up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

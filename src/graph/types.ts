import { InvariantError } from '../errors.ts';
export type Dim = number | string;
export type Shape = readonly Dim[];
export type DType = 'float32' | 'int64' | 'bool';

/** A tensor in a graph under construction: its name and statically known shape. */
export interface Value {
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
}

/** ONNX TensorProto.DataType codes for the dtypes the builder uses. */
export const ONNX_DTYPE: Record<DType, number> = { float32: 1, int64: 7, bool: 9 };

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') throw new InvariantError(`numel: shape [${shape.join(',')}] has a symbolic dim`);
    n *= d;
  }
  return n;
}

/** The product of dims: a number when all are static, else the symbolic product (`N*16`). */
export function dimProduct(dims: Shape): Dim {
  return dims.every((d) => typeof d === 'number') ? numel(dims) : dims.join('*');
}

export function dim(shape: Shape, i: number): number {
  const d = shape[i < 0 ? shape.length + i : i];
  if (typeof d !== 'number') throw new InvariantError(`dim ${i} of [${shape.join(',')}] is not static`);
  return d;
}

/** TEMPORARY experiment switches (performance work); removed once the winners are fixed. */
export const TUNING = {
  bn: 'new' as 'old' | 'new',
  variance: 'raw' as 'centred' | 'raw',
  twoStage: true,
  reluGrad: 'cast-mul' as 'cast-mul' | 'where',
  /** weight gradients with spatial size ≤ this use one GEMM over transposed operands */
  wgTransposeMaxP: 256,
  /** kernels with at least this many taps get their weight gradient as a swapped-axes conv */
  swappedMinTaps: 25,
  fuseAdd: true,
  foldScale: true,
  /** trainable tensors up to this many elements are updated together */
  groupMax: 16384,
  maxpool: 'phases' as 'phases' | 'indices',
};

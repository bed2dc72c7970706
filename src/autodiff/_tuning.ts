/** TEMPORARY experiment switches (performance work); removed once the winners are fixed. */
export const TUNING = {
  bn: 'new' as 'old' | 'new',
  variance: 'centred' as 'centred' | 'raw',
  twoStage: true,
  reluGrad: 'cast-mul' as 'cast-mul' | 'where',
  /** weight gradients with spatial size ≤ this use one GEMM over transposed operands */
  wgTransposeMaxP: 256,
};

export { Graph, OPSET, IR_VERSION } from './builder.ts';
export { float, floats, type Attrs } from './attributes.ts';
export { NCHWC_DOMAIN, blockedConv2d, blockedFlippedKernel, blockedKernel, blockedPays, nchwcConv, reorderInput, reorderOutput, takesBlocked } from './nchwc.ts';
export * from './ops.ts';
export { decodeModel, type ModelProto } from './proto.ts';
export { numel, dim, dimProduct, type Value, type Shape, type Dim, type DType } from './types.ts';

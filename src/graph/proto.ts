// The only import of the ONNX protobuf schema. onnx-proto ships static protobufjs code for ONNX 1.10.
// NOTE: its declarations name protobufjs 6's global `Long` (from @types/long, which protobufjs installs)
// without referencing it; kept in our own declarations so a consumer's `"types": ["node"]` still finds it.
/// <reference types="long" preserve="true" />
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/**
 * The tagger's model.onnx with the two values an out-of-distribution score reads: the logits (the output
 * without its sigmoid) and the globally pooled features of the last feature map, flattened to [N, C]. The
 * original output is untouched. Built in memory when a bundle is opened, so model.onnx stays as exported.
 */
import { decodeModel, type ModelProto } from '../graph/index.ts';
import { findPoolHead } from '../graph/pool-head.ts';
import { addOutputs, encodeModel, namer, nodeAppender } from '../graph/surgery.ts';

export interface OodVariant extends OodValues {
  readonly model: Uint8Array;
}

/** The values an OOD score reads, as found or added in a decoded model. */
export interface OodValues {
  /** Pre-sigmoid logits, or null when the graph does not show them (the probabilities are inverted instead). */
  readonly logits: string | null;
  /** Pooled features [N, C], or null when no global pooling with a linear head can be found (imported models). */
  readonly features: string | null;
  /** Why `features` is null. */
  readonly featuresError: string | null;
}

export function oodVariant(bytes: Uint8Array, output: string): OodVariant {
  const model = decodeModel(bytes);
  const values = addOodValues(model, output, namer(model));
  addOutputs(model, [...(values.logits ? [values.logits] : []), ...(values.features ? [values.features] : [])]);
  return { model: encodeModel(model), ...values };
}

/** Find the logits and add the flattened pooled features to `model` (not yet as outputs). */
export function addOodValues(model: ModelProto, output: string, fresh: (hint: string) => string): OodValues {
  const head = findPoolHead(model, output);
  const node = nodeAppender(model, fresh, 'ood');
  const flatten = (v: string) => node('Flatten', [v], [{ name: 'axis', type: 2, i: 1 }]);

  let features: string | null = null, featuresError: string | null = null;
  if (!head) featuresError = 'the model has no global average pooling before its output';
  else if (head.head.kind === 'unsupported') featuresError = head.head.reason;
  else if (head.head.kind !== 'none') features = flatten(head.pool.output![0]!);
  else if (head.backbone) features = flatten(node('GlobalAveragePool', [head.backbone])); // conv 1×1 → GAP: pool the conv's input
  else featuresError = 'the pooled map is already one channel per tag, so there are no features apart from the logits';

  const logits = head?.logits && head.logits !== output ? head.logits : null;
  return { logits, features, featuresError };
}

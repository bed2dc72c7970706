/**
 * JoyTag (reference/peers.md §5): `model.onnx` + `top_tags.txt` (one tag per line, output order). NCHW 448²,
 * white pad, CLIP mean/std; the model outputs logits, so the bundle applies the sigmoid. Its published
 * operating point is 0.4.
 */
import { readTagsFile } from '../infer/tags-file.ts';
import { labelFile, onnxDraft, pickOnnx } from './onnx-formats.ts';
import type { Draft, ImportContext, Source } from './types.ts';

export async function importJoyTag(source: Source, ctx: ImportContext): Promise<Draft> {
  const model = await pickOnnx(source, ['model.onnx']);
  const tagsFile = await labelFile(source, 'top_tags.txt', 'one tag per line, in output order');
  const tags = await readTagsFile(tagsFile);
  return onnxDraft(model, ctx, { format: 'joytag', preset: 'joytag', tags, thresholds: { default: 0.4 }, activation: 'logits', labelFiles: [tagsFile] });
}

/**
 * SmilingWolf's WD taggers (reference/peers.md §2): `model.onnx` + `selected_tags.csv`. v2 models take a
 * fixed batch of one (`input_1:0` [1,448,448,3] → `predictions_sigmoid`), v3 a dynamic batch; names, layout
 * and size are read from the model. Outputs are probabilities; thresholds 0.35 general / 0.85 character.
 */
import { readSelectedTags } from './labels.ts';
import { labelFile, onnxDraft, pickOnnx } from './onnx-formats.ts';
import type { Draft, ImportContext, Source } from './types.ts';

export const WD_THRESHOLDS = { default: 0.35, categories: { general: 0.35, character: 0.85 } };

export async function importWd(source: Source, ctx: ImportContext): Promise<Draft> {
  const model = await pickOnnx(source, ['model.onnx']);
  const csv = await labelFile(source, 'selected_tags.csv', 'tag_id,name,category,count, one row per output');
  const tags = await readSelectedTags(csv);
  return onnxDraft(model, ctx, { format: 'wd', preset: 'wd', tags, thresholds: WD_THRESHOLDS, activation: 'sigmoid', labelFiles: [csv] });
}

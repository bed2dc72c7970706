/**
 * DeepDanbooru converted to ONNX (tf2onnx exports of v3-20211112: input `input_1`, NHWC [N,512,512,3],
 * probabilities out) with the release's `tags.txt`, and `categories.json` when it is there.
 */
import { applyCategories, readTagsFile } from '../infer/tags-file.ts';
import { labelFile, onnxDraft, pickOnnx } from './onnx-formats.ts';
import type { Draft, ImportContext, Source } from './types.ts';

export async function importDeepDanbooruOnnx(source: Source, ctx: ImportContext): Promise<Draft> {
  const model = await pickOnnx(source);
  const tagsFile = await labelFile(source, 'tags.txt', 'one tag per line, in output order');
  let tags = await readTagsFile(tagsFile);
  const labelFiles = [tagsFile];
  if (source.files.includes('categories.json')) {
    const categories = await labelFile(source, 'categories.json', '');
    tags = await applyCategories(tags, categories);
    labelFiles.push(categories);
  }
  return onnxDraft(model, ctx, { format: 'deepdanbooru-onnx', preset: 'deepdanbooru', tags, thresholds: { default: 0.5 }, activation: 'sigmoid', labelFiles });
}

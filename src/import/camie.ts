/**
 * Camie tagger (reference/peers.md §6). v1: `model_initial.onnx` + `model_initial_metadata.json`, outputs
 * `initial_logits` and `refined_logits` (the refined head is used), black pad, [0,1] NCHW. v2:
 * `camie-tagger-v2.onnx` + `camie-tagger-v2-metadata.json`, pad (124,116,104), ImageNet mean/std. Both
 * output logits; categories come from the metadata's `tag_to_category`.
 */
import path from 'node:path';
import { TagbooruError } from '../errors.ts';
import { readCamieMetadata } from './labels.ts';
import { onnxDraft, pickOnnx } from './onnx-formats.ts';
import type { OnnxInfo } from './onnx-model.ts';
import { sourceFile, type Draft, type ImportContext, type Source } from './types.ts';

/** v1: deepghs' F1-optimal threshold for the refined head (peers.md §6); v2: the macro-F1 profile. */
const DEFAULT_THRESHOLD = { v1: 0.2616, v2: 0.492 };

export function camieMetadataFiles(files: readonly string[]): string[] {
  return files.filter((f) => /(^|[-_])metadata\.json$/i.test(f));
}

/** The refined head when there are several: by name, else the last. */
function refinedOutput(info: OnnxInfo): OnnxInfo['outputs'][number] {
  return info.outputs.find((o) => /refined/i.test(o.name)) ?? info.outputs.at(-1)!;
}

export async function importCamie(source: Source, ctx: ImportContext): Promise<Draft> {
  const metas = camieMetadataFiles(source.files);
  const model = await pickOnnx(source, metas.map((m) => m.replace(/[-_]?metadata\.json$/i, '.onnx')));
  const stem = path.basename(model).replace(/\.onnx$/i, '');
  const metaName = metas.find((m) => m.startsWith(stem)) ?? (metas.length === 1 ? metas[0] : undefined);
  if (!metaName) throw new TagbooruError('E_MODEL', `${source.dir} has no Camie metadata JSON (${stem}_metadata.json or metadata.json)${metas.length > 1 ? `; found ${metas.join(', ')}` : ''}`);
  const metaFile = await sourceFile(source, metaName);
  const meta = await readCamieMetadata(metaFile);
  return onnxDraft(model, ctx, {
    format: `camie-${meta.version}`,
    preset: meta.version === 'v2' ? 'camie-v2' : 'camie',
    tags: meta.tags,
    thresholds: { default: meta.threshold ?? DEFAULT_THRESHOLD[meta.version] },
    activation: 'logits',
    output: refinedOutput,
    labelFiles: [metaFile],
    provenance: { thresholdSource: meta.threshold !== null ? 'metadata' : meta.version === 'v1' ? 'deepghs F1-optimal (refined head)' : 'macro-F1 profile' },
  });
}

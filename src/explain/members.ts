/**
 * An ensemble bundle's members as bundles of their own, in memory: each member's part of the ensemble's graph
 * (its nodes, from the input of its preprocessing to its own output) with its tags and preprocessing, so the
 * explain methods run on a member exactly as on the bundle it was made from.
 */
import fs from 'node:fs/promises';
import { TagbooruError } from '../errors.ts';
import { decodeModel } from '../graph/index.ts';
import { encodeModel, keepOnlyOutput } from '../graph/surgery.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, type Bundle, type BundleManifest } from '../infer/bundle.ts';
import { modelInputs } from '../infer/model-io.ts';

export interface Member {
  readonly bundle: Bundle;
  /** Its weight in the combination (in `random` mode, the odds of its draw), over all members. */
  readonly weight: number;
  /** The ensemble input it reads: an index into modelInputs(ensemble manifest). */
  readonly input: number;
  /** For each of the ensemble's tags, the member's own index of it, or -1 where the member does not know it. */
  readonly own: Int32Array;
}

/** The members of an ensemble bundle; an ensemble written before members recorded their outputs is refused. */
export async function ensembleMembers(ensemble: Bundle): Promise<Member[]> {
  const m = ensemble.manifest;
  const members = m.ensemble?.members ?? [];
  const inputs = modelInputs(m);
  if (members.some((x) => !x.output || !x.tagIndices)) {
    throw new TagbooruError('E_USAGE', `${ensemble.dir} was written by an older tagbooru ensemble that did not record its members' outputs: build it again (tagbooru ensemble ${members.map((x) => x.source).join(' ')} …) to explain it, or explain its member bundles`);
  }
  const bytes = ensemble.model ?? new Uint8Array(await fs.readFile(ensemble.modelPath));
  return members.map((member, k) => {
    const input = inputs.findIndex((i) => i.name === member.input);
    if (input < 0) throw new TagbooruError('E_BUNDLE', `${ensemble.dir}: member ${k + 1} (${member.name}) reads input ${member.input}, which tagger.json does not list`);
    const model = decodeModel(bytes);
    keepOnlyOutput(model, member.output!.name);
    const manifest: BundleManifest = {
      format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: member.name, model: m.model,
      input: { name: member.input, batch: m.input.batch }, output: member.output!,
      preset: 'custom', preprocess: inputs[input]!.preprocess,
      tags: member.tagIndices!.map((i) => m.tags[i]!), thresholds: { default: 0.5 }, provenance: member.provenance,
    };
    const own = new Int32Array(m.tags.length).fill(-1);
    member.tagIndices!.forEach((u, j) => (own[u] = j));
    return { bundle: { dir: `${ensemble.dir} (member ${k + 1}, ${member.name})`, manifest, modelPath: ensemble.modelPath, model: encodeModel(model) }, weight: member.weight, input, own };
  });
}

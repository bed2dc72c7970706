/**
 * The teacher of a distillation run: a bundle (one model or an ensemble) run as `tag` runs it, in its own
 * inference worker, on the very batch the student is about to train on, augmentation included, so its
 * soft targets describe the image the student sees.
 *
 * Input. When the teacher takes the student's tensor (one input of the same size, layout, channel order
 * and normalisation: a train-project bundle at the student's size) the batch goes in as it is. Otherwise
 * each augmented image is re-preprocessed: turned back into 8-bit RGB (what an image file holds) and tagged
 * through the teacher's own preprocessing (its resize kernel, padding, normalisation and layout, and every
 * input of an ensemble), exactly as `tag` prepares a PNG of it. It is not re-augmented at the teacher's
 * size: the pixel ops (noise, JPEG, cutouts) would draw other pixels there, and the targets would describe
 * another image. The price: a teacher larger than the student sees the student's resolution, upscaled.
 *
 * Output. Probabilities as `tag` reports them, back to logits by logit(p) with p clamped to [1e-7, 1 − 1e-7]
 * (|s| ≤ 16.1, far beyond where σ(s/T) moves). Tags are aligned by name: a student tag the teacher lacks
 * gets mask 0 (the hard term alone teaches it); the teacher's other tags are ignored.
 */
import { TagbooruError } from '../errors.ts';
import { inputToRgb, type PreprocessSpec } from '../image/index.ts';
import { toPng } from '../image/encode.ts';
import { logitsOf } from '../infer/ood.ts';
import { BaseTagger, openTaggerSession } from '../infer/tagger.ts';
import type { SoftTargets } from './engine.ts';

export interface Teacher {
  readonly name: string;
  /** How many of the student's tags the teacher knows. */
  readonly known: number;
  /** Whether the student's batch goes in as it is (else it is re-preprocessed; see above). */
  readonly direct: boolean;
  targets(x: Float32Array): Promise<SoftTargets>;
  close(): Promise<void>;
}

export interface StudentInput {
  readonly tags: readonly string[];
  /** The preprocessing the student's tensors follow. */
  readonly spec: PreprocessSpec;
}

/** The same tensor for an image already at the student's size: the geometry and resize kernel then do nothing. */
function sameTensor(a: PreprocessSpec, b: PreprocessSpec): boolean {
  const same = (u: readonly number[], v: readonly number[]) => u.every((x, i) => x === v[i]);
  return a.width === b.width && a.height === b.height && a.layout === b.layout && a.channelOrder === b.channelOrder && a.scale === b.scale && same(a.mean, b.mean) && same(a.std, b.std);
}

export async function openTeacher(dir: string, student: StudentInput, threads?: number): Promise<Teacher> {
  const session = await openTaggerSession(dir, { threads });
  const tagger = new BaseTagger(session);
  const { manifest } = session.bundle;
  const index = new Map(manifest.tags.map((t, i) => [t.name, i]));
  const from = student.tags.map((t) => index.get(t) ?? -1);
  const known = from.filter((i) => i >= 0).length;
  if (known === 0) {
    await tagger.close();
    throw new TagbooruError('E_USAGE', `the teacher ${dir} knows none of the project's ${student.tags.length} tags (it has ${manifest.tags.length}, such as ${manifest.tags.slice(0, 3).map((t) => t.name).join(', ')}): distillation needs tags in common`);
  }
  const direct = session.worker.inputs.length === 1 && sameTensor(manifest.preprocess, student.spec);
  const { spec } = student;
  const per = spec.width * spec.height * 3;
  const nTags = student.tags.length, tTags = manifest.tags.length;

  const probabilities = async (x: Float32Array, count: number): Promise<Float32Array> => {
    if (direct) return tagger.predict(x.slice(), count);
    const images = await Promise.all(Array.from({ length: count }, async (_, i) => ({ name: `batch image ${i}`, data: await toPng(inputToRgb(x, spec, i * per), spec.width, spec.height, 3) })));
    const out = new Float32Array(count * tTags);
    (await tagger.tag(images, { scores: true, batchSize: count })).forEach((r, i) => {
      if (r.error || !r.scores) throw new TagbooruError('E_MODEL', `the teacher ${dir} could not read ${r.file}: ${r.error ?? 'no scores'}`);
      out.set(r.scores, i * tTags);
    });
    return out;
  };

  return {
    name: manifest.name,
    known,
    direct,
    async targets(x) {
      const count = x.length / per;
      const teacherLogits = logitsOf(await probabilities(x, count));
      const logits = new Float32Array(count * nTags), mask = new Float32Array(count * nTags);
      for (let n = 0; n < count; n++) {
        from.forEach((j, k) => {
          if (j < 0) return;
          logits[n * nTags + k] = teacherLogits[n * tTags + j]!;
          mask[n * nTags + k] = 1;
        });
      }
      return { logits, mask };
    },
    close: () => tagger.close(),
  };
}

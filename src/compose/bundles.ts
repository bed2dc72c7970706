/** Composite bundles read from and written to disk: ensembles of member folders, augmented copies, and in-memory views. */
import { readRegularFile } from '../regular-files.ts';
import { readBundle, writeBundle, type Bundle } from '../infer/bundle.ts';
import { uncalibrated } from '../infer/calibration.ts';
import { buildEnsemble, type EnsembleOptions, type MemberSource } from './ensemble.ts';
import { withTta, type TtaOptions } from './tta.ts';

/** The bundle's manifest and model.onnx, as `writeEnsemble` and `writeTta` take them. */
export async function readSource(dir: string): Promise<MemberSource> {
  const b = await readBundle(dir);
  return { where: dir, manifest: b.manifest, model: new Uint8Array(await readRegularFile(b.modelPath)) };
}

/** An ensemble of the bundles in `dirs`, with test-time augmentation on top when asked, written to `out`. */
export async function writeEnsemble(dirs: readonly string[], out: string, options: EnsembleOptions & { tta?: TtaOptions }): Promise<Bundle> {
  const members = await Promise.all(dirs.map(readSource));
  let built = buildEnsemble(members, options);
  if (options.tta) built = withTta(built.manifest, built.model, options.tta, out);
  return writeBundle(out, built.manifest, built.model);
}

/**
 * A copy of the bundle with its views baked into model.onnx. With a tile fit (src/cli/tile-fit.ts), `thresholds`
 * are the ones re-fitted for it, and the bundle's calibration is dropped: the fit calibrates the combined score.
 */
export async function writeTta(source: MemberSource, out: string, tta: TtaOptions, thresholds: Readonly<Record<string, number>> = {}): Promise<Bundle> {
  const raw = uncalibrated(source.manifest);
  const manifest = tta.tiles?.fit ? { ...raw, thresholds: { ...raw.thresholds, tags: { ...raw.thresholds.tags, ...thresholds } } } : source.manifest;
  const built = withTta(manifest, source.model, tta, source.where);
  return writeBundle(out, { ...built.manifest, name: `${source.manifest.name}-tta` }, built.model);
}

/** The bundle with its views built in memory (`tag --tta`): model.onnx is left as it is. */
export async function ttaInMemory(bundle: Bundle, tta: TtaOptions): Promise<Bundle> {
  const built = withTta(bundle.manifest, new Uint8Array(await readRegularFile(bundle.modelPath)), tta, bundle.dir);
  return { ...bundle, manifest: built.manifest, model: built.model };
}

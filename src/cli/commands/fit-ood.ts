import { TagbooruError } from '../../errors.ts';
import { readBundle } from '../../infer/bundle.ts';
import { OOD_METHODS } from '../../infer/ood.ts';
import { K_CANDIDATES, evenlySpaced } from '../../train/knn-fit.ts';
import { DEFAULT_BANK_SIZE, DEFAULT_FLAG_RATE, DEFAULT_SHRINKAGE, collectOodInputs, fitOod, writeOodFit } from '../../train/ood-fit.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { folderOrDatabaseImages } from '../inputs.ts';
import { createProgress } from '../progress.ts';

/** Bank rows at most: 20,000 × 512 float32 features would already be 41 MB. */
const MAX_BANK_SIZE = 20_000;

export const fitOodCommand = defineCommand({
  name: 'fit-ood',
  usage: `fit-ood <bundle> <images folder | training.sqlite> [--method ${OOD_METHODS.join('|')}] [--flag-rate 0.02] [--k n] [--bank-size ${DEFAULT_BANK_SIZE}] [--sample n]`,
  options: {
    method: { type: 'string', placeholder: OOD_METHODS.join('|'), description: 'the score tag applies (default: mahalanobis-l2 when the model exposes pooled features, else energy)' },
    'flag-rate': { type: 'string', placeholder: '0–0.5', description: 'share of in-distribution validation images the threshold may flag', default: String(DEFAULT_FLAG_RATE) },
    shrinkage: { type: 'string', placeholder: '0–1', description: 'share of the feature covariance replaced by its mean variance', default: String(DEFAULT_SHRINKAGE) },
    k: { type: 'string', placeholder: `1–bank size`, description: `the neighbour whose distance is the knn score (default: chosen on the validation images among ${K_CANDIDATES.join(', ')})` },
    'bank-size': { type: 'string', placeholder: `1–${MAX_BANK_SIZE}`, description: 'feature vectors the knn bank keeps at most, evenly spaced through the fitting images', default: String(DEFAULT_BANK_SIZE) },
    sample: { type: 'string', placeholder: 'n ≥ 50', description: 'use n of the images, evenly spaced through them (a training database in id order keeps its mixture) (default: all)' },
  },
  details: 'Give images of the kind the model was trained on (not the images it is evaluated on). Every fifth image is the validation set the thresholds (and knn\'s k) are taken from; the rest fit the Mahalanobis means and covariances (of the pooled features and of the L2-normalised ones) and the knn bank. Every score the model allows is fitted; --method picks the one tag applies. Writes ood.safetensors and the `ood` entry of tagger.json.',

  async run({ values: v, positionals }, io) {
    const [dir, data] = positionals;
    if (!dir || !data) throw new TagbooruError('E_USAGE', `fit-ood: usage: tagbooru ${this.usage}`);
    const method = choiceOption('method', v.method, OOD_METHODS);
    const flagRate = numberOption('flag-rate', v['flag-rate'], 0, 0.5) ?? DEFAULT_FLAG_RATE;
    const shrinkage = numberOption('shrinkage', v.shrinkage, 0, 1) ?? DEFAULT_SHRINKAGE;
    const bankSize = numberOption('bank-size', v['bank-size'], 1, MAX_BANK_SIZE, true) ?? DEFAULT_BANK_SIZE;
    // checked against the bank size before any image is read; fitOod checks it again against the bank's rows
    const k = numberOption('k', v.k, 1, bankSize, true);
    const bundle = await readBundle(dir);
    const sample = numberOption('sample', v.sample, 50, 10_000_000, true);
    const all = await folderOrDatabaseImages(data, io.stdin);
    const files = sample === undefined ? all : evenlySpaced(all, sample);
    const progress = createProgress(io, files.length);
    const inputs = await collectOodInputs(bundle, files, (done) => progress.update(done));
    progress.finish();
    const fit = fitOod(inputs, { method, flagRate, shrinkage, bankSize, k });
    await writeOodFit(bundle, fit);
    const thresholds = Object.entries(fit.thresholds).map(([m, t]) => `${m} ${t.toFixed(3)}`).join(', ');
    const knn = fit.params.knn ? `; knn k = ${fit.params.knn.k} of a ${fit.params.knn.rows}-row bank` : '';
    io.stdout.write(`${bundle.dir}: ood ${fit.method} (thresholds: ${thresholds}${knn}; ${fit.provenance.fitImages as number} images fitted, ${fit.provenance.validationImages as number} validated)\n`);
    return 0;
  },
});

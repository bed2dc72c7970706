import { TagbooruError } from '../../errors.ts';
import { readBundle } from '../../infer/bundle.ts';
import { OOD_METHODS } from '../../infer/ood.ts';
import { DEFAULT_FLAG_RATE, DEFAULT_SHRINKAGE, collectOodInputs, fitOod, writeOodFit } from '../../train/ood-fit.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { folderOrDatabaseImages } from '../inputs.ts';
import { createProgress } from '../progress.ts';

export const fitOodCommand = defineCommand({
  name: 'fit-ood',
  usage: 'fit-ood <bundle> <images folder | training.sqlite> [--method energy|mahalanobis] [--flag-rate 0.02]',
  options: {
    method: { type: 'string', placeholder: OOD_METHODS.join('|'), description: 'the score tag applies (default: mahalanobis when the model exposes pooled features, else energy)' },
    'flag-rate': { type: 'string', placeholder: '0–0.5', description: 'share of in-distribution validation images the threshold may flag', default: String(DEFAULT_FLAG_RATE) },
    shrinkage: { type: 'string', placeholder: '0–1', description: 'share of the feature covariance replaced by its mean variance', default: String(DEFAULT_SHRINKAGE) },
  },
  details: 'Give images of the kind the model was trained on (not the images it is evaluated on). Every fifth image is the validation set the threshold is taken from; the rest fit the Mahalanobis mean and covariance. Writes ood.safetensors and the `ood` entry of tagger.json.',

  async run({ values: v, positionals }, io) {
    const [dir, data] = positionals;
    if (!dir || !data) throw new TagbooruError('E_USAGE', `fit-ood: usage: tagbooru ${this.usage}`);
    const method = choiceOption('method', v.method, OOD_METHODS);
    const flagRate = numberOption('flag-rate', v['flag-rate'], 0, 0.5) ?? DEFAULT_FLAG_RATE;
    const shrinkage = numberOption('shrinkage', v.shrinkage, 0, 1) ?? DEFAULT_SHRINKAGE;
    const bundle = await readBundle(dir);
    const files = await folderOrDatabaseImages(data, io.stdin);
    const progress = createProgress(io, files.length);
    const inputs = await collectOodInputs(bundle, files, (done) => progress.update(done));
    progress.finish();
    const fit = fitOod(inputs, { method, flagRate, shrinkage });
    await writeOodFit(bundle, fit);
    const thresholds = Object.entries(fit.thresholds).map(([m, t]) => `${m} ${t.toFixed(3)}`).join(', ');
    io.stdout.write(`${bundle.dir}: ood ${fit.method} (thresholds: ${thresholds}; ${fit.provenance.fitImages as number} images fitted, ${fit.provenance.validationImages as number} validated)\n`);
    return 0;
  },
});

import { TagbooruError, errorMessage } from '../../errors.ts';
import { decodeImage, preprocessPixels, type DefenceImage } from '../../image/index.ts';
import { readBundle } from '../../infer/bundle.ts';
import { DENOISER_DEFAULTS, trainDenoiser, writeDenoiserBundle, type DenoiserTraining } from '../../train/denoiser.ts';
import { defineCommand, numberOption } from '../command.ts';
import { folderOrDatabaseImages } from '../inputs.ts';
import { resolveModel } from '../model-option.ts';
import { createProgress } from '../progress.ts';

const D = DENOISER_DEFAULTS;

export const trainDenoiserCommand = defineCommand({
  name: 'train-denoiser',
  usage: 'train-denoiser <images folder | training.sqlite> --out <dir> [--steps n] [options]',
  options: {
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'the de-noiser bundle to write (denoiser.json, model.onnx, vjp.onnx, weights)' },
    model: { type: 'string', short: 'm', placeholder: 'bundle', description: 'the tagger whose preprocessing the images go through (default: the bundled model)' },
    steps: { type: 'string', placeholder: 'n', description: 'training steps', default: String(D.steps) },
    batch: { type: 'string', placeholder: 'n', description: 'patches per step', default: String(D.batch) },
    patch: { type: 'string', placeholder: 'px', description: 'side of the square training patches', default: String(D.patch) },
    channels: { type: 'string', placeholder: 'n', description: 'channels of the hidden 3×3 convolutions', default: String(D.channels) },
    depth: { type: 'string', placeholder: 'n', description: '3×3 convolutions in all', default: String(D.depth) },
    lr: { type: 'string', placeholder: 'rate', description: 'Adam learning rate (cosine decay to a tenth)', default: String(D.lr) },
    sigma: { type: 'string', placeholder: '0–0.5', description: 'largest Gaussian noise σ on [0, 1] pixels', default: String(D.sigma) },
    eps: { type: 'string', placeholder: '0–0.5', description: 'largest ±ε of the sign perturbations', default: D.eps.toFixed(5) },
    'max-images': { type: 'string', placeholder: 'n', description: 'images read (the first n)', default: '200' },
    seed: { type: 'string', placeholder: 'n', description: 'patches, corruptions and initial weights', default: String(D.seed) },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads', default: String(D.threads) },
  },
  details: [
    'Trains the `denoiser:bundle=<dir>` defence (docs/defences.md): a residual conv net, output = input + residual, on',
    'patches of the images as the tagger sees them, each corrupted by Gaussian noise or a ±ε sign pattern, with the mean',
    'squared error to the clean patch. Every tenth image is held out; the reconstruction error before and after is printed',
    'and kept in denoiser.json\'s provenance.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [data] = positionals;
    if (!data || !v.out) throw new TagbooruError('E_USAGE', `train-denoiser: usage: tagbooru ${this.usage}`);
    const o: DenoiserTraining = {
      steps: numberOption('steps', v.steps, 1, 1e7, true) ?? D.steps,
      batch: numberOption('batch', v.batch, 1, 1024, true) ?? D.batch,
      patch: numberOption('patch', v.patch, 8, 1024, true) ?? D.patch,
      channels: numberOption('channels', v.channels, 1, 256, true) ?? D.channels,
      depth: numberOption('depth', v.depth, 2, 32, true) ?? D.depth,
      lr: numberOption('lr', v.lr, 1e-7, 1) ?? D.lr,
      sigma: numberOption('sigma', v.sigma, 0, 0.5) ?? D.sigma,
      eps: numberOption('eps', v.eps, 0, 0.5) ?? D.eps,
      seed: numberOption('seed', v.seed, 0, 2 ** 31, true) ?? D.seed,
      threads: numberOption('threads', v.threads, 1, 256, true) ?? D.threads,
    };
    const maxImages = numberOption('max-images', v['max-images'], 1, 1e6, true) ?? 200;
    const spec = (await readBundle(resolveModel(v.model, io.env))).manifest.preprocess;
    if (o.patch > Math.min(spec.width, spec.height)) throw new TagbooruError('E_USAGE', `Expected --patch of at most ${Math.min(spec.width, spec.height)} (the tagger's input) but received ${o.patch}`);
    const files = (await folderOrDatabaseImages(data, io.stdin)).slice(0, maxImages);
    const images: DefenceImage[] = [];
    for (const file of files) {
      try {
        images.push(preprocessPixels(await decodeImage(file), spec));
      } catch (e) {
        io.stderr.write(`skipped ${file}: ${errorMessage(e)}\n`);
      }
    }
    if (images.length < 2) throw new TagbooruError('E_USAGE', `train-denoiser needs at least 2 images; ${data} gave ${images.length}`);
    const heldOut = images.filter((_, i) => i % 10 === 9), train = images.filter((_, i) => i % 10 !== 9);
    const progress = createProgress(io, o.steps);
    const started = Date.now();
    const trained = await trainDenoiser(train, heldOut, o, (step, loss) => {
      progress.update(step);
      if (step % 100 === 0) progress.log(`step ${step}: loss ${loss.toFixed(6)}`);
    });
    progress.finish();
    const { heldOut: r } = trained;
    const provenance = {
      command: `tagbooru train-denoiser ${data} --out ${v.out}`, training: o, images: { train: train.length, heldOut: heldOut.length, size: [spec.width, spec.height] },
      seconds: Math.round((Date.now() - started) / 1000), finalLoss: trained.losses.at(-1), heldOutReconstruction: r, trainedAt: new Date().toISOString(),
    };
    await writeDenoiserBundle(v.out, trained, provenance);
    io.stdout.write(`${v.out}: held-out mean squared error ${r.noisyMse.toExponential(3)} corrupted → ${r.denoisedMse.toExponential(3)} de-noised (${r.patches} patches)\n`);
    return 0;
  },
});

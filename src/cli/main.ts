/** The CLI entry: the command table, help, and the one place errors become exit statuses. */
import { TagbooruError, errorMessage, type ErrorCode } from '../errors.ts';
import { VERSION } from '../package.ts';
import { helpText, parse, type CommandEntry, type Io } from './command.ts';

/** The command table. A command's module (and all it imports) is loaded only when that command runs. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: 'tag', summary: 'Tag image files, folders, or a list of paths on stdin (`-`).', load: async () => (await import('./commands/tag.ts')).tagCommand },
  { name: 'evaluate', summary: 'DeepDanbooru-compatible evaluation: print the tags of each image in tag order.', load: async () => (await import('./commands/evaluate.ts')).evaluateCommand },
  { name: 'init-model', summary: 'Write a model bundle with freshly initialised weights (a benchmark subject or a training start).', load: async () => (await import('./commands/init-model.ts')).initModelCommand },
  { name: 'serve', summary: 'Serve a model over HTTP: danbooru/autotagger\'s POST /evaluate, a JSON API and a web UI.', load: async () => (await import('./commands/serve.ts')).serveCommand },
  { name: 'import', summary: 'Import a DeepDanbooru release, WD, JoyTag or Camie model into the model store.', load: async () => (await import('./commands/import.ts')).importCommand },
  { name: 'pull', summary: 'Download a known model (WD v2/v3, JoyTag, Camie v2, DeepDanbooru) or a hub repo, then import it.', load: async () => (await import('./commands/pull.ts')).pullCommand },
  { name: 'ensemble', summary: 'Combine model bundles into one ensemble bundle: one graph, one session, tags aligned by name.', load: async () => (await import('./commands/ensemble.ts')).ensembleCommand },
  { name: 'tta', summary: 'Write a copy of a bundle with test-time augmentation (flip, scales) baked into its graph.', load: async () => (await import('./commands/ensemble.ts')).ttaCommand },
  { name: 'models', summary: 'List the models in the store (name, source format, tags, input size, preset).', load: async () => (await import('./commands/models.ts')).modelsCommand },
  { name: 'info', summary: 'Describe a model: tags per category, input spec, preset, parameters, file size, provenance.', load: async () => (await import('./commands/info.ts')).infoCommand },
  { name: 'make-dataset', summary: 'Generate a training dataset with exact tags and masks (synthetic DiceBear character portraits).', load: async () => (await import('./commands/make-dataset.ts')).makeDatasetCommand },
  { name: 'download-tags', summary: 'Download the most-used Danbooru tags into a project: tags.txt, categories.json (as DeepDanbooru).', load: async () => (await import('./commands/download-tags.ts')).downloadTagsCommand },
  { name: 'create-project', summary: 'Create a project folder: DeepDanbooru\'s project.json defaults, or one ready to train from images with caption files (--from-folder).', load: async () => (await import('./commands/project.ts')).createProjectCommand },
  { name: 'make-training-database', summary: 'Build a training database (DeepDanbooru\'s posts table) from a DanbooruDownloader SQLite, a metadata dump, or a folder.', load: async () => (await import('./commands/make-training-database.ts')).makeTrainingDatabaseCommand },
  { name: 'train-project', summary: 'Train the project\'s model on its training database; resumes from the last checkpoint.', load: async () => (await import('./commands/project.ts')).trainProjectCommand },
  { name: 'evaluate-project', summary: 'DeepDanbooru\'s evaluate-project: tag images with the project\'s trained model.', load: async () => (await import('./commands/project.ts')).evaluateProjectCommand },
  { name: 'train-denoiser', summary: 'Train the learned de-noiser defence (denoiser:bundle=<dir>) on clean images.', load: async () => (await import('./commands/train-denoiser.ts')).trainDenoiserCommand },
  { name: 'fit-ood', summary: 'Fit a bundle\'s out-of-distribution score and threshold on in-distribution images.', load: async () => (await import('./commands/fit-ood.ts')).fitOodCommand },
  { name: 'calibrate', summary: 'Fit per-tag score calibration (temperature, Platt, isotonic) on a database\'s validation split; re-fits the thresholds.', load: async () => (await import('./commands/calibrate.ts')).calibrateCommand },
  { name: 'metrics', summary: 'Score a model on labelled images: per-tag and overall precision, recall, F1 and mAP; calibration (ECE, Brier).', load: async () => (await import('./commands/metrics.ts')).metricsCommand },
  { name: 'grad-cam', summary: 'Where is each tag? Maps, masks and boxes per tag, in DeepDanbooru\'s grad-cam layout.', load: async () => (await import('./commands/grad-cam.ts')).gradCamCommand },
  { name: 'attack', summary: 'Adversarial examples against a model (PGD, APGD, Square; naive or adaptive through a defence), with a report per image.', load: async () => (await import('./commands/attack.ts')).attackCommand },
  { name: 'maps-eval', summary: 'Score tag maps against ground-truth masks: pointing game and mIoU per method and per tag.', load: async () => (await import('./commands/maps-eval.ts')).mapsEvalCommand },
];

/** `closedOutput`: 128 + SIGPIPE, what `cat` killed by a closed pipe ends with, so `set -o pipefail` sees it alike. */
export const EXIT = { ok: 0, partial: 1, usage: 2, closedOutput: 141 } as const;

const EXIT_BY_CODE: Record<ErrorCode, number> = { E_USAGE: 2, E_BUNDLE: 2, E_MODEL: 2, E_IMAGE: 1, E_IO: 1, E_WORKER: 1, E_INTERNAL: 1 };

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'tagbooru — multi-label image tagging (DeepDanbooru, WD and friends) on ONNX Runtime',
    '',
    'Usage: tagbooru <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    '',
    'Run `tagbooru <command> --help` for a command\'s options.',
    'Exit status: 0 success; 1 some inputs were skipped (each reported on stderr); 2 usage error.',
  ].join('\n');
}

export async function main(argv: string[], rawIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd(), env: process.env }): Promise<number> {
  const { io, failure } = watchStdout(rawIo);
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${overview()}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`tagbooru ${VERSION}\n`);
    return EXIT.ok;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`tagbooru: unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return EXIT.usage;
  }
  try {
    // inside the try: a module that fails to load is reported like any other failure of its command
    const command = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`${helpText(command, entry.summary)}\n`);
      return EXIT.ok;
    }
    const status = await command.run(parse(command, rest), io);
    return failure() ? closedOutputStatus(failure(), io, name) : status; // the last write failed after the command returned
  } catch (e) {
    if (e instanceof OutputClosed) return closedOutputStatus(failure(), io, name);
    const code = e instanceof TagbooruError ? e.code : 'E_INTERNAL';
    io.stderr.write(`tagbooru ${name}: ${errorMessage(e)}\n`);
    if (code === 'E_INTERNAL' && io.env.TAGBOORU_DEBUG) io.stderr.write(`${(e as Error).stack}\n`);
    return EXIT_BY_CODE[code];
  }
}

/** A write to stdout after its reader went away: the command stops, and main ends quietly (see `watchStdout`). */
class OutputClosed extends Error {}

/**
 * A reader that stops early (`| head`) closes stdout, and the next write fails with EPIPE on the stream. From
 * then on every write throws `OutputClosed`, so a command stops at its next line of output (closing its
 * tagger on the way out) instead of tagging the rest of a folder for nobody or dying on an unhandled error.
 */
function watchStdout(io: Io): { io: Io; failure: () => NodeJS.ErrnoException | undefined } {
  let failure: NodeJS.ErrnoException | undefined;
  io.stdout.on('error', (e: NodeJS.ErrnoException) => (failure ??= e));
  const write = (...args: Parameters<NodeJS.WritableStream['write']>) => {
    if (failure) throw new OutputClosed(failure.message);
    return (io.stdout.write as (...a: typeof args) => boolean)(...args);
  };
  const stdout = new Proxy(io.stdout, { get: (target, key) => (key === 'write' ? write : Reflect.get(target, key, target) as unknown) });
  return { io: { ...io, stdout }, failure: () => failure };
}


/** EPIPE is the reader's choice and ends quietly; any other stdout failure (a full disk, EIO) is reported. */
function closedOutputStatus(e: NodeJS.ErrnoException | undefined, io: Io, name: string): number {
  if (e?.code === 'EPIPE') return EXIT.closedOutput;
  io.stderr.write(`tagbooru ${name}: cannot write to stdout: ${e?.message ?? 'closed'}\n`);
  return EXIT.partial;
}

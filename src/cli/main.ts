/** The CLI entry: the command table, help, and the one place errors become exit statuses. */
import { TagbooruError, errorMessage, type ErrorCode } from '../errors.ts';
import { helpText, parse, type Command, type Io } from './command.ts';
import { downloadTagsCommand } from './commands/download-tags.ts';
import { evaluateCommand } from './commands/evaluate.ts';
import { gradCamCommand } from './commands/grad-cam.ts';
import { mapsEvalCommand } from './commands/maps-eval.ts';
import { importCommand } from './commands/import.ts';
import { infoCommand } from './commands/info.ts';
import { initModelCommand } from './commands/init-model.ts';
import { makeDatasetCommand } from './commands/make-dataset.ts';
import { makeTrainingDatabaseCommand } from './commands/make-training-database.ts';
import { metricsCommand } from './commands/metrics.ts';
import { modelsCommand } from './commands/models.ts';
import { createProjectCommand, evaluateProjectCommand, trainProjectCommand } from './commands/project.ts';
import { serveCommand } from './commands/serve.ts';
import { tagCommand } from './commands/tag.ts';

export const COMMANDS = [tagCommand, evaluateCommand, initModelCommand, serveCommand, importCommand, modelsCommand, infoCommand, makeDatasetCommand, downloadTagsCommand, createProjectCommand, makeTrainingDatabaseCommand, trainProjectCommand, evaluateProjectCommand, metricsCommand, gradCamCommand, mapsEvalCommand] as unknown as readonly Command[];

export const VERSION = '0.1.0';

export const EXIT = { ok: 0, partial: 1, usage: 2 } as const;

const EXIT_BY_CODE: Record<ErrorCode, number> = { E_USAGE: 2, E_BUNDLE: 2, E_MODEL: 2, E_IMAGE: 1, E_IO: 1, E_INTERNAL: 1 };

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

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd(), env: process.env }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${overview()}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`tagbooru ${VERSION}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`tagbooru: unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`${helpText(command)}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(parse(command, rest), io);
  } catch (e) {
    const code = e instanceof TagbooruError ? e.code : 'E_INTERNAL';
    io.stderr.write(`tagbooru ${name}: ${errorMessage(e)}\n`);
    if (code === 'E_INTERNAL' && io.env.TAGBOORU_DEBUG) io.stderr.write(`${(e as Error).stack}\n`);
    return EXIT_BY_CODE[code];
  }
}

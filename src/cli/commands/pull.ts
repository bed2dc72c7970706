/** `tagbooru pull <name | owner/repo[@revision]>`: download a model and import it into the store. */
import { TagbooruError, expectNumberInRange } from '../../errors.ts';
import { KNOWN_MODELS } from '../../import/known-models.ts';
import { DEFAULT_HUB_URL, pullModel } from '../../import/pull.ts';
import { defineCommand } from '../command.ts';
import { createProgress, type Progress } from '../progress.ts';
import { importSummary } from './import.ts';

const MiB = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;

function knownTable(): string {
  const width = Math.max(...Object.keys(KNOWN_MODELS).map((n) => n.length)) + 2;
  return Object.entries(KNOWN_MODELS).map(([name, m]) => `  ${name.padEnd(width)} ${m.summary}`).join('\n');
}

export const pullCommand = defineCommand({
  name: 'pull',
  usage: 'pull <known name | owner/repo[@revision]> [--revision <rev>] [--hub-url <url>] [--name <name>] [--dest <folder>] [--force]',
  options: {
    revision: { type: 'string', placeholder: 'rev', description: 'branch, tag or commit (default: the table\'s, else main)' },
    'hub-url': { type: 'string', placeholder: 'url', description: `a hub mirror with Hugging Face's URL layout (default: $TAGBOORU_HUB_URL, else ${DEFAULT_HUB_URL})` },
    name: { type: 'string', short: 'n', placeholder: 'name', description: 'store name (default: the known name, or the repo\'s name)' },
    dest: { type: 'string', placeholder: 'folder', description: 'keep the downloaded files in this folder (default: a folder in the store, removed after the import)' },
    force: { type: 'boolean', description: 'replace a stored model of the same name' },
  },
  details: [
    'Known models:',
    knownTable(),
    '',
    'For another hub repo the layout is found from its label file: selected_tags.csv (WD), top_tags.txt (JoyTag),',
    '<repo>-metadata.json or model_initial_metadata.json (Camie).',
    'Downloads resume where they stopped (HTTP Range); sizes are checked, and sha256 where published.',
    'Environment: HF_TOKEN or TAGBOORU_HUB_TOKEN, an access token for gated or private repos (sent to the hub only);',
    'TAGBOORU_HUB_URL, a mirror; TAGBOORU_GITHUB_URL, where GitHub release assets are fetched from.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [spec] = positionals;
    if (!spec || positionals.length > 1) throw new TagbooruError('E_USAGE', 'give one known model name or hub repo (owner/name[@revision]); see `tagbooru pull --help`');
    const backoff = io.env.TAGBOORU_HTTP_BACKOFF_MS;
    let progress: Progress | undefined, current = '';
    const endBar = () => {
      progress?.finish();
      progress = undefined;
    };
    const result = await pullModel(spec, {
      name: v.name,
      revision: v.revision,
      hubUrl: v['hub-url'],
      dest: v.dest,
      force: v.force,
      backoffMs: backoff === undefined ? undefined : expectNumberInRange('TAGBOORU_HTTP_BACKOFF_MS', Number(backoff), 0, 600_000),
      onStep: io.stderr.isTTY ? (m) => (endBar(), io.stderr.write(`${m}…\n`)) : undefined,
      onRetry: (m) => (progress ? progress.log(`retrying: ${m}`) : io.stderr.write(`retrying: ${m}\n`)),
      onBytes: (file, done, total) => {
        if (file !== current) {
          endBar();
          current = file;
          // label files take a moment; a bar is for the model
          if (total !== undefined && total >= 2 ** 20) progress = createProgress(io, MiB(total), 'MiB');
        }
        progress?.update(MiB(done));
      },
    }, io.env);
    endBar();
    io.stdout.write(importSummary(`pulled ${result.origin} →`, result));
    return 0;
  },
});

/** `tagbooru download-tags <dir>`: DeepDanbooru's tag lists from Danbooru's API, with its file formats. */
import path from 'node:path';
import { TagbooruError } from '../../errors.ts';
import { parseNumber } from '../../option-values.ts';
import { CLIENT_DEFAULTS, createDanbooruClient, isLoopback, normaliseBaseUrl } from '../../danbooru/client.ts';
import { DOWNLOAD_DEFAULTS, downloadTagsProject } from '../../danbooru/project.ts';
import { CATEGORY_NAMES, RATING_SCHEME_NAMES, type CategoryName } from '../../danbooru/tags.ts';
import { choiceOption, defineCommand, listOption, numberOption } from '../command.ts';
import { createProgress } from '../progress.ts';

function categoryList(raw: string[] | undefined): CategoryName[] | undefined {
  const names = listOption(raw);
  if (!names) return undefined;
  if (names.length === 0) throw new TagbooruError('E_USAGE', `Expected a list of ${CATEGORY_NAMES.join(', ')} for --categories but received "${raw!.join(',')}"`);
  return names.map((n) => choiceOption('categories', n, CATEGORY_NAMES)!);
}

export const downloadTagsCommand = defineCommand({
  name: 'download-tags',
  usage: 'download-tags <project dir> [options]',
  options: {
    limit: { type: 'string', placeholder: 'n', description: 'tags kept per category', default: String(DOWNLOAD_DEFAULTS.limit) },
    'minimum-post-count': { type: 'string', placeholder: 'n', description: 'keep tags on at least n posts', default: String(DOWNLOAD_DEFAULTS.minimumPostCount) },
    categories: { type: 'string', multiple: true, placeholder: 'list', description: `comma list of ${CATEGORY_NAMES.join(',')}; tags.txt keeps that order (default: ${DOWNLOAD_DEFAULTS.categories.join(',')})` },
    'rating-scheme': { type: 'string', placeholder: '4|3', description: 'system tags: 4 = rating:general/sensitive/questionable/explicit, 3 = pre-2022 rating:safe/questionable/explicit', default: DOWNLOAD_DEFAULTS.ratingScheme },
    overwrite: { type: 'boolean', description: 'replace an existing tags.txt' },
    'with-relations': { type: 'boolean', description: 'also save active tag aliases and implications among the kept tags' },
    username: { type: 'string', placeholder: 'login', description: 'Danbooru login (or DANBOORU_USERNAME); optional' },
    'api-key': { type: 'string', placeholder: 'key', description: 'Danbooru API key (or DANBOORU_API_KEY), sent by HTTP basic auth' },
    'base-url': { type: 'string', placeholder: 'url', description: 'a Danbooru-compatible site', default: CLIENT_DEFAULTS.baseUrl },
    timeout: { type: 'string', placeholder: 'seconds', description: 'per request', default: String(CLIENT_DEFAULTS.timeoutMs / 1000) },
    retries: { type: 'string', placeholder: 'n', description: 'retries on 429, 5xx, timeouts and network errors, with exponential backoff', default: String(CLIENT_DEFAULTS.retries) },
  },
  details: [
    'Files are written only after every download succeeds. Prefer the environment variables to --api-key, which',
    'other users can read in the process list. TAGBOORU_HTTP_BACKOFF_MS sets the first retry delay (default 1000).',
    'Exit status: 0 done, 1 a download or write failed (nothing is written), 2 a usage error or an existing tags.txt.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    if (positionals.length !== 1) throw new TagbooruError('E_USAGE', 'download-tags: give one project folder');
    const dir = path.resolve(io.cwd, positionals[0]!);
    const limit = numberOption('limit', v.limit, 1, 1_000_000, true);
    const minimumPostCount = numberOption('minimum-post-count', v['minimum-post-count'], 0, 1e9, true);
    const categories = categoryList(v.categories) ?? DOWNLOAD_DEFAULTS.categories;
    const ratingScheme = choiceOption('rating-scheme', v['rating-scheme'], RATING_SCHEME_NAMES);
    const timeout = numberOption('timeout', v.timeout, 0.001, 3600);
    const backoff = io.env.TAGBOORU_HTTP_BACKOFF_MS;
    const username = v.username ?? (io.env.DANBOORU_USERNAME || undefined);
    const apiKey = v['api-key'] ?? (io.env.DANBOORU_API_KEY || undefined);
    const base = normaliseBaseUrl(v['base-url'] ?? CLIENT_DEFAULTS.baseUrl);
    if (username !== undefined && base.protocol === 'http:' && !isLoopback(base)) {
      io.stderr.write(`warning: ${base.host} is plain http; the API key is sent unencrypted\n`);
    }

    const total = (limit ?? DOWNLOAD_DEFAULTS.limit) * categories.length;
    const progress = createProgress(io, total, 'tags');
    const client = createDanbooruClient({
      baseUrl: base.href,
      username,
      apiKey,
      timeoutMs: timeout === undefined ? undefined : timeout * 1000,
      retries: numberOption('retries', v.retries, 0, 100, true),
      backoffMs: backoff === undefined ? undefined : parseNumber('TAGBOORU_HTTP_BACKOFF_MS', backoff, 0, 600_000),
      onRetry: (message) => progress.log(`retrying: ${message}`),
    });
    let finished = 0, relationLine = false;
    const summary = await downloadTagsProject(dir, client, {
      limit,
      minimumPostCount,
      categories,
      ratingScheme,
      overwrite: v.overwrite,
      withRelations: v['with-relations'],
      onPage: (_, kept) => progress.update(finished + kept),
      onCategory: (category, count) => {
        finished += limit ?? DOWNLOAD_DEFAULTS.limit;
        progress.update(finished);
        progress.log(`${category}: ${count} tags`);
      },
      onRelations: (kind, seen, kept) => {
        relationLine = io.stderr.isTTY === true;
        if (relationLine) io.stderr.write(`\r${kind}: ${seen} read, ${kept} kept\x1b[K`);
      },
    }).finally(() => {
      progress.finish();
      if (relationLine) io.stderr.write('\n');
    });

    const counts = Object.entries(summary.counts).map(([c, n]) => `${n} ${c}`);
    const relations = Object.entries(summary.relations).map(([k, n]) => `${n} ${k}`);
    io.stdout.write(`${path.join(summary.dir, 'tags.txt')}: ${[...counts, `${summary.system} system`].join(', ')} tags${relations.length ? `; ${relations.join(', ')}` : ''}\n`);
    return 0;
  },
});

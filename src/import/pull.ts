/**
 * `pullModel(spec)`: download a model from its hub (or GitHub release) and import it into the store. The
 * spec is a name from the known-models table or a hub repo `owner/name[@revision]`, whose layout is found
 * by asking which label file it has. Downloads resume; the product goes online only here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isLoopback, normaliseBaseUrl } from '../danbooru/client.ts';
import { TagbooruError } from '../errors.ts';
import { createHubClient, type HubClient, type HubClientOptions } from './hub.ts';
import { importModel, type ImportResult } from './index.ts';
import { KNOWN_MODELS, knownByRepo, knownModel, type KnownFile, type KnownModel, type KnownModels } from './known-models.ts';
import { findStoredModel, storeHome, validateName } from './store.ts';
import type { ImportFormat } from './types.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const DEFAULT_GITHUB_URL = 'https://github.com';

export interface PullOptions extends Partial<Pick<HubClientOptions, 'fetch' | 'retries' | 'backoffMs' | 'stallMs' | 'onRetry'>> {
  /** Store name; default: the known name, or the repo's name. */
  readonly name?: string;
  /** Overrides the table's revision or the spec's `@revision`. */
  readonly revision?: string;
  /** Default: `TAGBOORU_HUB_URL`, else https://huggingface.co. */
  readonly hubUrl?: string;
  /** Where GitHub release assets are fetched; default: `TAGBOORU_GITHUB_URL`, else https://github.com. */
  readonly githubUrl?: string;
  /** Default: `TAGBOORU_HUB_TOKEN`, else `HF_TOKEN`. Sent to the hub only. */
  readonly token?: string;
  /** Keep the downloaded files here; default: `<store>/downloads/<name>`, removed after the import. */
  readonly dest?: string;
  /** Replace a stored model of the same name. */
  readonly force?: boolean;
  readonly catalog?: KnownModels;
  readonly onStep?: (message: string) => void;
  /** Told as each file's bytes arrive. */
  readonly onBytes?: (file: string, done: number, total: number | undefined) => void;
}

export interface PullResult extends ImportResult {
  /** `owner/name@revision`: where the files came from. */
  readonly origin: string;
  /** The folder holding the downloaded files, or null when it was removed after the import. */
  readonly downloads: string | null;
}

const REPO = /^([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@(.+))?$/;

/** Layouts of a hub repo, tried in order: the first whose label file exists decides the files and importer. */
function layouts(repoName: string): { label: string; model: string; format: ImportFormat }[] {
  return [
    { label: 'selected_tags.csv', model: 'model.onnx', format: 'wd' },
    { label: 'top_tags.txt', model: 'model.onnx', format: 'joytag' },
    { label: `${repoName}-metadata.json`, model: `${repoName}.onnx`, format: 'camie' },
    { label: 'model_initial_metadata.json', model: 'model_initial.onnx', format: 'camie' },
  ];
}

function fileUrl(model: KnownModel, file: string, bases: Hosts['bases']): URL {
  const [owner, repo] = model.repo.split('/').map(encodeURIComponent);
  const rest = model.host === 'hub'
    ? `${owner}/${repo}/resolve/${encodeURIComponent(model.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`
    : `${owner}/${repo}/releases/download/${encodeURIComponent(model.revision)}/${encodeURIComponent(file)}`;
  return new URL(rest, bases[model.host]);
}

/** What an HTTP failure means for one file of one repo. */
function explainer(model: KnownModel, file: string, tokenSent: boolean): (status: number) => string {
  return (status) => {
    if (status === 401 || status === 403) {
      return tokenSent
        ? `The hub refused the token for ${model.repo}: check that it is valid and has access (gated repos need their terms accepted on the hub first)`
        : `${model.repo} may be gated or private: accept its terms on the hub, then set HF_TOKEN (or TAGBOORU_HUB_TOKEN) to an access token. A misspelt repo gives the same answer`;
    }
    if (status === 404) return `No ${file} in ${model.repo} at revision "${model.revision}": check the repo name, the revision and the file`;
    return '';
  };
}

function withRevision(model: KnownModel, revision: string | undefined): KnownModel {
  if (revision === undefined || revision === model.revision) return model;
  if (model.host === 'github') throw new TagbooruError('E_USAGE', `${model.repo} release ${model.revision} is one entry of the table; other releases have their own names (see \`tagbooru pull --help\`)`);
  // sizes and checksums belong to the table's revision
  return { ...model, revision, files: model.files.map((f) => ({ name: f.name })) };
}

async function detectLayout(repo: string, revision: string, h: Hosts, step: (m: string) => void): Promise<KnownModel> {
  const repoName = repo.split('/')[1]!;
  const tried: string[] = [];
  for (const layout of layouts(repoName)) {
    const probe: KnownModel = { host: 'hub', repo, revision, files: [], format: layout.format, summary: '' };
    step(`looking for ${layout.label} in ${repo}@${revision}`);
    if (await h.clients.hub.exists(fileUrl(probe, layout.label, h.bases), explainer(probe, layout.label, h.tokenSent))) {
      return { ...probe, files: [{ name: layout.model }, { name: layout.label }], summary: `${repo} (${layout.format}, detected)` };
    }
    tried.push(layout.label);
  }
  throw new TagbooruError('E_MODEL', `${repo}@${revision} has none of the label files tagbooru can import (${tried.join(', ')}); check the repo name and revision, or download it by hand and use \`tagbooru import\``);
}

interface Hosts {
  readonly bases: { readonly hub: URL; readonly github: URL };
  readonly clients: Readonly<Record<KnownModel['host'], HubClient>>;
  readonly tokenSent: boolean;
}

/** Base URLs, the token and one client per host, from the options over the environment. */
function hosts(options: PullOptions, env: NodeJS.ProcessEnv): Hosts {
  const bases = {
    hub: normaliseBaseUrl(options.hubUrl ?? (env.TAGBOORU_HUB_URL || DEFAULT_HUB_URL), '--hub-url', 'put a token in HF_TOKEN instead'),
    github: normaliseBaseUrl(options.githubUrl ?? (env.TAGBOORU_GITHUB_URL || DEFAULT_GITHUB_URL), 'TAGBOORU_GITHUB_URL', 'remove them'),
  };
  const token = options.token ?? (env.TAGBOORU_HUB_TOKEN || env.HF_TOKEN || undefined);
  if (token && bases.hub.protocol === 'http:' && !isLoopback(bases.hub)) {
    throw new TagbooruError('E_USAGE', `${bases.hub.host} is plain http: the hub token would travel unencrypted. Use an https --hub-url, or unset HF_TOKEN / TAGBOORU_HUB_TOKEN`);
  }
  const { fetch, retries, backoffMs, stallMs, onRetry } = options;
  const hub = createHubClient({ fetch, retries, backoffMs, stallMs, onRetry, token, tokenOrigin: bases.hub.origin });
  // the hub token is for the hub: release assets are fetched without it, even from a mirror on the same origin
  const github = createHubClient({ fetch, retries, backoffMs, stallMs, onRetry });
  return { bases, clients: { hub, github }, tokenSent: token !== undefined };
}

/** A known name, a known model's repo, or another repo whose layout is detected: the name and what to fetch. */
async function resolveSpec(spec: string, options: PullOptions, h: Hosts): Promise<[string, KnownModel]> {
  const catalog = options.catalog ?? KNOWN_MODELS;
  const known = knownModel(spec, catalog);
  if (known) return [spec, withRevision(known, options.revision)];
  const m = REPO.exec(spec);
  if (!m) throw new TagbooruError('E_USAGE', `Unknown model "${spec}". Known: ${Object.keys(catalog).join(', ')}; or give a hub repo as owner/name[@revision]`);
  const [, repo, atRevision] = m as unknown as [string, string, string | undefined];
  if (atRevision !== undefined && options.revision !== undefined && atRevision !== options.revision) {
    throw new TagbooruError('E_USAGE', `${spec} names revision "${atRevision}" but --revision says "${options.revision}"; give one`);
  }
  const revision = options.revision ?? atRevision;
  const entry = knownByRepo(repo, catalog);
  if (entry) return [entry[0], withRevision(entry[1], revision)];
  return [repo.split('/')[1]!, await detectLayout(repo, revision ?? 'main', h, (m) => options.onStep?.(m))];
}

export async function pullModel(spec: string, options: PullOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<PullResult> {
  const h = hosts(options, env);
  const [known, model] = await resolveSpec(spec, options, h);
  const name = validateName(options.name ?? known);
  if (!options.force && findStoredModel(name, env)) {
    throw new TagbooruError('E_USAGE', `the store already has a model named "${name}"; pass --force to download and replace it, or --name to choose another`);
  }

  const dir = path.resolve(options.dest ?? path.join(storeHome(env), 'downloads', name));
  fs.mkdirSync(dir, { recursive: true });
  for (const file of model.files) await fetchFile(model, file, dir, h, options);

  const archive = model.files.length === 1 && /\.zip$/i.test(model.files[0]!.name);
  const source = archive ? path.join(dir, path.basename(model.files[0]!.name)) : dir;
  const from = model.host === 'hub' ? new URL(model.repo, h.bases.hub).href : fileUrl(model, model.files[0]!.name, h.bases).href;
  const provenance = { source: from, revision: model.revision, importedBy: 'tagbooru pull' };
  const result = await importModel(source, { name, format: model.format, force: options.force, onStep: options.onStep, provenance }, env);
  if (options.dest === undefined) fs.rmSync(dir, { recursive: true, force: true });
  return { ...result, origin: `${model.repo}@${model.revision}`, downloads: options.dest === undefined ? null : dir };
}

async function fetchFile(model: KnownModel, file: KnownFile, dir: string, h: Hosts, options: PullOptions): Promise<void> {
  const url = fileUrl(model, file.name, h.bases);
  options.onStep?.(`downloading ${file.name} from ${url.origin}${url.pathname}`);
  await h.clients[model.host].download({
    url,
    file: path.join(dir, path.basename(file.name)),
    expected: { bytes: file.bytes, sha256: file.sha256 },
    explain: explainer(model, file.name, h.tokenSent && model.host === 'hub'),
    onBytes: (done, total) => options.onBytes?.(file.name, done, total),
  });
}

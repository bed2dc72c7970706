/**
 * Models `tagbooru pull <name>` knows by name: where their files live and which importer reads them.
 * File names come from the model repos as documented in reference/peers.md and reference/deepdanbooru.md.
 * Sizes and sha256 appear only where published for a pinned revision (JoyTag's LFS pointers at commit
 * 6b7f163, quoted alike by several independent projects); the others are checked against the server's
 * Content-Length only. A checksum without its revision means nothing, so a `--revision` other than the
 * table's drops them.
 */
import type { ImportFormat } from './types.ts';

export interface KnownFile {
  readonly name: string;
  readonly bytes?: number;
  readonly sha256?: string;
}

export interface KnownModel {
  /** `hub`: `<hub>/<repo>/resolve/<revision>/<file>`; `github`: `<github>/<repo>/releases/download/<revision>/<file>`. */
  readonly host: 'hub' | 'github';
  readonly repo: string;
  /** A branch, tag or commit (a release tag for `github`). */
  readonly revision: string;
  readonly files: readonly KnownFile[];
  readonly format: ImportFormat;
  readonly summary: string;
}

const WD_FILES = [{ name: 'model.onnx' }, { name: 'selected_tags.csv' }];

function wd(name: string, summary: string): KnownModel {
  return { host: 'hub', repo: `SmilingWolf/${name}`, revision: 'main', files: WD_FILES, format: 'wd', summary };
}

function deepDanbooru(tag: string, summary: string): KnownModel {
  // release assets are named deepdanbooru-<tag>.zip and hold the project folder flat
  return { host: 'github', repo: 'KichangKim/DeepDanbooru', revision: tag, files: [{ name: `deepdanbooru-${tag}.zip` }], format: 'deepdanbooru', summary };
}

export const KNOWN_MODELS = {
  'wd-eva02-large-tagger-v3': wd('wd-eva02-large-tagger-v3', 'WD v3 EVA02-Large: the most accurate WD tagger (ONNX 1.26 GB)'),
  'wd-vit-large-tagger-v3': wd('wd-vit-large-tagger-v3', 'WD v3 ViT-Large'),
  'wd-swinv2-tagger-v3': wd('wd-swinv2-tagger-v3', 'WD v3 SwinV2-Base: best base-size metrics, slower than ConvNeXt'),
  'wd-convnext-tagger-v3': wd('wd-convnext-tagger-v3', 'WD v3 ConvNeXt-Base: the speed/accuracy sweet spot'),
  'wd-vit-tagger-v3': wd('wd-vit-tagger-v3', 'WD v3 ViT-Base: the fastest WD v3 (ONNX 379 MB)'),
  'wd-v1-4-moat-tagger-v2': wd('wd-v1-4-moat-tagger-v2', 'WD v2 MOAT (batch 1)'),
  'wd-v1-4-swinv2-tagger-v2': wd('wd-v1-4-swinv2-tagger-v2', 'WD v2 SwinV2 (batch 1)'),
  'wd-v1-4-convnextv2-tagger-v2': wd('wd-v1-4-convnextv2-tagger-v2', 'WD v2 ConvNeXtV2 (batch 1)'),
  'wd-v1-4-convnext-tagger-v2': wd('wd-v1-4-convnext-tagger-v2', 'WD v2 ConvNeXt (batch 1)'),
  'wd-v1-4-vit-tagger-v2': wd('wd-v1-4-vit-tagger-v2', 'WD v2 ViT (batch 1)'),
  joytag: {
    host: 'hub',
    repo: 'fancyfeast/joytag',
    revision: '6b7f16331a6ccf0fdce37d5a9564715f6e772b22',
    files: [
      { name: 'model.onnx', bytes: 366_116_154, sha256: 'f85b7130e6e549b5b0822537007b7482e8c4c8e754c8d9a5bee08e27050e1097' },
      { name: 'top_tags.txt', bytes: 76_752, sha256: '32b1963a234af848643b2bbf47d8eff1f1c7889406810c57b980f41b2b9e01d0' },
    ],
    format: 'joytag',
    summary: 'JoyTag: Danbooru tags for drawings and photos alike (5,813 tags)',
  },
  'camie-tagger-v2': {
    host: 'hub',
    repo: 'Camais03/camie-tagger-v2',
    revision: 'main',
    files: [{ name: 'camie-tagger-v2.onnx' }, { name: 'camie-tagger-v2-metadata.json' }],
    format: 'camie',
    summary: 'Camie v2: 70,527 tags in 7 categories (GPL-3.0)',
  },
  'deepdanbooru-v3-20211112-sgd-e28': deepDanbooru('v3-20211112-sgd-e28', 'DeepDanbooru\'s latest release (9,176 tags, Keras h5 converted on import)'),
  'deepdanbooru-v4-20200814-sgd-e30': deepDanbooru('v4-20200814-sgd-e30', 'DeepDanbooru v4: the lighter 2020 release'),
} satisfies Record<string, KnownModel>;

export type KnownModels = Readonly<Record<string, KnownModel>>;

export function knownModel(name: string, catalog: KnownModels = KNOWN_MODELS): KnownModel | undefined {
  return Object.hasOwn(catalog, name) ? catalog[name] : undefined;
}

/** The catalog entry that downloads from `repo`, so `pull SmilingWolf/wd-vit-tagger-v3` keeps the table's name. */
export function knownByRepo(repo: string, catalog: KnownModels = KNOWN_MODELS): [string, KnownModel] | undefined {
  return Object.entries(catalog).find(([, m]) => m.host === 'hub' && m.repo.toLowerCase() === repo.toLowerCase());
}

/** What `tag --model <name>` says when the name is a model `pull` can fetch but the store lacks. */
export function pullHint(name: string): string | undefined {
  return knownModel(name) ? `It is a model tagbooru knows: download and import it with \`tagbooru pull ${name}\`` : undefined;
}

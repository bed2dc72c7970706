/**
 * `create-project`: project.json with DeepDanbooru's defaults, or, from a folder of captioned images, a
 * project ready to train: its database, tags.txt and categories.json, and settings sized to the folder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { deriveTagLists, writeTagFiles, type TagLists } from '../data/tags.ts';
import { TagbooruError } from '../errors.ts';
import { ARCHITECTURES } from '../models/registry.ts';
import { removeDatabase, type FolderDatabase } from './folder-database.ts';
import { DEFAULT_PROJECT, validateProject, type ProjectConfig } from './project.ts';

/** Where a project made from a folder keeps its database (its images beside it, as DeepDanbooru lays them out). */
export const PROJECT_DATABASE = 'data/training.sqlite';

/**
 * A project from a folder is trained on a CPU. DeepDanbooru's defaults assume Danbooru: posts with 20+ tags
 * (`minimum_tag_count` counts the tags of each image), millions of images, a GPU at 299 px.
 */
export const FOLDER_PROJECT = {
  model: 'resnet_custom_narrow', image_width: 160, image_height: 160, minimum_tag_count: 1, checkpoint_frequency_mb: 50,
  // the bundled model's augmentation: a caption folder is upright, unlike DeepDanbooru's full turns
  rotation_range: [-10, 10], scale_range: [0.9, 1.1], shift_range: [-0.05, 0.05],
} satisfies Partial<ProjectConfig>;

/** {@link FOLDER_PROJECT} plus what depends on the number of images. */
export function folderDefaults(images: number): Partial<ProjectConfig> {
  // about 20 images to fit thresholds on, between DeepDanbooru's 5 % and a fifth of the folder
  const validation = Math.min(0.2, Math.max(0.05, Math.round((20 / images) * 100) / 100));
  const train = images * (1 - validation);
  const batch = Math.min(32, 2 ** Math.floor(Math.log2(Math.max(1, train / 4))));
  // about 6,000 samples in all: 2½ minutes at the bundled model's stage 1 rate (12 epochs of 9,500 images at 160 px in 49 minutes: 39 images/s)
  const epochs = Math.min(50, Math.max(10, Math.round(6000 / images)));
  return { ...FOLDER_PROJECT, minibatch_size: batch, epoch_count: epochs, validation_fraction: validation };
}

/** Tags kept in tags.txt: on at least 1 % of the images, between 2 and DeepDanbooru's 20. */
export function minimumTagFrequency(images: number): number {
  return Math.min(20, Math.max(2, Math.ceil(images / 100)));
}

/** Settings given on the command line; each wins over the defaults. */
export interface ProjectOverrides {
  readonly model?: string;
  readonly imageSize?: number;
  readonly epochs?: number;
  readonly minibatchSize?: number;
}

function checkOverrides(o: ProjectOverrides): void {
  if (o.model !== undefined && !ARCHITECTURES.includes(o.model)) throw new TagbooruError('E_USAGE', `Unknown model "${o.model}" for --model. Known: ${ARCHITECTURES.join(', ')}`);
}

function applyOverrides(base: ProjectConfig, o: ProjectOverrides): ProjectConfig {
  return {
    ...base,
    ...(o.model !== undefined && { model: o.model }),
    ...(o.imageSize !== undefined && { image_width: o.imageSize, image_height: o.imageSize }),
    ...(o.epochs !== undefined && { epoch_count: o.epochs }),
    ...(o.minibatchSize !== undefined && { minibatch_size: o.minibatchSize }),
  };
}

async function exists(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => null)) !== null;
}

async function writeProjectFile(dir: string, config: ProjectConfig): Promise<string> {
  const file = path.join(dir, 'project.json');
  validateProject(config, file);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(config, null, 1)}\n`, { flag: 'wx' });
  return file;
}

async function refuseExisting(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const file = path.join(dir, name);
    if (await exists(file)) throw new TagbooruError('E_USAGE', `${file} exists already`);
  }
}

export async function createProject(dir: string, overrides: ProjectOverrides = {}): Promise<{ file: string; config: ProjectConfig }> {
  checkOverrides(overrides);
  await refuseExisting(dir, ['project.json']);
  const config = applyOverrides(DEFAULT_PROJECT, overrides);
  return { file: await writeProjectFile(dir, config), config };
}

export interface FolderProjectOptions extends ProjectOverrides {
  /** Tags on fewer images are left out of tags.txt; default {@link minimumTagFrequency}. */
  readonly minimumTagFrequency?: number;
  /** Builds the database at the given path from the folder (the caller collects the images and reports progress). */
  readonly buildDatabase: (output: string) => Promise<FolderDatabase>;
}

export interface FolderProject {
  readonly file: string;
  readonly config: ProjectConfig;
  readonly database: FolderDatabase;
  readonly tags: Required<TagLists>;
  readonly minimumTagFrequency: number;
}

/** Everything `train-project` needs, or (on any failure) nothing new in `dir`. */
export async function createProjectFromFolder(dir: string, o: FolderProjectOptions): Promise<FolderProject> {
  checkOverrides(o);
  await refuseExisting(dir, ['project.json', 'tags.txt', 'categories.json', PROJECT_DATABASE]);
  const database = path.join(dir, PROJECT_DATABASE);
  const dataDir = path.dirname(database);
  // what was not there before is removed on failure, so the command can simply be run again
  const created = (await exists(dir)) ? ((await exists(dataDir)) ? null : dataDir) : dir;
  try {
    const built = await o.buildDatabase(database);
    const minimum = o.minimumTagFrequency ?? minimumTagFrequency(built.posts);
    const tags = deriveTagLists(built.tagCounts, minimum);
    if (tags.general.length === 0) {
      const most = [...built.tagCounts.values()].reduce((a, b) => Math.max(a, b), 0);
      throw new TagbooruError('E_USAGE', `no tag is on ${minimum} or more of the ${built.posts} images (the most common is on ${most}); lower --min-tag-frequency (now ${minimum})`);
    }
    const sized = applyOverrides({ ...DEFAULT_PROJECT, ...folderDefaults(built.posts), database_path: PROJECT_DATABASE }, o);
    // one bundle, at the end: a small folder's many short epochs would otherwise each leave a copy
    const config = { ...sized, export_model_per_epoch: sized.epoch_count };
    await writeTagFiles(dir, tags);
    return { file: await writeProjectFile(dir, config), config, database: built, tags, minimumTagFrequency: minimum };
  } catch (e) {
    await removeDatabase(database);
    if (created) await fs.rm(created, { recursive: true, force: true });
    await Promise.all(['tags.txt', 'categories.json'].map((f) => fs.rm(path.join(dir, f), { force: true })));
    throw e;
  }
}

/** Training data on disk: DeepDanbooru's SQLite `posts` table and image layout, tag files, ground-truth masks. */
export { TrainingDatabase, splitTags, type ImageRecord, type MaskRow, type OpenOptions, type PostRow, type RecordQuery } from './training-db.ts';
export { isValidation } from './split.ts';
export { imagePath, imageRelativePath, maskPath, maskRelativePath, md5Hex } from './paths.ts';
export { categoryIndex, countTags, deriveTagLists, naturalCompare, writeTagFiles, type CategoryIndex, type TagLists } from './tags.ts';

/** The Danbooru API client and DeepDanbooru's download-tags. */
export { createDanbooruClient, DEFAULT_BASE_URL, USER_AGENT, CLIENT_DEFAULTS, type ClientOptions, type DanbooruClient } from './client.ts';
export { CATEGORIES, CATEGORY_NAMES, DEFAULT_CATEGORIES, GOLD_ONLY_TAGS, RATING_SCHEMES, downloadCategoryTags, downloadTagLists, type CategoryName, type RatingScheme, type TagLists } from './tags.ts';
export { RELATIONS, downloadRelations, type RelationKind, type TagRelation } from './relations.ts';
export { DOWNLOAD_DEFAULTS, downloadTagsProject, renderTagFiles, type DownloadTagsOptions, type DownloadSummary } from './project.ts';
export { naturalKeyCompare, naturalSorted } from './natural-sort.ts';

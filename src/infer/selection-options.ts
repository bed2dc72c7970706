/**
 * The selection options as people type them, CLI flags (`--top-k 5`) and HTTP fields (`top-k=5`) alike: one
 * table of names and ranges, read by one function, so the two front ends cannot drift apart.
 */
import type { TagInfo } from './bundle.ts';
import { compilePatterns } from './pattern.ts';
import { SELECTION_LIMITS, type SelectionOptions } from './selection.ts';
import { expectKnownTags } from './tag-names.ts';

/** Typed option values from a front end; `label` is the name as its users write it (`--top-k`, `top-k`). */
export interface OptionReader {
  label(name: string): string;
  number(name: string, min: number, max: number, integer?: boolean): number | undefined;
  boolean(name: string): boolean | undefined;
  list(name: string): string[] | undefined;
  /** `tag=0.6` pairs. */
  pairs(name: string, min: number, max: number): Record<string, number> | undefined;
}

export const SELECTION_FIELDS = ['threshold', 'general-threshold', 'character-threshold', 'tag-threshold', 'mcut', 'character-floor', 'top-k', 'exclude', 'include'] as const;

/** Each bad value fails naming its option; tag names and patterns are checked against the bundle's tags here too. */
export function readSelection(read: OptionReader, tags: readonly TagInfo[]): SelectionOptions {
  const [low, high] = SELECTION_LIMITS.threshold;
  const tagThresholds = read.pairs('tag-threshold', low, high);
  expectKnownTags(read.label('tag-threshold'), Object.keys(tagThresholds ?? {}), tags);
  const general = read.number('general-threshold', low, high);
  const character = read.number('character-threshold', low, high);
  const patterns = (name: 'exclude' | 'include') => {
    const list = read.list(name);
    if (list) compilePatterns(list, read.label(name));
    return list;
  };
  return {
    threshold: read.number('threshold', low, high),
    categoryThresholds: { ...(general !== undefined && { general }), ...(character !== undefined && { character }) },
    tagThresholds,
    mcut: read.boolean('mcut'),
    characterFloor: read.number('character-floor', low, high),
    topK: read.number('top-k', ...SELECTION_LIMITS.topK, true),
    exclude: patterns('exclude'),
    include: patterns('include'),
  };
}

/**
 * What each DiceBear variant shows, labelled by rendering every variant and looking at it (the sheets
 * are reproducible with `test/dataset/_sheet.ts`). `null` = never drawn, with the reason beside it:
 * a variant is left out when its label would be a matter of opinion, which a tagger cannot learn.
 *
 * Hair length rule (checked by `test/dataset/styles.test.ts`): `long_hair` when at least 11% of the
 * hair's pixels lie below the mouth line and hang as a curtain, `short_hair` when at most 6% do (the
 * share is in the comments). Variants in between, tied up (buns, ponytails, braids, twintails) or
 * nearly bald are left out.
 */
import type { adventurer, lorelei } from '@dicebear/collection';

type Variant<O, K extends keyof O> = NonNullable<O[K]> extends readonly (infer E)[] ? E : never;
type L<K extends keyof lorelei.Options> = Variant<lorelei.Options, K>;
type A<K extends keyof adventurer.Options> = Variant<adventurer.Options, K>;

export type HairLength = 'long_hair' | 'short_hair';
export type EyeState = 'open' | 'closed_eyes' | 'one_eye_closed';
export type MouthTag = 'smile' | 'open_mouth' | 'frown';
export type EyewearTag = 'glasses' | 'sunglasses';

export const LORELEI_HAIR = {
  variant01: 'short_hair', variant02: 'short_hair', variant03: 'short_hair', variant04: 'short_hair',
  variant05: 'short_hair', variant06: 'short_hair', variant07: 'short_hair', variant08: 'short_hair',
  variant09: 'short_hair',
  variant10: null, // 21%, but as flicks at the jaw: looks short
  variant11: 'short_hair', variant12: 'short_hair',
  variant13: 'long_hair',
  variant14: null, // bun
  variant15: 'long_hair', variant16: 'long_hair',
  variant17: null, // 14%, flicks at the jaw as variant10
  variant18: null, // 8.3%: between the classes
  variant19: null, // 3.1%, but a jaw-length bob: between
  variant20: null, // 9.5%: between
  variant21: 'long_hair', variant22: 'short_hair', variant23: 'long_hair', variant24: 'long_hair',
  variant25: null, // nearly bald
  variant26: null, // double bun
  variant27: 'short_hair', variant28: 'short_hair',
  variant29: null, // side ponytail
  variant30: null, // braids
  variant31: null, // side ponytail
  variant32: null, // low bun
  variant33: 'long_hair',
  variant34: null, // bald with a topknot
  variant35: 'long_hair',
  variant36: null, // topknot
  variant37: null, // 3.0%, but curls to the jaw: between
  variant38: null, // ponytail
  variant39: 'short_hair', variant40: 'long_hair', variant41: 'long_hair', variant42: 'long_hair',
  variant43: 'short_hair', variant44: 'short_hair',
  variant45: null, // bun
  variant46: null, // bun
  variant47: 'short_hair',
  variant48: null, // low ponytail
} as const satisfies Record<L<'hair'>, HairLength | null>;

export const ADVENTURER_HAIR = {
  long01: 'long_hair',
  long02: null, // 6.1%: between
  long03: null, // a flower crown is part of the hair drawing; hair_flower comes from lorelei only
  long04: 'long_hair', long05: 'long_hair', long06: 'long_hair', long07: 'long_hair',
  long08: null, // flower crown
  long09: 'long_hair',
  long10: null, long11: null, long12: null, long13: null, // buns
  long14: null, // low pigtails
  long15: null, // twintails
  long16: null, // braid
  long17: 'long_hair',
  long18: null, // flower
  long19: null, // ponytail
  long20: 'long_hair',
  long21: null, // 7.0%: between
  long22: 'long_hair',
  long23: null, // double bun
  long24: 'long_hair',
  long25: 'short_hair', // named "long", but 0.5%
  long26: null, // 10.6%: between
  short01: 'short_hair', short02: 'short_hair', short03: 'short_hair', short04: 'short_hair',
  short05: 'short_hair', short06: 'short_hair', short07: 'short_hair', short08: 'short_hair',
  short09: 'short_hair', short10: 'short_hair', short11: 'short_hair',
  short12: null, // bald with a topknot
  short13: 'short_hair', short14: 'short_hair', short15: 'short_hair', short16: 'short_hair',
  short17: 'short_hair', short18: 'short_hair',
  short19: null, // bald; ignores hairColor
} as const satisfies Record<A<'hair'>, HairLength | null>;

export const LORELEI_EYES = {
  variant01: 'closed_eyes',
  variant02: 'open',
  variant03: null, // tiny tear drops: closed or not is unclear
  variant04: 'open', variant05: 'open', variant06: 'open', variant07: 'open', variant08: 'open',
  variant09: null, // heart-shaped pupils
  variant10: 'open', variant11: 'open', variant12: 'open', variant13: 'open', variant14: 'open',
  variant15: 'one_eye_closed',
  variant16: 'open', variant17: 'open',
  variant18: 'one_eye_closed',
  variant19: 'closed_eyes',
  variant20: 'open', variant21: 'open',
  variant22: 'closed_eyes',
  variant23: 'open', variant24: 'open',
} as const satisfies Record<L<'eyes'>, EyeState | null>;

export const ADVENTURER_EYES = {
  variant01: 'open', variant02: 'open', variant03: 'open', variant04: 'open', variant05: 'open',
  variant06: 'open', variant07: 'open',
  variant08: null, // spiral eyes
  variant09: 'open', variant10: 'open', variant11: 'open', variant12: 'open',
  variant13: null, variant14: null, // half-closed: neither open nor closed
  variant15: 'open', variant16: 'open', variant17: 'open', variant18: 'open',
  variant19: 'closed_eyes', variant20: 'closed_eyes',
  variant21: 'one_eye_closed', variant22: 'one_eye_closed',
  variant23: 'open', variant24: 'open', variant25: 'open', variant26: 'open',
} as const satisfies Record<A<'eyes'>, EyeState | null>;

export const LORELEI_MOUTH = {
  happy01: ['smile'], happy02: ['smile'],
  happy03: null, // filled dark crescent: open or closed is unclear
  happy04: null, // wavy smirk
  happy05: ['smile', 'open_mouth'],
  happy06: null, // open, but barely curved: smiling is unclear
  happy07: null, // clenched-teeth grin
  happy08: ['open_mouth'],
  happy09: null, // tongue out
  happy10: null, // smirk
  happy11: null, // pout
  happy12: null, // drooling
  happy13: ['smile'],
  happy14: null, // neutral
  happy15: null, // wavy
  happy16: null, // clenched-teeth grin
  happy17: null, // :3
  happy18: null, // lipstick
  sad01: ['open_mouth'],
  sad02: null, // small slanted blob
  sad03: null, // neutral dash
  sad04: ['frown'],
  sad05: null, // long flat line: frown or neutral is unclear
  sad06: null, sad07: null, // clenched teeth
  sad08: null, // tongue out
  sad09: null, // neutral line
} as const satisfies Record<L<'mouth'>, readonly MouthTag[] | null>;

export const ADVENTURER_MOUTH = {
  variant01: ['smile', 'open_mouth'],
  variant02: ['smile'],
  variant03: ['open_mouth'],
  variant04: ['frown'],
  variant05: null, variant06: null, variant07: null, variant08: null, // lipstick
  variant09: null, // neutral line
  variant10: null, // smirk
  variant11: null, // clenched teeth
  variant12: null, // tongue out
  variant13: null, // drooling
  variant14: ['open_mouth'],
  variant15: ['open_mouth'],
  variant16: null, // tongue out
  variant17: null, // :3
  variant18: null, // small pout
  variant19: null, // wavy line
  variant20: null, variant21: null, // lips
  variant22: null, variant23: null, // toothy grin, lips closed
  variant24: null, // heart tongue
  variant25: ['smile', 'open_mouth'], variant26: ['smile', 'open_mouth'], variant27: ['smile', 'open_mouth'],
  variant28: ['smile', 'open_mouth'],
  variant29: ['smile'],
  variant30: ['smile', 'open_mouth'],
} as const satisfies Record<A<'mouth'>, readonly MouthTag[] | null>;

export const LORELEI_GLASSES = {
  variant01: 'glasses', variant02: 'sunglasses', variant03: 'glasses', variant04: 'glasses', variant05: 'glasses',
} as const satisfies Record<L<'glasses'>, EyewearTag>;

export const ADVENTURER_GLASSES = {
  variant01: 'sunglasses', variant02: 'glasses', variant03: 'glasses', variant04: 'glasses', variant05: 'glasses',
} as const satisfies Record<A<'glasses'>, EyewearTag>;

/** Earrings drawn at all; the others are one dot of a few pixels. */
export const LORELEI_EARRINGS = {
  variant01: true, variant02: false, variant03: true,
} as const satisfies Record<L<'earrings'>, boolean>;

export const ADVENTURER_EARRINGS = {
  variant01: true, variant02: true, variant03: false, variant04: true, variant05: false, variant06: false,
} as const satisfies Record<A<'earrings'>, boolean>;

/** adventurer draws at most one "feature"; birthmark (a mole of a few pixels) is never drawn. */
export const ADVENTURER_FEATURES = {
  blush: 'blush', freckles: 'freckles', mustache: 'mustache', birthmark: null,
} as const satisfies Record<A<'features'>, 'blush' | 'freckles' | 'mustache' | null>;

/**
 * Hair variants that hide more than a fifth of some closed or winking eye: eye states are never drawn
 * with them, since a hidden eye makes a wink look like an open eye. Measured by `test/dataset/styles.test.ts`.
 */
export const HAIR_HIDING_AN_EYE: { lorelei: readonly L<'hair'>[]; adventurer: readonly A<'hair'>[] } = {
  lorelei: ['variant40', 'variant41'],
  adventurer: ['long04', 'long20', 'long25', 'short06'],
};

/** Pick lists, derived once from the tables: the variants to draw for each label. */
export function variantsWith<V extends string, T>(table: Record<V, T>, accept: (label: T) => boolean): V[] {
  return (Object.keys(table) as V[]).filter((v) => accept(table[v]));
}

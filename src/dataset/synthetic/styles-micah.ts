/**
 * micah (Micah Lanier, CC BY 4.0): which variant draws which tag, by looking at a sheet of every variant
 * (as styles.ts does for lorelei and adventurer). Only what a component truly draws is mapped: hair
 * other than a clear short or long cut (a mohawk, a bald head, a turban, jaw-length bobs), scruff
 * (stubble, no tag here), a stud earring of a few pixels and eyes that look half shut are left out.
 */
import type { micah } from '@dicebear/collection';
import type { EyewearTag, HairLength, MouthTag } from './styles.ts';

type M<K extends keyof micah.Options> = NonNullable<micah.Options[K]> extends readonly (infer E)[] ? E : never;

export const MICAH_HAIR = {
  fonze: 'short_hair',
  mrT: null, // mohawk
  dougFunny: null, // nearly bald
  mrClean: null, // bald
  dannyPhantom: null, // jaw-length: between
  full: 'long_hair',
  turban: null, // a turban, not hair
  pixie: null, // jaw-length flicks: between
} as const satisfies Record<M<'hair'>, HairLength | null>;

export const MICAH_MOUTH = {
  surprised: ['open_mouth'],
  laughing: ['smile', 'open_mouth'],
  nervous: null, // clenched teeth
  smile: ['smile'],
  sad: ['frown'],
  pucker: null,
  frown: ['frown'],
  smirk: null,
} as const satisfies Record<M<'mouth'>, readonly MouthTag[] | null>;

export const MICAH_GLASSES = { round: 'glasses', square: 'glasses' } as const satisfies Record<M<'glasses'>, EyewearTag>;

export const MICAH_EARRINGS = { hoop: true, stud: false } as const satisfies Record<M<'earrings'>, boolean>;

export const MICAH_FACIAL_HAIR = { beard: 'beard', scruff: null } as const satisfies Record<M<'facialHair'>, 'beard' | null>;

/** Eyes drawn: the smiling ones read as closed or winking, which micah does not label. */
export const MICAH_OPEN_EYES: readonly M<'eyes'>[] = ['eyes', 'round', 'eyesShadow'];

import { InvariantError } from '../errors.ts';
import type { AttributeProto } from './proto.ts';

/** A float attribute must be marked: a JS number alone cannot tell 1 from 1.0. */
export class FloatAttr {
  constructor(readonly value: number) {}
}
export class FloatsAttr {
  constructor(readonly value: readonly number[]) {}
}
export const float = (v: number) => new FloatAttr(v);
export const floats = (v: readonly number[]) => new FloatsAttr(v);

export type AttrValue = number | readonly number[] | string | FloatAttr | FloatsAttr;
export type Attrs = Record<string, AttrValue | undefined>;

// AttributeProto.AttributeType codes
const FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7;

export function encodeAttributes(attrs: Attrs): AttributeProto[] {
  const out: AttributeProto[] = [];
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (v instanceof FloatAttr) out.push({ name, type: FLOAT, f: v.value });
    else if (v instanceof FloatsAttr) out.push({ name, type: FLOATS, floats: [...v.value] });
    else if (typeof v === 'string') out.push({ name, type: STRING, s: new TextEncoder().encode(v) });
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new InvariantError(`attribute ${name}=${v}: wrap non-integers in float()`);
      out.push({ name, type: INT, i: v });
    } else out.push({ name, type: INTS, ints: [...v] });
  }
  return out;
}

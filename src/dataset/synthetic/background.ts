/** Backgrounds: white, one flat colour, a linear gradient, or a flat colour cluttered with shapes. */
import { TagbooruError } from '../../errors.ts';
import { hslRgb } from '../../image/colour.ts';
import type { Rng } from '../../models/random.ts';
import type { SyntheticTag } from './tags.ts';

/** Shapes of an abstract background; coordinates and sizes are fractions of the image side. */
export type Shape =
  | { kind: 'circle'; x: number; y: number; r: number; colour: string; opacity: number }
  | { kind: 'rect'; x: number; y: number; w: number; h: number; rotation: number; colour: string; opacity: number }
  | { kind: 'triangle'; points: [number, number, number, number, number, number]; colour: string; opacity: number }
  | { kind: 'line'; x1: number; y1: number; x2: number; y2: number; width: number; colour: string; opacity: number };

export type BackgroundRecipe =
  | { kind: 'white' }
  | { kind: 'flat'; colour: string }
  | { kind: 'gradient'; from: string; to: string; angle: number }
  | { kind: 'abstract'; colour: string; shapes: Shape[] };

export const BACKGROUND_TAGS = {
  white: ['white_background', 'simple_background'],
  flat: ['simple_background'],
  gradient: ['gradient_background'],
  abstract: ['abstract_background'],
} as const satisfies Record<BackgroundRecipe['kind'], readonly SyntheticTag[]>;

const KINDS = ['white', 'flat', 'gradient', 'abstract'] as const;

function hex(v: number): string {
  return Math.round(Math.min(255, Math.max(0, v))).toString(16).padStart(2, '0');
}

/** HSL (degrees, 0–1, 0–1) to `rrggbb`. */
export function hslHex(h: number, s: number, l: number): string {
  return hslRgb(h, s, l).map(hex).join('');
}

export function parseHex(colour: string): [number, number, number] {
  const v = parseInt(colour.replace(/^#/, ''), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** A flat colour that is never near white, so `white_background` stays distinct. */
function flatColour(rng: Rng, light = rng.uniform(0.3, 0.86)): string {
  const grey = rng.next() < 0.15;
  return hslHex(rng.uniform(0, 360), grey ? 0 : rng.uniform(0.15, 0.75), light);
}

function shape(rng: Rng): Shape {
  const colour = hslHex(rng.uniform(0, 360), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.8));
  const opacity = rng.uniform(0.7, 1);
  const x = rng.uniform(-0.1, 1.1), y = rng.uniform(-0.1, 1.1);
  switch (rng.int(4)) {
    case 0:
      return { kind: 'circle', x, y, r: rng.uniform(0.03, 0.18), colour, opacity };
    case 1:
      return { kind: 'rect', x, y, w: rng.uniform(0.05, 0.35), h: rng.uniform(0.05, 0.35), rotation: rng.uniform(0, 90), colour, opacity };
    case 2: {
      const r = rng.uniform(0.05, 0.2), a = rng.uniform(0, 2 * Math.PI);
      const p = (k: number) => [x + r * Math.cos(a + (k * 2 * Math.PI) / 3), y + r * Math.sin(a + (k * 2 * Math.PI) / 3)] as const;
      return { kind: 'triangle', points: [...p(0), ...p(1), ...p(2)], colour, opacity };
    }
    default:
      return { kind: 'line', x1: x, y1: y, x2: x + rng.uniform(-0.5, 0.5), y2: y + rng.uniform(-0.5, 0.5), width: rng.uniform(0.006, 0.03), colour, opacity };
  }
}

export function sampleBackground(rng: Rng): BackgroundRecipe {
  const kind = KINDS[rng.int(KINDS.length)]!;
  switch (kind) {
    case 'white':
      return { kind };
    case 'flat':
      return { kind, colour: flatColour(rng) };
    case 'gradient': {
      // NOTE: the two ends differ in lightness by at least 0.3, or a gradient could pass for a flat colour
      const l1 = rng.uniform(0.25, 0.9);
      const l2 = l1 > 0.575 ? rng.uniform(0.2, l1 - 0.3) : rng.uniform(l1 + 0.3, 0.95);
      return { kind, from: flatColour(rng, l1), to: flatColour(rng, l2), angle: rng.uniform(0, 360) };
    }
    case 'abstract':
      return { kind, colour: flatColour(rng), shapes: Array.from({ length: 18 + rng.int(23) }, () => shape(rng)) };
  }
}

function shapeSvg(s: Shape, size: number): string {
  const u = (v: number) => (v * size).toFixed(2);
  const paint = `fill="#${s.colour}" fill-opacity="${s.opacity.toFixed(3)}"`;
  switch (s.kind) {
    case 'circle':
      return `<circle cx="${u(s.x)}" cy="${u(s.y)}" r="${u(s.r)}" ${paint}/>`;
    case 'rect':
      return `<rect x="${u(s.x - s.w / 2)}" y="${u(s.y - s.h / 2)}" width="${u(s.w)}" height="${u(s.h)}" transform="rotate(${s.rotation.toFixed(2)} ${u(s.x)} ${u(s.y)})" ${paint}/>`;
    case 'triangle':
      return `<polygon points="${s.points.map(u).join(' ')}" ${paint}/>`;
    case 'line':
      return `<line x1="${u(s.x1)}" y1="${u(s.y1)}" x2="${u(s.x2)}" y2="${u(s.y2)}" stroke="#${s.colour}" stroke-opacity="${s.opacity.toFixed(3)}" stroke-width="${u(s.width)}" stroke-linecap="round"/>`;
  }
}

/** The SVG elements of an abstract background (`size`×`size` from the origin), or null for the others. */
export function backgroundSvg(b: BackgroundRecipe, size: number): string | null {
  if (b.kind !== 'abstract') return null;
  return `<rect width="${size}" height="${size}" fill="#${b.colour}"/>${b.shapes.map((s) => shapeSvg(s, size)).join('')}`;
}

/**
 * The background as RGB floats (0–255), `size`×`size`. An abstract one is copied from `rendered`, the
 * rasterised `backgroundSvg` (RGBA, rows `stride` bytes apart); the others are computed here.
 */
export function fillBackground(b: BackgroundRecipe, size: number, rendered?: Uint8Array, stride = size * 4): Float32Array {
  const out = new Float32Array(size * size * 3);
  if (b.kind === 'white' || b.kind === 'flat') {
    const [r, g, bl] = b.kind === 'white' ? [255, 255, 255] : parseHex(b.colour);
    for (let i = 0; i < out.length; i += 3) {
      out[i] = r;
      out[i + 1] = g;
      out[i + 2] = bl;
    }
  } else if (b.kind === 'gradient') {
    const from = parseHex(b.from), to = parseHex(b.to);
    const a = (b.angle * Math.PI) / 180, dx = Math.cos(a), dy = Math.sin(a);
    const extent = ((Math.abs(dx) + Math.abs(dy)) * size) / 2, c = size / 2;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const t = ((x + 0.5 - c) * dx + (y + 0.5 - c) * dy) / (2 * extent) + 0.5;
        const o = (y * size + x) * 3;
        for (let k = 0; k < 3; k++) out[o + k] = from[k]! + (to[k]! - from[k]!) * t;
      }
    }
  } else {
    if (!rendered || rendered.length < stride * (size - 1) + size * 4) throw new TagbooruError('E_INTERNAL', 'an abstract background needs its rendered RGBA pixels');
    for (let y = 0, i = 0; y < size; y++) {
      for (let x = 0, j = y * stride; x < size; x++, i += 3, j += 4) {
        out[i] = rendered[j]!;
        out[i + 1] = rendered[j + 1]!;
        out[i + 2] = rendered[j + 2]!;
      }
    }
  }
  return out;
}

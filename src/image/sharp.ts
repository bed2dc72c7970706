/**
 * The project's only load of sharp; decode, encode, masks and SVG rendering use it from here. Loaded with the
 * module (every caller decodes), so a missing or foreign libvips fails at once with what to run (src/native.ts).
 */
import type Sharp from 'sharp';
import { importNative } from '../native.ts';

export const sharp = (await importNative<{ default: typeof Sharp }>('sharp')).default;

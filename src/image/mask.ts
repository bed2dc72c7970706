/** Single-channel masks (ground-truth regions): decoded to one byte per pixel, non-zero = inside. */
import { TagbooruError, errorMessage } from '../errors.ts';
import { sharp } from './sharp.ts';

export interface GreyImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export async function readMask(file: string): Promise<GreyImage> {
  try {
    const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new TagbooruError('E_IMAGE', `cannot read the mask ${file}: ${errorMessage(e)}`, { cause: e });
  }
}

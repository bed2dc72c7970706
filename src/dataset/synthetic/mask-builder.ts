/** A mask being drawn: 0/255 bytes with the pixel count and bounding box kept as pixels are set. */
import type { TagMask } from './render.ts';

/** A mask with its pixel count and bounding box kept up to date as pixels are set. */
export class MaskBuilder {
  readonly data: Uint8Array;
  pixels = 0;
  private x0: number;
  private y0: number;
  private x1 = 0;
  private y1 = 0;
  constructor(private readonly size: number) {
    this.data = new Uint8Array(size * size);
    this.x0 = this.y0 = size;
  }
  set(x: number, y: number): void {
    const i = y * this.size + x;
    if (this.data[i]) return;
    this.data[i] = 255;
    this.pixels++;
    if (x < this.x0) this.x0 = x;
    if (x >= this.x1) this.x1 = x + 1;
    if (y < this.y0) this.y0 = y;
    if (y >= this.y1) this.y1 = y + 1;
  }
  /** Every pixel: a property of the whole image (its rendering). */
  fill(): void {
    this.data.fill(255);
    this.pixels = this.size * this.size;
    [this.x0, this.y0, this.x1, this.y1] = [0, 0, this.size, this.size];
  }

  /** The pixels `m` does not have. */
  static complement(m: MaskBuilder, size: number): MaskBuilder {
    const out = new MaskBuilder(size);
    for (let y = 0; y < size; y++) {
      let first = -1, last = -1;
      for (let x = 0, i = y * size; x < size; x++, i++) {
        if (m.data[i]) continue;
        out.data[i] = 255;
        out.pixels++;
        if (first < 0) first = x;
        last = x;
      }
      if (first < 0) continue;
      if (first < out.x0) out.x0 = first;
      if (last >= out.x1) out.x1 = last + 1;
      if (y < out.y0) out.y0 = y;
      out.y1 = y + 1;
    }
    return out;
  }

  finish(): TagMask {
    return { data: this.data, pixels: this.pixels, box: this.pixels ? [this.x0, this.y0, this.x1, this.y1] : [0, 0, 0, 0] };
  }
}

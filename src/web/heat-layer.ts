/**
 * The heat map and the box over the shown image: a canvas at the map's own resolution that CSS stretches over
 * the picture (the browser interpolates), and an outlined element for the box, both placed where the picture
 * is drawn inside the `<img>` (`object-fit: contain` may leave margins).
 */
import type { Box } from '../explain/types.ts';
import { heatRgba, type ValueMap } from '../image/heatmap.ts';

/** A grey PNG data URL's bytes (the server's maps), or the bytes themselves (maps made in this browser). */
export async function greyOf(map: string | ValueMap): Promise<ValueMap> {
  if (typeof map !== 'string') return map;
  const blob = await (await fetch(map)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    context.drawImage(bitmap, 0, 0);
    const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const grey = new Uint8Array(width * height);
    for (let i = 0; i < grey.length; i++) grey[i] = data[i * 4]!;
    return { width, height, data: grey };
  } finally {
    bitmap.close();
  }
}

export interface Layer {
  readonly tag: string;
  readonly map: ValueMap;
  /** In image pixels, with the image's size. */
  readonly box: Box | null;
  readonly image: { readonly width: number; readonly height: number };
}

export class HeatLayer {
  private layer: Layer | null = null;

  constructor(
    private readonly img: HTMLImageElement,
    private readonly canvas: HTMLCanvasElement,
    private readonly box: HTMLElement,
  ) {
    new ResizeObserver(() => this.place()).observe(img);
    img.addEventListener('load', () => this.place());
  }

  show(layer: Layer, opacity: number): void {
    this.layer = layer;
    this.paint(opacity);
  }

  /** Paint again at another opacity. */
  paint(opacity: number): void {
    if (!this.layer) return;
    const { map, tag, box } = this.layer;
    const canvas = this.canvas;
    if (canvas.width !== map.width || canvas.height !== map.height) Object.assign(canvas, { width: map.width, height: map.height });
    canvas.getContext('2d')!.putImageData(new ImageData(heatRgba(map, opacity), map.width, map.height), 0, 0);
    canvas.dataset.tag = tag;
    canvas.hidden = false;
    this.box.hidden = box === null;
    this.place();
  }

  hide(): void {
    this.layer = null;
    this.canvas.hidden = true;
    this.box.hidden = true;
    delete this.canvas.dataset.tag;
  }

  private place(): void {
    const { img, canvas, layer } = this;
    if (!layer || img.naturalWidth === 0) return;
    const k = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
    const w = img.naturalWidth * k, h = img.naturalHeight * k;
    const left = img.offsetLeft + (img.clientWidth - w) / 2, top = img.offsetTop + (img.clientHeight - h) / 2;
    Object.assign(canvas.style, { left: `${left}px`, top: `${top}px`, width: `${w}px`, height: `${h}px` });
    const b = layer.box;
    if (!b) return;
    const sx = w / layer.image.width, sy = h / layer.image.height;
    Object.assign(this.box.style, { left: `${left + b[0] * sx}px`, top: `${top + b[1] * sy}px`, width: `${(b[2] - b[0]) * sx}px`, height: `${(b[3] - b[1]) * sy}px` });
  }
}

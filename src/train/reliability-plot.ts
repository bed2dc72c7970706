/**
 * The reliability diagram as a PNG, drawn pixel by pixel: above, one bar per score bin up to the observed
 * frequency of positives, a red mark at the bin's mean score and the diagonal a calibrated model follows; below,
 * the number of pairs per bin on a log scale. No text: docs/calibration.md explains the layout.
 */
import { writeAtomic } from '../atomic-files.ts';
import { toPng } from '../image/encode.ts';
import type { ReliabilityBin } from './calibration-metrics.ts';

const PLOT = 360, MARGIN = 24, GAP = 16, COUNTS = 90;
const WIDTH = PLOT + 2 * MARGIN, HEIGHT = PLOT + COUNTS + GAP + 2 * MARGIN;
type Rgb = readonly [number, number, number];
const COLOURS = { background: [255, 255, 255], frame: [90, 90, 90], grid: [225, 225, 225], bar: [70, 120, 200], mark: [215, 50, 40], diagonal: [40, 40, 40], count: [150, 150, 150] } as const satisfies Record<string, Rgb>;

class Canvas {
  readonly data = new Uint8Array(WIDTH * HEIGHT * 3);

  fill(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    for (let y = Math.max(0, Math.round(y0)); y < Math.min(HEIGHT, Math.round(y1)); y++) {
      for (let x = Math.max(0, Math.round(x0)); x < Math.min(WIDTH, Math.round(x1)); x++) this.data.set(c, (y * WIDTH + x) * 3);
    }
  }

  frame(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    this.fill(x0, y0, x1, y0 + 1, c);
    this.fill(x0, y1 - 1, x1, y1, c);
    this.fill(x0, y0, x0 + 1, y1, c);
    this.fill(x1 - 1, y0, x1, y1, c);
  }
}

/** The diagram of `bins` (equal-width, covering [0, 1]) as PNG bytes. */
export async function reliabilityPng(bins: readonly ReliabilityBin[]): Promise<Uint8Array> {
  const canvas = new Canvas();
  canvas.fill(0, 0, WIDTH, HEIGHT, COLOURS.background);
  const left = MARGIN, top = MARGIN, bottom = top + PLOT;
  const countsTop = bottom + GAP, countsBottom = countsTop + COUNTS;
  // grid every 0.1 in the plot, and ticks on the count panel's axis
  for (let k = 1; k < 10; k++) {
    const at = (k / 10) * PLOT;
    canvas.fill(left + at, top, left + at + 1, bottom, COLOURS.grid);
    canvas.fill(left, bottom - at, left + PLOT, bottom - at + 1, COLOURS.grid);
    canvas.fill(left + at, countsBottom, left + at + 1, countsBottom + 5, COLOURS.frame);
  }
  const width = PLOT / bins.length;
  const most = Math.max(1, ...bins.map((b) => b.count));
  bins.forEach((b, i) => {
    const x0 = left + i * width + 2, x1 = left + (i + 1) * width - 2;
    if (b.count > 0) {
      canvas.fill(x0, bottom - b.frequency * PLOT, x1, bottom, COLOURS.bar);
      const mark = bottom - b.confidence * PLOT;
      canvas.fill(x0, mark - 1, x1, mark + 2, COLOURS.mark);
    }
    const h = (Math.log1p(b.count) / Math.log1p(most)) * COUNTS;
    canvas.fill(x0, countsBottom - h, x1, countsBottom, COLOURS.count);
  });
  // the diagonal, drawn over the bars: where every bar would end if the scores were calibrated
  for (let t = 0; t < PLOT; t++) canvas.fill(left + t, bottom - t - 2, left + t + 1, bottom - t + 1, COLOURS.diagonal);
  canvas.frame(left, top, left + PLOT + 1, bottom + 1, COLOURS.frame);
  canvas.frame(left, countsTop, left + PLOT + 1, countsBottom + 1, COLOURS.frame);
  return toPng(canvas.data, WIDTH, HEIGHT, 3);
}

export async function writeReliabilityPlot(file: string, bins: readonly ReliabilityBin[]): Promise<void> {
  await writeAtomic(file, await reliabilityPng(bins), { syncFolder: false });
}

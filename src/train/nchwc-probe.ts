/**
 * Which channel block ONNX Runtime's blocked convolution kernels use on this CPU (see src/graph/nchwc.ts):
 * ORT does not say, so one small conv is run through them with the weights laid out for each candidate and
 * compared with the standard Conv. 0 when none matches or this build has no such kernels.
 */
import { Graph, blockedConv2d, blockedKernel, conv2d } from '../graph/index.ts';
import { ModelSession } from '../infer/session.ts';

const CANDIDATES = [16, 8, 4];
let cached: Promise<number> | null = null;

export function nchwcBlockSize(): Promise<number> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<number> {
  const [n, c, h] = [1, 16, 5];
  const x = Float32Array.from({ length: n * c * h * h }, (_, i) => Math.sin(i * 0.7));
  const w = Float32Array.from({ length: c * c * 9 }, (_, i) => Math.cos(i * 0.3));
  for (const block of CANDIDATES) {
    const g = new Graph('nchwc_probe');
    const xv = g.input('x', 'float32', [n, c, h, h]), wv = g.input('w', 'float32', [c, c, 3, 3]);
    g.output(conv2d(g, xv, wv, null), 'plain');
    g.output(blockedConv2d(g, xv, blockedKernel(g, wv, block), null, {}, block), 'blocked');
    try {
      const session = await ModelSession.create(g.toModel(), { threads: 1, spinning: false });
      const out = await session.run({ x: { data: x, dims: [n, c, h, h] }, w: { data: w, dims: [c, c, 3, 3] } });
      await session.release();
      const [plain, blocked] = [out.plain!.data, out.blocked!.data];
      if (plain.every((v, i) => Math.abs(v - blocked[i]!) <= 1e-4 * (1 + Math.abs(v)))) return block;
    } catch {
      // a build without the kernels, or a block the kernel rejects: try the next
    }
  }
  return 0;
}

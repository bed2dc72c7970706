/**
 * A preparation worker: upload bytes in, the network's input tensor out (decode with sharp, then the bundle's
 * preprocessing). Several images are in flight at once, so one image's JavaScript resize overlaps another's
 * libvips decode; the server's main thread only speaks HTTP.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.ts';
// the image module alone, not the whole public API: a worker should start in a fraction of a second
import { decodeImage, preprocess, type PreprocessSpec } from '../image/index.ts';

export interface PrepInit {
  readonly module: string;
  readonly spec: PreprocessSpec;
  readonly maxPixels: number;
}
export type PrepRequest = { readonly id: number; readonly data: Uint8Array };
export type PrepReply = { type: 'ready' } | { type: 'tensor'; id: number; tensor: Float32Array; mediaType: string } | { type: 'rejected'; id: number; reason: string };

const port = parentPort!;
const { spec, maxPixels } = workerData as PrepInit;

port.on('message', (req: PrepRequest) => {
  decodeImage(req.data, { maxPixels }).then(
    (image) => {
      const tensor = preprocess(image, spec);
      port.postMessage({ type: 'tensor', id: req.id, tensor, mediaType: image.mediaType } satisfies PrepReply, [tensor.buffer as ArrayBuffer]);
    },
    (e: unknown) => port.postMessage({ type: 'rejected', id: req.id, reason: errorMessage(e) } satisfies PrepReply),
  );
});
port.postMessage({ type: 'ready' } satisfies PrepReply);

/** A render worker: produces images on request, several in flight, so JavaScript and libvips overlap. */
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../../errors.ts';
import { produceImage, type ProduceRequest, type ProducedImage } from './produce.ts';

export type WorkerRequest = { id: number } & ProduceRequest;
export type WorkerReply = { type: 'ready' } | { type: 'result'; id: number; image: ProducedImage } | { type: 'error'; id: number; message: string };

const port = parentPort!;
port.on('message', (req: WorkerRequest) => {
  produceImage(req).then(
    (image) => port.postMessage({ type: 'result', id: req.id, image } satisfies WorkerReply, [image.png.buffer as ArrayBuffer, ...image.masks.map((m) => m.png.buffer as ArrayBuffer)]),
    (e: unknown) => port.postMessage({ type: 'error', id: req.id, message: errorMessage(e) } satisfies WorkerReply),
  );
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);

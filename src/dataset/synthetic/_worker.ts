/** A render worker: produces images on request, several in flight, so JavaScript and libvips overlap. */
import { transfer } from '../../workers/protocol.ts';
import { serve } from '../../workers/serve.ts';
import { produceImage, type ProduceRequest, type ProducedImage } from './produce.ts';

await serve<object, ProduceRequest, ProducedImage>(() => ({
  handle: async (req) => {
    const image = await produceImage(req);
    return transfer(image, [image.png.buffer, ...image.masks.map((m) => m.png.buffer)]);
  },
}));

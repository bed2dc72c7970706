/**
 * A preparation worker: upload bytes in, the network's input tensor out (decode with sharp, then the bundle's
 * preprocessing, with the tagger's defence when it has one). Several images are in flight at once, so one image's
 * JavaScript resize overlaps another's libvips decode; the server's main thread only speaks HTTP.
 */
import { errorMessage } from '../errors.ts';
// the image module alone, not the whole public API: a worker should start in a fraction of a second
import { decodeImage } from '../image/index.ts';
import type { ModelInput } from '../infer/bundle.ts';
import { imageRandom, openDefence, type DefenceChoice } from '../infer/defences.ts';
import { defendedInputs } from '../infer/model-io.ts';
import { transfer } from '../workers/protocol.ts';
import { serve } from '../workers/serve.ts';

export interface PrepInit {
  /** The model's inputs: an image is prepared once per distinct preprocessing, laid end to end. */
  readonly inputs: readonly ModelInput[];
  readonly maxPixels: number;
  /** The input-transformation defence, applied here before normalisation, and its seed when one is configured. */
  readonly defence: DefenceChoice | null;
  readonly defenceSeed: number | null;
}
/** The input tensor and the media type the bytes were decoded as, or why they are not an image. */
export type PrepResponse = { tensor: Float32Array; mediaType: string } | { rejected: string };

await serve<PrepInit, Uint8Array, PrepResponse>(async ({ inputs, maxPixels, defence: choice, defenceSeed }) => {
  const defence = await openDefence(choice);
  return {
    handle: async (data) => {
      let image;
      try {
        image = await decodeImage(data, { maxPixels });
      } catch (e) {
        return { rejected: errorMessage(e) };
      }
      const tensor = await defendedInputs(image, inputs, defence, imageRandom(defenceSeed));
      return transfer({ tensor, mediaType: image.mediaType }, [tensor.buffer]);
    },
    close: async () => defence?.close?.(),
  };
});

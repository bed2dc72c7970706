/**
 * The second script of the page, `/probe.js`, loaded only when the in-browser mode is asked where a tag is: the
 * graph surgery that adds the CAM output to the model (it brings the ONNX protobuf schema, five times the size
 * of the page's own script).
 */
export { probeVariant } from '../explain/surgery.ts';

/** What the pipelines accept as an image, and how each form is named and read. */

/** A file path, or image bytes with a name to report them by. */
export type ImageInput = string | Uint8Array | { readonly name: string; readonly data: Uint8Array };

export function inputName(input: ImageInput, i: number): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return `<buffer ${i}>`;
  return input.name;
}

export function inputSource(input: ImageInput): string | Uint8Array {
  return typeof input === 'string' || input instanceof Uint8Array ? input : input.data;
}

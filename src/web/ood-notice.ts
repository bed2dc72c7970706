/** The page's out-of-distribution notice: shown above the tags when the model flags the image as foreign, on the server or in this browser. */
import type { OodJson } from '../wire.ts';

export function showOodNotice(container: HTMLElement, ood: OodJson | null | undefined): void {
  let note = container.querySelector<HTMLElement>('.ood-notice');
  if (!ood?.flagged) {
    note?.remove();
    return;
  }
  if (!note) {
    note = document.createElement('p');
    note.className = 'ood-notice';
    note.setAttribute('role', 'alert');
    container.prepend(note);
  }
  note.textContent = `This image is unlike the images the model was trained on (out-of-distribution score ${ood.score.toFixed(1)} above ${ood.threshold.toFixed(1)}): its tags are unreliable.`;
}

/** What crosses the page boundary: images in (picker, drop, paste), the caption and the JSON out. */

export function onImage(picker: HTMLInputElement, zone: HTMLElement, take: (file: File) => void): void {
  const give = (file: File | null | undefined) => {
    if (file) take(file);
  };
  picker.addEventListener('change', () => give(picker.files?.[0]));
  for (const type of ['dragenter', 'dragover'] as const) {
    document.addEventListener(type, (e) => {
      e.preventDefault(); // without it the browser opens the dropped file itself
      zone.classList.add('over');
    });
  }
  document.addEventListener('dragleave', (e) => {
    if (e.relatedTarget === null) zone.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    give(e.dataTransfer?.files[0]);
  });
  document.addEventListener('paste', (e) => give([...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'))));
}

/** Copy to the clipboard; where the page may not (plain http on another host), select the text for Ctrl+C. */
export async function copyText(area: HTMLTextAreaElement): Promise<'copied' | 'selected'> {
  try {
    await navigator.clipboard.writeText(area.value);
    return 'copied';
  } catch {
    area.focus();
    area.select();
    return 'selected';
  }
}

export function downloadJson(value: unknown, filename: string): void {
  const url = URL.createObjectURL(new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: 'application/json' }));
  Object.assign(document.createElement('a'), { href: url, download: filename }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

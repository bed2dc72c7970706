/**
 * The server's HTML, built in one way: the `html` template tag escapes every interpolated value unless it is
 * already `html` itself, so a file name, a tag, a message or a media type cannot become markup by being
 * forgotten. The pages' one stylesheet is inline; its hash is what the Content-Security-Policy allows.
 */
import { createHash } from 'node:crypto';

/** Markup that has been through `html`, safe to interpolate into more markup as it is. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Text as the content of an element or a quoted attribute: `& < > " '` as character references. */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const fragment = (value: unknown): string => {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(fragment).join('');
  return escapeHtml(String(value));
};

/** A template of markup: each `${value}` is escaped, arrays are joined, `Html` values go in as they are. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return new Html(strings.reduce((out, s, i) => out + fragment(values[i - 1]) + s));
}

export const PAGE_STYLE = 'body{font:15px/1.4 system-ui,sans-serif;margin:1.5rem auto;max-width:56rem;padding:0 1rem}figure{display:flex;gap:1.5rem;flex-wrap:wrap;margin:0 0 2rem}img{max-width:18rem;max-height:18rem;object-fit:contain}td{padding:.1rem .6rem}td:last-child{text-align:right;font-variant-numeric:tabular-nums}';

/** The CSP source that lets `PAGE_STYLE` apply, and no other inline style. */
export const PAGE_STYLE_SOURCE = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;

export function page(title: string, body: Html): string {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>${new Html(PAGE_STYLE)}</style>
</head><body>${body}<p><a href="/">Tag another image</a></p></body></html>`.text;
}

export function errorPage(code: string, message: string): string {
  return page('Error', html`<h1>${code}</h1><p>${message}</p>`);
}

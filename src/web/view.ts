/**
 * Drawing the selected tags: one group per category, each tag with a score bar (scaled and labelled as
 * score-scale.ts says). The name is a toggle button that shows where the tag is (see where.ts). DOM nodes, never
 * HTML strings.
 */
import type { ScoredTag, Selection } from '../infer/selection.ts';
import { BAR_LEGEND, BAR_MARKS, barFraction, scoreLabel } from './score-scale.ts';

const ORDER = ['rating', 'character', 'copyright', 'artist', 'general', 'meta'];
const TITLES: Readonly<Record<string, string>> = {
  rating: 'Rating', character: 'Characters', copyright: 'Copyrights', artist: 'Artists', general: 'General', meta: 'Meta',
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function tagRow(t: ScoredTag, extraClass = ''): HTMLLIElement {
  const fill = el('span', { className: 'fill' });
  fill.style.width = percent(barFraction(t.score));
  const li = el('li', { className: `tag ${extraClass}`.trim() },
    el('button', { type: 'button', className: 'name' }, t.name),
    el('span', { className: 'bar' }, fill, ...BAR_MARKS.map(mark)),
    el('span', { className: 'score' }, el('span', { className: 'visually-hidden' }, ', score '), scoreLabel(t.score)));
  li.querySelector('.bar')!.setAttribute('aria-hidden', 'true');
  li.querySelector('.name')!.setAttribute('aria-pressed', 'false');
  li.dataset.tag = t.name;
  li.dataset.score = String(t.score);
  return li;
}

const percent = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;

function mark(score: number): HTMLSpanElement {
  const m = el('span', { className: 'mark' });
  m.style.left = percent(barFraction(score));
  return m;
}

function group(category: string, rows: HTMLLIElement[], count?: number): HTMLElement {
  const id = `group-${category.replace(/[^a-z0-9_-]/gi, '_')}`;
  const title = el('h3', { id }, TITLES[category] ?? category);
  if (count !== undefined) title.append(el('span', { className: 'count' }, String(count)));
  const section = el('section', { className: 'group' }, title, el('ul', {}, ...rows));
  section.dataset.category = category;
  section.setAttribute('aria-labelledby', id);
  return section;
}

/** `ratings`: every rating-category score, so the chosen one is seen against the others. */
export function renderTags(container: HTMLElement, selection: Selection, ratings: readonly ScoredTag[]): void {
  const byCategory = new Map<string, ScoredTag[]>();
  for (const t of selection.tags) byCategory.set(t.category, [...(byCategory.get(t.category) ?? []), t]);
  const categories = [...byCategory.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const groups: HTMLElement[] = [];
  if (ratings.length > 0) {
    const sorted = [...ratings].sort((a, b) => b.score - a.score);
    groups.push(group('rating', sorted.map((t) => tagRow(t, t.name === selection.rating?.name ? 'chosen' : 'off'))));
  }
  for (const c of categories) groups.push(group(c, byCategory.get(c)!.map((t) => tagRow(t)), byCategory.get(c)!.length));
  if (selection.tags.length === 0) groups.push(el('p', { className: 'muted empty' }, 'No tag reaches these thresholds.'));
  groups.push(el('p', { className: 'muted small legend' }, BAR_LEGEND));
  container.replaceChildren(...groups);
}

function rank(category: string): number {
  const i = ORDER.indexOf(category);
  return i < 0 ? ORDER.length - 1 : i; // unknown categories sit just before meta
}

export function renderPlaceholder(container: HTMLElement, text: string): void {
  container.replaceChildren(el('p', { className: 'muted empty' }, text));
}

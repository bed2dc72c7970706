/**
 * The page: an image in (drop, pick, paste), scores out (server or this browser), then selection, which runs
 * here with the library's own `compileSelection`, so the sliders and MCut re-select instantly without asking
 * the server again. Hovering or selecting a tag shows where it is (where.ts).
 */
import { compileSelection, type ScoredTag, type Selection } from '../infer/selection.ts';
import type { BundleManifest } from '../infer/bundle.ts';
import type { ModelInfo } from '../wire.ts';
import { Api, ApiError, runsOnServer } from './api.ts';
import { CaptionBox } from './caption-box.ts';
import { copyText, downloadJson, onImage } from './transfer.ts';
import { LocalTagger } from './local.ts';
import { ModelPicker } from './model-picker.ts';
import { showOodNotice } from './ood-notice.ts';
import { ThresholdControls } from './thresholds.ts';
import { renderPlaceholder, renderTags } from './view.ts';
import { WhereOverlay } from './where.ts';

/** Scores below this are not sent by the server; it is also the sliders' lowest setting. */
const FLOOR = 0.01;
/** The server's default mask threshold, for the boxes of CAM computed in this browser. */
const CAM_MASK_THRESHOLD = 0.5;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  model: $('model'),
  file: $<HTMLInputElement>('file'),
  drop: $<HTMLLabelElement>('drop'),
  preview: $<HTMLImageElement>('preview'),
  local: $<HTMLInputElement>('local'),
  status: $('status'),
  keyForm: $<HTMLFormElement>('key-form'),
  key: $<HTMLInputElement>('key'),
  results: document.querySelector<HTMLElement>('.results')!,
  summary: $('summary'),
  tags: $('tags'),
  caption: $<HTMLTextAreaElement>('caption'),
  copy: $<HTMLButtonElement>('copy'),
  download: $<HTMLButtonElement>('download'),
};

interface Scored {
  readonly file: string;
  readonly scores: Float32Array;
  readonly mode: 'server' | 'browser';
  readonly ms: number;
  readonly note?: string;
}

const api = new Api();
const thresholds = new ThresholdControls({
  inputs: { general: $<HTMLInputElement>('general'), character: $<HTMLInputElement>('character') },
  outputs: { general: $<HTMLOutputElement>('general-value'), character: $<HTMLOutputElement>('character-value') },
  mcut: $<HTMLInputElement>('mcut'),
  reset: $<HTMLButtonElement>('reset'),
  note: $('threshold-note'),
}, FLOOR, () => reselect());
const captionBox = CaptionBox.inPage(ui.caption);
const where = new WhereOverlay({
  preview: ui.preview,
  canvas: $<HTMLCanvasElement>('heat'),
  box: $('heat-box'),
  controls: $<HTMLFieldSetElement>('where'),
  method: $<HTMLSelectElement>('method'),
  refine: $<HTMLSelectElement>('refine'),
  opacity: $<HTMLInputElement>('opacity'),
  opacityValue: $<HTMLOutputElement>('opacity-value'),
  status: $('where-status'),
  consent: $<HTMLButtonElement>('where-consent'),
  tags: ui.tags,
}, {
  mode: () => (ui.local.checked ? 'browser' : 'server'),
  local: async (blob, kind, tags) => (kind.method === 'cam' ? (await localTagger()).camRegions(blob, tags, CAM_MASK_THRESHOLD, kind.refine) : null),
  server: (blob, name, kind, tags) => api.explain(blob, name, kind.method, tags, kind.refine),
  serverRuns: () => model !== null && runsOnServer(model),
});
const picker = new ModelPicker($('picker'), $<HTMLSelectElement>('model-picker'), (m) => void useModel(m).catch(fail));
const ortBase = document.body.dataset.ortBase ?? '/ort/';
let model: ModelInfo | null = null;
let manifest: BundleManifest | null = null;
let index = new Map<string, number>();
let image: File | null = null;
let scored: Scored | null = null;
let selection: Selection | null = null;
let local: Promise<LocalTagger> | null = null;
let generation = 0;
/** The latest model asked for: a slower manifest of an earlier pick is dropped. */
let picking = 0;
/** The user's own choice of mode, restored when a model the server runs is picked again. */
let wantsLocal = false;

function status(text: string, isError = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', isError);
}

function fail(e: unknown): void {
  if (e instanceof ApiError && e.status === 401) {
    ui.keyForm.hidden = false;
    ui.key.focus();
  }
  status(e instanceof ApiError ? `${e.message} (${e.code})` : e instanceof Error ? e.message : String(e), true);
}

async function loadModel(): Promise<void> {
  try {
    const models = await api.models();
    if (models.length === 0) throw new Error('the server lists no model');
    await useModel(picker.list(models, model?.id ?? null));
    ui.keyForm.hidden = true;
  } catch (e) {
    ui.model.textContent = 'No model loaded';
    fail(e);
  }
}

/** Tag with `next` from now on; a model the server does not run is run in this browser. */
async function useModel(next: ModelInfo): Promise<void> {
  const pick = ++picking;
  const nextManifest = await api.manifest(next);
  if (pick !== picking) return;
  model = next;
  manifest = nextManifest;
  index = new Map(manifest.tags.map((t, i) => [t.name, i]));
  // the last model's sessions go: models take hundreds of MiB each (a late run on them fails unheard, being stale)
  void local?.then((tagger) => tagger.release()).catch(() => undefined);
  local = null;
  thresholds.use(manifest);
  const onServer = runsOnServer(model);
  // offered to the browser only: CAM computed here is all the page can show
  if (!onServer) where.offer(['cam']);
  else if (model.explain) where.offer(model.explain);
  ui.local.disabled = !onServer;
  ui.local.title = onServer ? '' : 'The server does not run this model';
  ui.local.checked = !onServer || wantsLocal;
  const facts = [`${manifest.tags.length.toLocaleString()} tags`, `${manifest.preprocess.width}×${manifest.preprocess.height}`, ...(onServer ? [] : ['runs in this browser only'])];
  ui.model.textContent = (picker.shown ? facts : [manifest.name, ...facts]).join(' · ');
  status('');
  if (image) {
    where.setImage(image, image.name || 'pasted image');
    renderPlaceholder(ui.tags, 'Tagging…');
    await analyse();
  }
}

function localTagger(): Promise<LocalTagger> {
  if (local) return local;
  const loading = (async () => {
    if (!model || !manifest) throw new Error('the model is not loaded yet');
    // with a fitted OOD score, the graph that also computes it (the CAM surgery works on it alike)
    const [file, spec, ood] = [model.ood?.model ?? model.files.model, manifest, model.ood ?? null];
    const bytes = await api.bytes(file, (loaded, total) => {
      status(`Loading the model into this browser… ${(loaded / 2 ** 20).toFixed(1)}${total ? ` of ${(total / 2 ** 20).toFixed(1)}` : ''} MiB`);
    });
    status('Starting WebAssembly…');
    return LocalTagger.create(ortBase, spec, bytes, () => api.bytes(file, () => undefined), ood);
  })();
  local = loading;
  loading.catch(() => {
    if (local === loading) local = null;
  });
  return loading;
}

/** Scores for the current image in the current mode; a newer image or mode switch wins over a late answer. */
async function analyse(): Promise<void> {
  if (!image || !manifest) return;
  const run = ++generation;
  const mode = ui.local.checked ? 'browser' : 'server';
  ui.results.setAttribute('aria-busy', 'true');
  try {
    let scores: Float32Array;
    const started = performance.now();
    if (mode === 'browser') {
      const tagger = await localTagger();
      status('Tagging in this browser…');
      const t0 = performance.now();
      const tagged = await tagger.tag(image);
      if (run !== generation) return;
      scores = tagged.scores;
      showOodNotice(ui.results, tagged.ood);
      scored = { file: image.name, scores, mode, ms: performance.now() - t0, note: `WebAssembly, ${tagger.threads} thread${tagger.threads === 1 ? '' : 's'}` };
    } else {
      status('Tagging on the server…');
      const { scores: wire, ood } = await api.tag(image, image.name || 'pasted image', FLOOR);
      if (run !== generation) return;
      showOodNotice(ui.results, ood);
      scores = new Float32Array(manifest.tags.length);
      for (const t of wire) {
        const i = index.get(t.name);
        if (i !== undefined) scores[i] = t.score;
      }
      scored = { file: image.name, scores, mode, ms: performance.now() - started };
    }
    status(`Tagged ${mode === 'browser' ? 'in this browser' : 'on the server'} in ${Math.round(scored.ms)} ms${scored.note ? ` (${scored.note})` : ''}.`);
    reselect();
  } catch (e) {
    if (run === generation) fail(e);
  } finally {
    if (run === generation) ui.results.setAttribute('aria-busy', 'false');
  }
}

/** Selection from the scores in hand: instant, so it runs on every slider move. */
function reselect(): void {
  if (!scored || !manifest) return;
  const compiled = compileSelection(manifest.tags, manifest.thresholds, thresholds.options());
  selection = compiled.select(scored.scores);
  const ratings: ScoredTag[] = manifest.tags.flatMap((t, i) => (t.category === 'rating' ? [{ ...t, score: scored!.scores[i]! }] : []));
  renderTags(ui.tags, selection, ratings);
  where.listed();
  ui.summary.textContent = `${selection.tags.length} tag${selection.tags.length === 1 ? '' : 's'}`;
  captionBox.show(selection);
  ui.copy.disabled = ui.download.disabled = false;
}

function take(file: File): void {
  if (!file.type.startsWith('image/') && file.type !== '') {
    status(`${file.name || 'That'} is not an image (${file.type}).`, true);
    return;
  }
  image = file;
  if (ui.preview.src) URL.revokeObjectURL(ui.preview.src);
  ui.preview.src = URL.createObjectURL(file);
  ui.preview.alt = `Preview of ${file.name || 'the pasted image'}`;
  ui.preview.hidden = false;
  ui.drop.classList.add('has-image');
  scored = null;
  where.setImage(file, file.name || 'pasted image');
  renderPlaceholder(ui.tags, 'Tagging…');
  void analyse();
}

onImage(ui.file, ui.drop, take);

ui.local.addEventListener('change', () => {
  wantsLocal = ui.local.checked;
  if (ui.local.checked && !image) {
    localTagger().then(() => status('The model is ready in this browser.'), fail);
  }
  where.modeChanged();
  void analyse();
});
ui.keyForm.addEventListener('submit', (e) => {
  e.preventDefault();
  api.setKey(ui.key.value.trim());
  void loadModel();
});

ui.copy.addEventListener('click', () => {
  void copyText(ui.caption).then((how) => status(how === 'copied' ? 'Caption copied.' : 'Caption selected: press Ctrl+C (⌘C) to copy.'));
});

ui.download.addEventListener('click', () => {
  if (!scored || !selection || !manifest) return;
  downloadJson({
    file: scored.file,
    model: manifest.name,
    mode: scored.mode,
    thresholds: thresholds.describe(),
    rating: selection.rating,
    tags: selection.tags,
  }, `${(scored.file || 'image').replace(/\.[^.]+$/, '')}.tags.json`);
});

void loadModel();

/**
 * The dependency direction of src/ (DESIGN.md, Layout), checked by `no-restricted-imports`: for each folder, the
 * folders it may import; every other folder is refused, and each foreign library is refused outside its one
 * folder. Tests, benchmarks and scripts may import anything. Dynamic `import()` is not checked by the rule.
 */

/** Root files every layer may import: leaves that import no layer themselves. */
const SHARED = ['errors.ts', 'package.ts', 'option-values.ts', 'atomic-files.ts'];

/** Root files that compose layers: the public surface (index.ts, tagger.ts) and the HTTP API's shapes (wire.ts). */
const COMPOSED = ['index.ts', 'tagger.ts', 'wire.ts'];

/** Folder → the folders and composed root files it may import. A folder absent from every list (cli) is imported by none. */
export const LAYERS = {
  graph: [],
  models: ['graph'],
  autodiff: ['graph', 'models'],
  formats: [],
  image: [],
  infer: ['image', 'workers', 'graph', 'formats'],
  data: [],
  danbooru: [],
  workers: [],
  explain: ['infer', 'image', 'graph', 'models', 'autodiff', 'formats', 'data', 'workers'],
  train: ['autodiff', 'models', 'graph', 'formats', 'image', 'infer', 'data', 'workers'],
  import: ['infer', 'models', 'graph', 'image', 'formats', 'danbooru'],
  dataset: ['data', 'image', 'models', 'workers'],
  // ensembles, test-time augmentation: bundles built from bundles (DESIGN.md decision 14)
  compose: ['infer', 'graph', 'formats', 'image'],
  // attacks and defences on the gradient graphs (DESIGN.md decision 15)
  // explain: the bundle's training model (explain/variants.ts loadTrainingModel) that the gradient attacks run
  robust: ['infer', 'image', 'explain', 'graph', 'models', 'autodiff', 'formats', 'data', 'workers', 'train', 'compose'],
  server: ['infer', 'image', 'explain', 'workers', 'index.ts', 'tagger.ts', 'wire.ts'],
  web: ['infer', 'image', 'explain', 'wire.ts'],
  cli: ['infer', 'image', 'explain', 'models', 'data', 'dataset', 'danbooru', 'import', 'train', 'server', 'compose', 'robust', 'index.ts', 'tagger.ts'],
};

/** Foreign library → the one folder that imports it (STYLE.md: each foreign library is imported in one place). */
const LIBRARIES = {
  sharp: 'image',
  'onnxruntime-node': 'infer',
  're2js': 'infer',
  'better-sqlite3': 'data',
  'onnx-proto': 'graph',
  h5wasm: 'import',
  yauzl: 'import',
  '@dicebear/': 'dataset',
  fastify: 'server',
  '@fastify/': 'server',
  esbuild: 'server',
  'onnxruntime-web': 'web',
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const libraryPattern = (name) => (name.endsWith('/') ? `^${escape(name)}` : `^${escape(name)}(/|$)`);

function librariesRefused(folder) {
  return Object.entries(LIBRARIES).filter(([, home]) => home !== folder).map(([name, home]) => ({
    regex: libraryPattern(name),
    message: `${name} is imported in src/${home} only.`,
  }));
}

/** `from` is how a file in that folder reaches the root: `^(\.\./)+` from a layer, `^\./` from a root file. */
function layersRefused(folder, allowed, from) {
  const folders = Object.keys(LAYERS).filter((f) => f !== folder && !allowed.includes(f));
  const files = COMPOSED.filter((f) => !allowed.includes(f));
  const may = allowed.length ? allowed.join(', ') : 'no other layer';
  const where = folder ? `src/${folder}` : 'A root leaf module';
  return [
    ...folders.map((f) => ({ regex: `${from}${escape(f)}/`, message: `${where} may import ${may} (eslint.layers.js; DESIGN.md, Layout).` })),
    ...files.map((f) => ({ regex: `${from}${escape(f)}$`, message: `${where} may import ${may} (eslint.layers.js; DESIGN.md, Layout).` })),
  ];
}

const rule = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export const layerRules = [
  ...Object.entries(LAYERS).map(([folder, allowed]) => ({
    files: [`src/${folder}/**/*.{ts,js}`],
    rules: rule([...layersRefused(folder, allowed, '^(\\.\\./)+'), ...librariesRefused(folder)]),
  })),
  // the leaves every layer imports reach into no layer
  { files: SHARED.map((f) => `src/${f}`), rules: rule([...layersRefused(null, [], '^\\./'), ...librariesRefused(null)]) },
  // the composed root files build on the library layers, never on its front ends
  {
    files: COMPOSED.map((f) => `src/${f}`),
    rules: rule([...['server', 'web', 'cli'].map((f) => ({ regex: `^\\./${f}/`, message: `src/${f} is a front end of the library, not part of it.` })), ...librariesRefused(null)]),
  },
];

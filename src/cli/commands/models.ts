/** `tagbooru models`: what the model store holds. */
import { listModels, removeModel, storeHome, type StoredModel } from '../../import/index.ts';
import { defineCommand } from '../command.ts';

function row(m: StoredModel) {
  const b = m.manifest;
  return {
    name: m.name,
    format: b ? [b.provenance.format, b.provenance.createdBy].find((x) => typeof x === 'string') ?? '-' : 'broken',
    tags: b ? b.tags.length : 0,
    input: b ? `${b.preprocess.width}×${b.preprocess.height}` : '-',
    preset: b ? b.preset : '-',
    size: `${(m.bytes / 2 ** 20).toFixed(1)} MiB`,
    path: m.dir,
    ...(m.error !== null && { error: m.error }),
  };
}

export const modelsCommand = defineCommand({
  name: 'models',
  usage: 'models [--json] [--remove <name>]',
  options: {
    json: { type: 'boolean', description: 'one JSON array' },
    remove: { type: 'string', placeholder: 'name', description: 'delete a stored model' },
  },

  async run({ values: v }, io) {
    if (v.remove) {
      io.stdout.write(`removed ${v.remove} (${await removeModel(v.remove, io.env)})\n`);
      return 0;
    }
    const rows = (await listModels(io.env)).map(row);
    if (v.json) {
      io.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      io.stdout.write(`no models in ${storeHome(io.env)}; add one with \`tagbooru import <path>\`\n`);
      return 0;
    }
    const cols = ['name', 'format', 'tags', 'input', 'preset', 'size'] as const;
    const table = [cols.map((c) => c.toUpperCase()), ...rows.map((r) => cols.map((c) => String(r[c])))];
    const widths = cols.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
    for (const t of table) io.stdout.write(`${t.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd()}\n`);
    for (const r of rows) if ('error' in r) io.stderr.write(`warning: ${r.name}: ${r.error}\n`);
    return 0;
  },
});

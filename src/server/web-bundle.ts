/**
 * The web UI (src/web) as the browser gets it: each script bundled by esbuild, a development dependency.
 * `npm run build` writes the bundles into dist/web, minified and without source maps; a server running
 * from the sources bundles on first request instead, with an inline map whose paths are relative to
 * src/web, so neither reveals where the package is installed.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Each script the page loads, by file name, and the module in src/web it is bundled from. */
export const WEB_SCRIPTS: Readonly<Record<string, string>> = { 'app.js': 'main.ts', 'probe.js': '_probe.ts' };
/** The files served as they are. */
export const WEB_FILES = ['index.html', 'style.css'] as const;

export async function bundleWebScript(webDir: string, entry: string, { sourceMap }: { sourceMap: boolean }): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: webDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify: true,
    sourcemap: sourceMap && 'inline',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** The shipped web UI: every script bundled, every other file copied, into `outDir`. */
export async function buildWebUi(webDir: string, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const [file, entry] of Object.entries(WEB_SCRIPTS)) await writeFile(path.join(outDir, file), await bundleWebScript(webDir, entry, { sourceMap: false }));
  for (const file of WEB_FILES) await copyFile(path.join(webDir, file), path.join(outDir, file));
}

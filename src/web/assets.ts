import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Each asset is made once per process, on first request, and then served from memory. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make().catch((err: unknown) => {
      made = undefined; // a failed build is tried again on the next request
      throw err;
    });
    return made;
  };
}

/**
 * The web view's script: plain TypeScript in src/web/client, bundled with ansi_up by
 * esbuild into one small file (about 30 KB). Bundled at run time rather than checked in,
 * so what is served is always what the sources say.
 */
export const webViewScript = once(async (): Promise<string> => {
  const result = await build({
    entryPoints: [path.join(here, 'client', 'main.ts')],
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no web view script');
  return output.text;
});

export const webViewStyles = once(() => fs.readFile(path.join(here, 'app.css'), 'utf8'));
export const webViewPage = once(() => fs.readFile(path.join(here, 'index.html'), 'utf8'));
export const apiReferencePage = once(() => fs.readFile(path.join(here, 'docs.html'), 'utf8'));

/** Redoc's standalone bundle, exactly as npm installed it: no CDN is ever asked. */
export const redocBundle = once(() => fs.readFile(require.resolve('redoc/bundles/redoc.standalone.js'), 'utf8'));

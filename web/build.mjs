// Builds the web pages into web/dist/ (served by `tutti serve`, docs/web.md):
//   dist/index.html, dist/demo.js, dist/demo.css          the live table (/)
//   dist/admin/index.html, dist/admin/admin.js, .css      the dashboard (/admin)
// esbuild bundles each page's entry with its npm dependencies (hls.js,
// Chart.js) and the JS SDK straight from its source (sdk/js/src), so the
// server needs nothing but static files. Idempotent: the same sources give
// the same bytes, and files the build no longer makes are removed.
//
//   node web/build.mjs [--dev]     (--dev: no minification, inline source maps)

import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const dist = join(web, 'dist');
const dev = process.argv.includes('--dev');

const sdkEntry = join(web, '..', 'sdk', 'js', 'index.js');
if (!existsSync(sdkEntry)) {
  console.error(`web/build: the JS SDK is missing (${relative(process.cwd(), sdkEntry)})`);
  process.exit(1);
}

const started = Date.now();
const result = await esbuild.build({
  absWorkingDir: web,
  entryPoints: { demo: 'demo/main.js', 'admin/admin': 'admin/main.js' },
  outdir: dist,
  bundle: true,
  format: 'esm',
  // Chromium of the last two years; requestVideoFrameCallback is there since 83.
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: !dev,
  sourcemap: dev ? 'inline' : false,
  legalComments: 'linked',
  // `tutti-sdk` is the JS SDK from this repository's source tree.
  alias: { 'tutti-sdk': sdkEntry },
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
  logLevel: 'warning',
  metafile: true,
});

// The HTML shells, copied as they are, and hls.js's transmuxer worker (the
// ESM build otherwise transmuxes on the page's thread).
mkdirSync(join(dist, 'admin'), { recursive: true });
copyFileSync(join(web, 'demo', 'index.html'), join(dist, 'index.html'));
copyFileSync(join(web, 'admin', 'index.html'), join(dist, 'admin', 'index.html'));
copyFileSync(join(web, 'node_modules', 'hls.js', 'dist', 'hls.worker.js'), join(dist, 'hls.worker.js'));

// Remove what an earlier build made and this one did not.
const made = new Set(Object.keys(result.metafile.outputs).map((p) => join(web, p)));
made.add(join(dist, 'index.html'));
made.add(join(dist, 'admin', 'index.html'));
made.add(join(dist, 'hls.worker.js'));
(function prune(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) prune(p);
    else if (!made.has(p)) rmSync(p);
  }
})(dist);

const sizes = [...made].map((p) => `${relative(web, p)} ${(statSync(p).size / 1024).toFixed(0)} KiB`);
console.error(`web/build: ${sizes.join(', ')} in ${Date.now() - started} ms`);

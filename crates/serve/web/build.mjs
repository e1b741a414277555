// Bundles src/ into dist/ with fixed file names (no content hashes): the serve crate
// embeds dist/index.html, dist/assets/app.js, dist/assets/app.css and
// dist/assets/favicon.svg by name (crates/serve/src/site.rs). Deterministic: the same
// sources and lock file give the same bytes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, 'src');
const dist = path.join(here, 'dist');

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(path.join(dist, 'assets'), { recursive: true });

// main.js imports style.css: esbuild writes the CSS beside the script as app.css.
await esbuild.build({
  entryPoints: { app: path.join(src, 'main.js') },
  outdir: path.join(dist, 'assets'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});

// The page: the development references to the sources become the bundle's names.
const html = fs
  .readFileSync(path.join(src, 'index.html'), 'utf8')
  .replace('<script type="module" src="./main.js"></script>', '<link rel="stylesheet" href="/assets/app.css" />\n    <script type="module" src="/assets/app.js"></script>');
if (!html.includes('/assets/app.js')) throw new Error('index.html: no script tag to replace');
fs.writeFileSync(path.join(dist, 'index.html'), html);
fs.copyFileSync(path.join(src, 'public/assets/favicon.svg'), path.join(dist, 'assets/favicon.svg'));

// What the bundle was built from, in sha256sum's format: the serve crate's tests check
// it against the sources, so an edit to src/ without a rebuild fails `cargo test`.
function files(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
const inputs = [...files(src), path.join(here, 'build.mjs'), path.join(here, 'package-lock.json')]
  .map((f) => path.relative(here, f).split(path.sep).join('/'))
  .sort();
const sums = inputs.map((f) => `${crypto.createHash('sha256').update(fs.readFileSync(path.join(here, f))).digest('hex')}  ${f}\n`);
fs.writeFileSync(path.join(dist, 'SOURCES.sha256'), sums.join(''));

for (const f of ['index.html', 'assets/app.js', 'assets/app.css', 'assets/favicon.svg']) {
  console.log(`${String(fs.statSync(path.join(dist, f)).size).padStart(8)}  dist/${f}`);
}

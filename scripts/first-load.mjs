#!/usr/bin/env node
// The first load of each kind of page in a release build (wasm + JS + CSS, gzip -9), and the
// budgets the release build must stay within (issue 18).
//   scripts/first-load.mjs PKG_DIR [--check]     PKG_DIR: the release's site/pkg
// Islands mode with lazy islands (src/app/mod.rs; `cargo leptos build --split`):
// - a page without islands (app::PAGES_WITHOUT_ISLANDS: the dashboard, the audit log,
//   /select-org) loads the stylesheet alone, tenantry.<hash>.css;
// - every other page loads the main module, tenantry.<hash>.{wasm,js,css}, and the split loader
//   its JS imports, __wasm_split.<hash>.js: a page without a lazy island (the landing page)
//   loads nothing else;
// - a page with a lazy island also loads the modules the split manifest lists for that island's
//   loader (`<island>_loader_<n>`).
// end2end/release/serving.test.mjs checks that a browser loads exactly these files.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const KIB = 1024;
/** Issue 18's goal for the first load of every page, gzip -9 (read as KiB). */
export const GOAL = 200 * KIB;
/** Budgets in bytes, gzip -9, so no page can grow unnoticed: without a lazy island the
 * heaviest page (65 KiB) plus a little; with one, the goal itself, which every island's page now
 * meets (members 196.7, projects 189.5, settings 167.8 KiB: README, Performance). */
export const BUDGETS = { plain: 68 * KIB, island: GOAL };

/** `{ none, plain, islands: { <island>: … } }`, each `{ files: [{ name, raw, gzip, served }],
 * total, served }` (bytes; `total` sums gzip -9, the budgets' measure; `served` is what a
 * browser accepting brotli downloads: the NAME.br copy scripts/precompress.mjs wrote, else the
 * file as it is), for the release site's `pkg` directory. Throws if it holds a file no page's count
 * includes (type declarations aside), or is not a split release build. */
export function firstLoad(pkgDir) {
  // The precompressed copies scripts/precompress.mjs writes (NAME.br, NAME.gz) are other
  // encodings of the files counted here, not files a page loads besides them.
  const names = readdirSync(pkgDir).filter((n) => !/\.(br|gz)$/.test(n));
  // A content hash, never cargo-leptos's placeholder of underscores (names not hashed).
  const hashed = (prefix, ext) => new RegExp(`^${prefix}\\.(?!_+\\.)[\\w-]{10,}\\.${ext}$`);
  const one = (re, what) => {
    const found = names.filter((n) => re.test(n));
    if (found.length !== 1) throw new Error(`${pkgDir}: expected one ${what}, found ${found.length} (${found.join(', ')})`);
    return found[0];
  };
  // A page without islands loads the stylesheet alone (no `HydrationScripts`: app::PAGES_WITHOUT_ISLANDS).
  const stylesheet = one(hashed('tenantry', 'css'), 'stylesheet');
  const main = [
    one(hashed('tenantry', 'wasm'), 'main wasm'),
    one(hashed('tenantry', 'js'), 'main JS'),
    stylesheet,
    one(hashed('__wasm_split', 'js'), 'split loader'),
  ];
  const manifestFile = one(hashed('__wasm_split_manifest', 'json'), 'split manifest');
  const manifest = JSON.parse(readFileSync(join(pkgDir, manifestFile), 'utf8'));
  const weigh = (files) => {
    const list = files.map((name) => {
      const raw = readFileSync(join(pkgDir, name));
      const br = join(pkgDir, `${name}.br`);
      const served = existsSync(br) ? statSync(br).size : raw.length;
      return { name, raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length, served };
    });
    const sum = (key) => list.reduce((t, f) => t + f[key], 0);
    return { files: list, total: sum('gzip'), served: sum('served') };
  };
  const islands = {};
  const counted = new Set([...main, manifestFile]);
  for (const [key, modules] of Object.entries(manifest)) {
    // Every lazy function here is a lazy island's loader: another would be a load this count
    // does not know which pages make.
    const island = /^([a-z_]+)_loader_\d+$/.exec(key)?.[1];
    if (!island) throw new Error(`${pkgDir}: the split manifest's lazy function ${key} is not an island's loader`);
    if (modules.length === 0) throw new Error(`${pkgDir}: the split manifest lists no module for ${key}`);
    const files = modules.map((m) => `${m}.wasm`);
    files.forEach((f) => counted.add(f));
    islands[island] = weigh([...main, ...new Set(files)]);
  }
  if (Object.keys(islands).length === 0) throw new Error(`${pkgDir}: no lazy island in the split manifest`);
  const uncounted = names.filter((n) => !counted.has(n) && !/\.d(\.[\w-]+)?\.ts$/.test(n));
  if (uncounted.length) throw new Error(`${pkgDir}: files a page may load that no count includes: ${uncounted.join(', ')}`);
  return { none: weigh([stylesheet]), plain: weigh(main), islands };
}

/** The kinds of page in `firstLoad`'s answer, each `[label, load, budget]`: without islands,
 * with only the main module's (the landing page's probe), then one per lazy island. */
export function pageKinds({ none, plain, islands }) {
  return [['a page without islands', none, BUDGETS.plain],
    ['a page without a lazy island', plain, BUDGETS.plain],
    ...Object.entries(islands).map(([island, load]) => [`a page with the ${island} island`, load, BUDGETS.island])];
}

// Run as a script (import.meta.url is the real path: argv[1] resolved the same way).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [pkgDir, flag] = process.argv.slice(2);
  if (!pkgDir || (flag && flag !== '--check')) {
    console.error('usage: scripts/first-load.mjs PKG_DIR [--check]');
    process.exit(2);
  }
  let over = false;
  for (const [kind, { files, total, served }, budget] of pageKinds(firstLoad(pkgDir))) {
    const ok = total <= budget;
    over ||= !ok;
    console.log(`first load of ${kind}: ${(total / KIB).toFixed(1)} KiB gzip of a ${budget / KIB} KiB budget${ok ? '' : ' — OVER'}; ${(served / KIB).toFixed(1)} KiB as served with brotli`);
    for (const f of files) console.log(`  ${f.name.padEnd(72)} ${String(f.raw).padStart(8)} bytes (gzip ${f.gzip}, served ${f.served})`);
  }
  if (flag === '--check' && over) {
    console.error('first-load: over budget (scripts/first-load.mjs BUDGETS)');
    process.exit(1);
  }
}

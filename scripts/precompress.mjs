#!/usr/bin/env node
// Compressed copies of the release build's static files, made once at build time at the
// highest levels (brotli quality 11, gzip level 9) and written next to each as NAME.br and
// NAME.gz. leptos_axum's file handler (tower-http's `ServeDir` with `precompressed_br` and
// `precompressed_gzip`) serves such a copy as it is to a client that accepts its encoding, so
// no request compresses a static file (the server's own compression, for pages, runs at a
// level meant for every request: `startup::compression`). A copy no smaller than its file is
// not written.
//   scripts/precompress.mjs PKG_DIR     PKG_DIR: the release's site/pkg
import { readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

/** What a page loads from `pkg`: wasm modules, their JS, the stylesheet, the split manifest. */
export const COMPRESSED = /\.(wasm|js|css|json)$/;

/** Writes NAME.br and NAME.gz next to every file of `dir` that `COMPRESSED` matches; returns
 * `[{ name, raw, br, gzip }]` (bytes; a copy not written counts as its file's size). */
export function precompress(dir) {
  const written = [];
  for (const name of readdirSync(dir).filter((n) => COMPRESSED.test(n)).sort()) {
    const raw = readFileSync(join(dir, name));
    const copies = {
      br: brotliCompressSync(raw, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
          [constants.BROTLI_PARAM_MODE]: name.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
        },
      }),
      gz: gzipSync(raw, { level: 9 }),
    };
    const sizes = { name, raw: raw.length };
    for (const [ext, bytes] of Object.entries(copies)) {
      // A copy left from an earlier build of this directory would be served for the new file.
      if (bytes.length < raw.length) writeFileSync(join(dir, `${name}.${ext}`), bytes);
      else rmSync(join(dir, `${name}.${ext}`), { force: true });
      sizes[ext === 'gz' ? 'gzip' : ext] = Math.min(bytes.length, raw.length);
    }
    written.push(sizes);
  }
  return written;
}

// Run as a script (import.meta.url is the real path, so argv[1] is resolved the same way).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: scripts/precompress.mjs PKG_DIR');
    process.exit(2);
  }
  const files = precompress(dir);
  for (const f of files) console.log(`  ${f.name}: ${f.raw} bytes, br ${f.br}, gzip ${f.gzip}`);
  // A release directory always holds wasm, which always compresses: anything else is a wrong
  // directory, and a release without its copies would be compressed per request again.
  if (!files.some((f) => f.name.endsWith('.wasm') && f.br < f.raw && f.gzip < f.raw)) {
    console.error(`precompress: no compressed copy of a .wasm file written in ${dir}`);
    process.exit(1);
  }
}

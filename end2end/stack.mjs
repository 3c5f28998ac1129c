// Starts what the browser tests need, hermetically: a throwaway Postgres (scripts/pg with its own
// directory and a free port), migrations, and the app's server binary on a free port.
// Everything is torn down by stop(); logs are kept under end2end/artifacts/ for failed runs.
// With TENANTRY_E2E_RELEASE_DIR set (scripts/release's output), the app is that release build
// (its binary, hashed site and leptos.env) instead of the debug build.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(ROOT, 'end2end', 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function targetDir() {
  return process.env.CARGO_TARGET_DIR || join(process.env.HOME, '.cache', 'tenantry', 'target');
}

/** Resolves once `url` answers 2xx (polls; throws after `timeoutMs`). */
export async function waitFor(url, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not become ready`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Child processes started together and stopped together (scripts/replicas, scripts/bench-http):
 * each logs to `<dir>/<name>.log`; `stopAll` sends SIGTERM, SIGKILL after 5 s, then stops the
 * throwaway Postgres of `pgEnv()` if there is one.
 */
export function processGroup(dir, pgEnv = () => null) {
  const children = [];
  return {
    children,
    start(name, cmd, args, env) {
      const out = openSync(join(dir, `${name}.log`), 'w');
      const child = spawn(cmd, args, { env, cwd: ROOT, stdio: ['ignore', out, out] });
      child.name = name;
      children.push(child);
      return child;
    },
    async stopAll() {
      await Promise.all(children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        c.kill('SIGTERM');
        const t = setTimeout(() => c.kill('SIGKILL'), 5000);
        await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r)));
        clearTimeout(t);
      }));
      const env = pgEnv();
      if (env) {
        try {
          execFileSync(join(ROOT, 'scripts', 'pg'), ['stop'], { env, stdio: 'ignore' });
        } catch {}
      }
    },
  };
}

/** A `KEY=value` file (the emulator's env file) as an object. */
export function readEnvFile(path) {
  const out = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    out[line.slice(0, i)] = line.slice(i + 1).replace(/^"(.*)"$/s, '$1');
  }
  return out;
}

/// Postgres, the Clerk emulator (seeded, webhooks to the app) and the app, on free ports.
export async function startStack(name, { tokenLifetime = 60 } = {}) {
  const pgDir = mkdtempSync(join(tmpdir(), 'tenantry-e2e-pg-'));
  const pgPort = await freePort();
  const pgEnv = { ...process.env, TENANTRY_PG_DIR: pgDir, TENANTRY_PG_PORT: String(pgPort) };
  delete pgEnv.DATABASE_URL;
  const dbEnv = Object.fromEntries(
    execFileSync(join(ROOT, 'scripts', 'pg'), ['start'], { env: pgEnv, encoding: 'utf8' })
      .trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );
  const release = process.env.TENANTRY_E2E_RELEASE_DIR;
  const bin = release ? join(release, 'tenantry') : join(targetDir(), 'debug', 'tenantry');
  execFileSync(bin, ['migrate'], { env: { ...process.env, ...dbEnv }, stdio: 'inherit' });
  const port = await freePort();
  const emuPort = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  const emuUrl = `http://127.0.0.1:${emuPort}`;
  const envFile = join(pgDir, 'clerk.env');
  const emuLog = openSync(join(ARTIFACTS, `${name}-emulator.log`), 'w');
  const emulator = spawn(join(targetDir(), 'debug', 'clerk-emulator'), [
    '--port', String(emuPort), '--allowed-origin', appUrl, '--webhook-url', `${appUrl}/api/webhooks/clerk`,
    '--seed', join(ROOT, 'crates', 'clerk-emulator', 'seed.json'),
    '--key', join(ROOT, 'crates', 'clerk', 'tests', 'fixtures', 'instance-private.pem'),
    '--token-lifetime', String(tokenLifetime), '--env-file', envFile,
  ], { stdio: ['ignore', emuLog, emuLog] });
  await waitFor(`${emuUrl}/.well-known/jwks.json`);
  const env = {
    ...process.env,
    ...dbEnv,
    ...readEnvFile(envFile),
    TENANTRY_ADDR: `127.0.0.1:${port}`,
    LEPTOS_SITE_ROOT: join(ROOT, 'target', 'site'),
    LEPTOS_OUTPUT_NAME: 'tenantry',
    RUST_LOG: 'info',
    ...(release ? readEnvFile(join(release, 'leptos.env')) : {}),
  };
  // Without --apply, sync only prints its plan.
  execFileSync(bin, ['sync', '--apply'], { env, stdio: 'ignore' });
  const log = openSync(join(ARTIFACTS, `${name}-server.log`), 'w');
  const server = spawn(bin, [], { env, cwd: ROOT, stdio: ['ignore', log, log] });
  await waitFor(`${appUrl}/healthz`);
  return {
    baseUrl: appUrl,
    emulatorUrl: emuUrl,
    /** Runs SQL as the schema owner and returns psql's unaligned output. */
    sql(query) {
      return execFileSync('psql', ['-X', '-A', '-t', '-c', query, dbEnv.DATABASE_ADMIN_URL], { encoding: 'utf8' }).trim();
    },
    async stop() {
      for (const p of [server, emulator]) {
        p.kill('SIGTERM');
        await new Promise((r) => (p.exitCode !== null ? r() : p.once('exit', r)));
      }
      execFileSync(join(ROOT, 'scripts', 'pg'), ['stop'], { env: pgEnv, stdio: 'ignore' });
      // The cluster (~50 MB) is this stack's alone: leave nothing behind in the temp directory.
      rmSync(pgDir, { recursive: true, force: true });
    },
  };
}

/** A GET with node:http: `{ status, headers, body }`, the body as sent (not decoded). */
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * The release build serves what the page links to under hashed names, cached for a year as
 * immutable and served as scripts/precompress.mjs compressed it into `pkgDir` (the release's
 * site/pkg); the page itself is gzipped and never stored. Throws on any departure.
 * `t(path)` makes an absolute URL; `pageHeaders` (e.g. a session cookie) go with the page's request.
 */
export async function checkReleaseServing(t, pkgDir, pageHeaders = {}, path = '/app/projects') {
  // A browser's Accept-Encoding (Chrome's over HTTPS): the page comes gzipped (the server never
  // brotli-compresses what it renders: startup::compression), the static files as precompressed.
  const res = await rawGet(t(path), { ...pageHeaders, 'accept-encoding': 'gzip, deflate, br, zstd' });
  const expect = (ok, what) => {
    if (!ok) throw new Error(`release serving: ${what}`);
  };
  expect(res.status === 200, `${path}: ${res.status}`);
  expect(/no-store/.test(res.headers['cache-control'] || ''), `the page's Cache-Control is ${res.headers['cache-control']}`);
  expect(res.headers['content-encoding'] === 'gzip', `the page is not gzip-compressed (${res.headers['content-encoding']})`);
  const html = gunzipSync(res.body).toString('utf8');
  const assets = [...new Set([...html.matchAll(/(\/pkg\/[\w.-]+\.(?:js|wasm|css))/g)].map((m) => m[1]))];
  for (const kind of ['js', 'wasm', 'css']) expect(assets.some((a) => a.endsWith(`.${kind}`)), `the page links no .${kind} (${assets.join(', ')})`);
  // Every one of them: the wasm, its JS and the stylesheet.
  for (const path of assets) {
    expect(/^\/pkg\/[\w-]+\.(?!_+\.)[\w-]{10,}\.(js|wasm|css)$/.test(path), `${path} has no content hash in its name`);
    const file = join(pkgDir, path.slice('/pkg/'.length));
    const original = readFileSync(file);
    for (const encoding of ['br', 'gzip']) {
      // node:http, not fetch: fetch decodes the body, and the bytes sent are what is checked.
      const r = await rawGet(t(path), { 'accept-encoding': encoding });
      const { body } = r;
      expect(r.status === 200, `${path}: ${r.status}`);
      expect(r.headers['cache-control'] === 'public, max-age=31536000, immutable', `${path}: Cache-Control ${r.headers['cache-control']}`);
      expect(r.headers['content-encoding'] === encoding, `${path} with Accept-Encoding ${encoding}: Content-Encoding ${r.headers['content-encoding']}`);
      // Cached for a year by shared caches too: the answer must say it depends on the encoding.
      expect(/(^|,)\s*accept-encoding\s*(,|$)/i.test(r.headers.vary || ''), `${path} with Accept-Encoding ${encoding}: Vary ${r.headers.vary}`);
      expect(body.length > 0, `${path}: empty body`);
      // Served as scripts/precompress.mjs compressed it at build time (brotli 11, gzip 9), not
      // compressed again by the server for each request.
      const copy = `${file}.${encoding === 'gzip' ? 'gz' : 'br'}`;
      expect(existsSync(copy), `${path}: no precompressed ${copy}`);
      expect(body.equals(readFileSync(copy)), `${path} with Accept-Encoding ${encoding}: not the precompressed ${copy}`);
      // And that copy is of this very file, not of an earlier build's.
      const decoded = encoding === 'gzip' ? gunzipSync(body) : brotliDecompressSync(body);
      expect(decoded.equals(original), `${path} with Accept-Encoding ${encoding}: decodes to something other than ${file}`);
    }
  }
  console.error(`release serving checked: ${assets.length} hashed assets immutable for a year, served precompressed (br and gzip); the page no-store and gzipped`);
}

export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Resolves once the wasm has hydrated every island of the page (`hydrate` in src/lib.rs sets
 * this attribute after them); a page without islands (app::PAGES_WITHOUT_ISLANDS) has it as
 * sent. */
export const hydrated = (page) => page.waitForSelector('body[data-hydrated=true]', { timeout: 30000 });

/** Opens `path`, lands on the emulator's sign-in page, signs in, and returns on the app. */
export async function signIn(stack, page, email, password, path = '/app/dashboard') {
  await page.goto(stack.baseUrl + path);
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-in'));
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => u.toString().startsWith(stack.baseUrl)), page.click('form[action="/sign-in"] button[type=submit] >> nth=0')]);
}

/** A journey that fails leaves its pages open: keep a screenshot of each for the post-mortem
 * (server and emulator logs are in artifacts/ too), then close them. */
export async function keepFailedPages(browser, testName) {
  for (const ctx of browser?.contexts() ?? []) {
    for (const [i, page] of ctx.pages().entries()) {
      const name = testName.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      await page.screenshot({ path: join(ARTIFACTS, `failed-${name}-${i}.png`), fullPage: true }).catch(() => {});
      await page.close().catch(() => {});
    }
  }
}

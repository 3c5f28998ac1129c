// The release build (scripts/release's output, TENANTRY_E2E_RELEASE_DIR) as deployed: hashed
// assets cached as immutable and compressed, pages never stored, and the optimised wasm
// hydrating the server's HTML (a release build is compiled apart from the debug one the other
// journeys use, so a mismatch between its server and its wasm shows only here).
// scripts/test runs this directory, then tests/journeys.test.mjs, against the release build.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser, hydrated, signIn, keepFailedPages, checkReleaseServing } from '../stack.mjs';

let stack, browser;
before(async () => {
  assert.ok(process.env.TENANTRY_E2E_RELEASE_DIR, 'set TENANTRY_E2E_RELEASE_DIR to scripts/release\'s output');
  stack = await startStack('release');
  browser = await launchBrowser();
});
afterEach((t) => keepFailedPages(browser, t.name));
after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('the release build hydrates, and serves hashed, immutable, compressed assets and unstored pages', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} ${m.location().url}`));
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  await signIn(stack, page, 'alice@acme.test', 'correct-horse-1', '/app/projects');
  await page.waitForURL((u) => u.pathname === '/app/projects');
  await hydrated(page);
  const wasm = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.endsWith('.wasm')));
  assert.equal(wasm.length, 1, `one wasm bundle: ${wasm}`);
  assert.match(wasm[0], /\/pkg\/tenantry\.[\w-]{10,}\.wasm$/, 'the hashed release bundle');
  // A client-side action: the form is handled by the hydrated app, so the document stays.
  await page.evaluate(() => (window.__sameDocument = true));
  await page.fill('[data-testid=create-form] input[name=name]', 'Release check');
  await page.click('[data-testid=create-form] button');
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Created “Release check”.")');
  await page.waitForSelector('[data-testid=project][data-name="Release check"]');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no full page load: the hydrated app handled the form');
  // The emulator's sign-in page is not the app (it has no icon).
  assert.deepEqual(errors.filter((e) => !e.includes(stack.emulatorUrl)), []);

  // As deployed: the signed-in page is never stored, what it links to is hashed, immutable and
  // compressed.
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  await checkReleaseServing((p) => stack.baseUrl + p, { cookie, accept: 'text/html' });
});

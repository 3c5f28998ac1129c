// The release build (scripts/release's output, TENANTRY_E2E_RELEASE_DIR) as deployed: hashed
// assets cached as immutable and compressed, pages never stored, and the optimised wasm
// hydrating the server's HTML (a release build is compiled apart from the debug one the other
// journeys use, so a mismatch between its server and its wasm shows only here).
// scripts/test runs this directory, then tests/journeys.test.mjs, against the release build.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack, launchBrowser, hydrated, signIn, keepFailedPages, checkReleaseServing } from '../stack.mjs';
import { firstLoad } from '../../scripts/first-load.mjs';

/** The /pkg/ files the page has loaded (wasm, JS, CSS), by name, sorted. A module's preload
 * and its import are two entries of one download. */
const loadedAssets = (page) => page.evaluate(() => [...new Set(performance.getEntriesByType('resource')
  .map((e) => new URL(e.name).pathname)
  .filter((p) => p.startsWith('/pkg/') && /\.(wasm|js|css)$/.test(p))
  .map((p) => p.slice('/pkg/'.length)))]
  .sort());

/** The page's requests for /pkg/ files from now on, counted by name: a preload the browser did
 * not reuse shows as a second request. */
function countRequests(page) {
  const counts = {};
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/pkg/')) counts[path.slice('/pkg/'.length)] = (counts[path.slice('/pkg/'.length)] ?? 0) + 1;
  });
  return counts;
}
const once = (names) => Object.fromEntries(names.map((n) => [n, 1]));

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
  const requests = countRequests(page);
  await signIn(stack, page, 'alice@acme.test', 'correct-horse-1', '/app/projects');
  await page.waitForURL((u) => u.pathname === '/app/projects');
  await hydrated(page);
  // A page loads what scripts/first-load.mjs weighs for it against its budget: the main module,
  // and on this page the projects editor island's modules (lazy islands, split build), each
  // downloaded once.
  const loads = firstLoad(join(process.env.TENANTRY_E2E_RELEASE_DIR, 'site', 'pkg'));
  const names = (load) => load.files.map((f) => f.name).sort();
  const editor = names(loads.islands.projects_editor);
  assert.deepEqual(await loadedAssets(page), editor);
  assert.deepEqual({ ...requests }, once(editor), 'each file downloaded once');
  assert.ok(editor.some((n) => /^split_projects_editor_loader_\w+\.[\w-]{10,}\.wasm$/.test(n)), 'the hashed island module');
  // A client-side action: the form is handled by the hydrated island, so the document stays.
  await page.evaluate(() => (window.__sameDocument = true));
  await page.fill('[data-testid=create-form] input[name=name]', 'Release check');
  await page.click('[data-testid=create-form] button');
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Created “Release check”.")');
  await page.waitForSelector('[data-testid=project][data-name="Release check"]');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no full page load: the hydrated island handled the form');
  // The emulator's sign-in page is not the app (it has no icon).
  assert.deepEqual(errors.filter((e) => !e.includes(stack.emulatorUrl)), []);

  // As deployed: the signed-in page is never stored, what it links to is hashed, immutable and
  // compressed.
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  await checkReleaseServing((p) => stack.baseUrl + p, join(process.env.TENANTRY_E2E_RELEASE_DIR, 'site', 'pkg'), { cookie, accept: 'text/html' });
  // The page's HTML holds the island with its props, and preloads the island's modules (they
  // download beside the main module, not after it).
  const html = await (await fetch(stack.baseUrl + '/app/projects', { headers: { cookie, accept: 'text/html' } })).text();
  assert.match(html, /<leptos-island data-component="ProjectsEditor_\w+" data-props="[^"]*can_manage&quot;:true/);
  for (const module of editor.filter((n) => n.startsWith('chunk_') || n.startsWith('split_'))) {
    assert.match(html, new RegExp(`<link[^>]*href="/pkg/${module.replaceAll('.', '\\.')}"[^>]*rel="preload"|<link[^>]*rel="preload"[^>]*href="/pkg/${module.replaceAll('.', '\\.')}"`), `${module} preloaded`);
  }

  // A page without a lazy island loads the main module alone, and its island hydrates.
  const visitor = await browser.newPage();
  await visitor.goto(stack.baseUrl + '/');
  await hydrated(visitor);
  await visitor.click('#hydration-probe');
  await visitor.waitForSelector('[data-testid=count]:has-text("1")');
  assert.deepEqual(await loadedAssets(visitor), names(loads.plain));

  // Every other page with a lazy island likewise: it loads exactly what first-load.mjs weighs
  // for it, and what it links to is served hashed, immutable and precompressed.
  for (const [path, island] of [['/app/members', 'members_editor'], ['/app/settings', 'settings_page']]) {
    const counts = countRequests(page);
    await page.goto(stack.baseUrl + path);
    await hydrated(page);
    assert.deepEqual(await loadedAssets(page), names(loads.islands[island]), path);
    // What the cache holds is not asked for again; what it does not, once (a preload the
    // browser did not reuse would be a second request).
    assert.deepEqual(Object.entries(counts).filter(([, n]) => n > 1), [], `${path}: each file downloaded at most once`);
    await checkReleaseServing((p) => stack.baseUrl + p, join(process.env.TENANTRY_E2E_RELEASE_DIR, 'site', 'pkg'), { cookie, accept: 'text/html' }, path);
  }

  // A link is a page load (no client-side router in islands mode), the workspace header's too: the
  // dashboard has no island and loads the stylesheet alone, no wasm and no Leptos loader
  // (marked hydrated as sent); the projects page its island's modules.
  await page.goto(stack.baseUrl + '/app/dashboard');
  await hydrated(page);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Acme');
  assert.deepEqual(await loadedAssets(page), names(loads.none));
  await page.evaluate(() => (window.__sameDocument = true));
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/projects'), page.click('header a[href="/app/projects"]')]);
  await hydrated(page);
  assert.equal(await page.evaluate(() => window.__sameDocument), undefined, 'a full page load');
  assert.deepEqual(await loadedAssets(page), editor);
  assert.deepEqual(errors.filter((e) => !e.includes(stack.emulatorUrl)), []);
});

test('a page preloads its own lazy island\'s modules once, with its own nonce, also under concurrent requests', async () => {
  const page = await browser.newPage();
  await signIn(stack, page, 'alice@acme.test', 'correct-horse-1', '/app/projects');
  await page.waitForURL((u) => u.pathname === '/app/projects');
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  await page.close();
  const loads = firstLoad(join(process.env.TENANTRY_E2E_RELEASE_DIR, 'site', 'pkg'));
  const count = (html, re) => (html.match(re) ?? []).length;
  const escape = (s) => s.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // Settings renders `SsrMode::Async`, projects in order: Leptos's own preloading lost the
  // former's links on most requests, and under concurrency added other requests' to them. Both
  // pages are asked for at once, so a link from the other page's request would show. (The
  // members page renders in order as projects does; its reads of Clerk's invitations are
  // limited to ten a minute, which two dozen requests would exceed.)
  const pages = [['/app/projects', 'projects_editor'], ['/app/settings', 'settings_page']];
  const islandModules = (island) => loads.islands[island].files.map((f) => f.name).filter((n) => /^(chunk|split)_.*\.wasm$/.test(n));
  const answers = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
    const [path, island] = pages[i % pages.length];
    const r = await fetch(stack.baseUrl + path, { headers: { cookie, accept: 'text/html' } });
    return { path, island, status: r.status, csp: r.headers.get('content-security-policy') ?? '', html: await r.text() };
  }));
  for (const [i, { path, island, status, csp, html }] of answers.entries()) {
    const what = `${path} answer ${i} (its links: ${(html.match(/<link[^>]*>/g) ?? []).join(' ')})`;
    assert.equal(status, 200, what);
    const modules = islandModules(island);
    assert.ok(modules.some((n) => n.startsWith(`split_${island}_loader_`)), `${island}: its loader module is in the build`);
    for (const module of modules) {
      assert.equal(count(html, new RegExp(`<link(?=[^>]*rel="preload")[^>]*href="/pkg/${escape(module)}"[^>]*>`, 'g')), 1, `${what}: ${module} preloaded once`);
    }
    const split = loads.islands[island].files.map((f) => f.name).find((n) => n.startsWith('__wasm_split.'));
    assert.equal(count(html, new RegExp(`<link(?=[^>]*rel="modulepreload")[^>]*href="/pkg/${escape(split)}"[^>]*>`, 'g')), 1, `${what}: ${split} preloaded once`);
    // None of the other island's own module.
    for (const [, other] of pages.filter(([, o]) => o !== island)) {
      const own = islandModules(other).filter((n) => n.startsWith('split_'));
      assert.deepEqual(own.filter((n) => html.includes(n)), [], `${what}: no link of ${other}'s`);
    }
    // No other request's nonce: every nonce (and Leptos's nonce-valued crossorigin) is the
    // one this answer's policy allows.
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, `${what}: a nonce in the policy`);
    const values = [...html.matchAll(/\b(?:nonce|crossorigin)="([^"]*)"/g)].map((m) => m[1]);
    assert.ok(values.length > 0, `${what}: nonces on the page`);
    assert.deepEqual(values.filter((v) => v !== nonce && v !== 'anonymous'), [], `${what}: only its own nonce`);
  }
});

// Journeys that need their own setup: a short token lifetime, sign-up, and no JavaScript.
// The islands (src/app/mod.rs) hydrate when the browser is idle: a form can be posted before.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack, launchBrowser, ARTIFACTS, hydrated, signIn as signInTo, keepFailedPages } from '../stack.mjs';

let stack, browser;
before(async () => {
  // Session tokens live 4 seconds here, so expiry happens within the test.
  stack = await startStack('more-journeys', { tokenLifetime: 4 });
  browser = await launchBrowser();
});
afterEach((t) => keepFailedPages(browser, t.name));
const signIn = (page, ...args) => signInTo(stack, page, ...args);
/** Signs in as Carol and opens Globex (she administers it), landing on its dashboard. */
async function openGlobex(page) {
  await signIn(page, 'carol@globex.test', 'correct-horse-3');
  await page.waitForURL((u) => u.pathname === '/select-org');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('form:has(input[value=org_globex]) button')]);
}
/** The page's uncaught errors and console errors from now on (callers leave out the emulator's
 * own: its sign-in page has no icon). */
function pageErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} ${m.location().url}`));
  return errors;
}
after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('4. past token expiry, navigation and an admin action still work without signing in again', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, 'alice@acme.test', 'correct-horse-1', '/app/projects');
  await page.waitForURL((u) => u.pathname === '/app/projects');
  await hydrated(page);
  await page.waitForTimeout(6000); // the token minted at sign-in has expired
  await page.goto(stack.baseUrl + '/app/dashboard'); // a navigation: the handshake refreshes it
  await page.waitForSelector('[data-testid=org-name]');
  await page.goto(stack.baseUrl + '/app/projects');
  await hydrated(page);
  await page.waitForTimeout(6000); // expired again while the page sits open
  await page.fill('[data-testid=create-form] input[name=name]', 'After Expiry');
  await page.click('[data-testid=create-form] button');
  const flash = await page.waitForSelector('[data-testid=flash-ok], [data-testid=flash-error]');
  assert.equal(await flash.textContent(), 'Created “After Expiry”.');
  assert.ok(!page.url().startsWith(stack.emulatorUrl), 'never sent back to sign-in');
  await ctx.close();
});

test('6. a new user signs up, reaches the database through the webhook, and creates a first organization', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(stack.baseUrl + '/sign-up');
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-up'));
  await page.fill('input[name=first_name]', 'Grace');
  await page.fill('input[name=last_name]', 'Hopper');
  await page.fill('input[name=email]', 'grace@navy.test');
  await page.fill('input[name=password]', 'cobol-forever-1');
  await Promise.all([page.waitForURL((u) => u.pathname === '/select-org'), page.click('form[action="/sign-up"] button')]);
  let row = '';
  for (let i = 0; i < 50 && !row; i++) {
    row = stack.sql("SELECT name FROM users WHERE email = 'grace@navy.test' AND deleted_at IS NULL");
    if (!row) await page.waitForTimeout(100);
  }
  assert.equal(row, 'Grace Hopper', 'user.created arrived through the signed webhook');
  await page.waitForSelector('[data-testid=no-orgs]');
  await page.fill('#new-org', 'Navy Labs');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('form[action="/select-org/create"] button')]);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Navy Labs');
  assert.equal(await page.textContent('[data-testid=role]'), 'admin');
  await ctx.close();
});

test('7. without JavaScript: sign in, choose an organization, switch, and manage projects by plain form posts', async () => {
  const ctx = await browser.newContext({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  await openGlobex(page);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Globex');
  await page.goto(stack.baseUrl + '/app/projects');
  await page.fill('[data-testid=create-form] input[name=name]', 'Plain Form');
  await Promise.all([page.waitForNavigation(), page.click('[data-testid=create-form] button')]);
  await page.goto(stack.baseUrl + '/app/projects');
  assert.equal(await page.locator('[data-testid=project][data-name="Plain Form"]').count(), 1);
  await page.locator('[data-testid=project][data-name="Plain Form"] input[name=name]').fill('Plain Form II');
  await Promise.all([page.waitForNavigation(), page.locator('[data-testid=project][data-name="Plain Form"] button:has-text("Rename")').click()]);
  await page.goto(stack.baseUrl + '/app/projects');
  assert.equal(await page.locator('[data-testid=project][data-name="Plain Form II"]').count(), 1);
  await page.selectOption('#switch-org', 'org_acme');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('[data-testid=org-switcher] button')]);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Acme');
  await page.goto(stack.baseUrl + '/app/projects');
  assert.equal(await page.locator('[data-testid=create-form]').count(), 0, 'a member sees no admin controls');
  assert.equal(await page.locator('[data-testid=project][data-name="Plain Form II"]').count(), 0, 'Globex data stays in Globex');
  await page.screenshot({ path: join(ARTIFACTS, 'projects-no-js.png'), fullPage: true });
  await ctx.close();
});

test('10. a form posted before its island hydrated comes back with its error, and the island hydrates over it', async () => {
  // Without JavaScript, as a form posted before hydration is: the second "Twice" is refused, and
  // the server sends the page back with the error in its URL.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const before = await plain.newPage();
  await openGlobex(before);
  await before.goto(stack.baseUrl + '/app/projects');
  for (let i = 0; i < 2; i++) {
    await before.fill('[data-testid=create-form] input[name=name]', 'Twice');
    await Promise.all([before.waitForNavigation(), before.click('[data-testid=create-form] button')]);
  }
  const returned = new URL(before.url());
  assert.ok(returned.searchParams.get('__err'), `the error travels in the URL: ${returned}`);
  const refused = await before.textContent('[data-testid=flash-error]');
  await plain.close();

  // With JavaScript, the same page: the island hydrates with that error (no mismatch with the
  // server's HTML), and its form then works in place.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = pageErrors(page);
  await openGlobex(page);
  await page.goto(stack.baseUrl + returned.pathname + returned.search);
  await hydrated(page);
  assert.equal(await page.textContent('[data-testid=flash-error]'), refused);
  await page.evaluate(() => (window.__sameDocument = true));
  await page.fill('[data-testid=create-form] input[name=name]', 'Thrice');
  await page.click('[data-testid=create-form] button');
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Created “Thrice”.")');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'handled in place by the island');
  assert.deepEqual(errors.filter((e) => !e.includes(stack.emulatorUrl)), []);
  await ctx.close();
});

test('11. pages rendered whole carry their scripts\' nonce in their policy, and the settings island changes the slug in place', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = pageErrors(page);
  await openGlobex(page);
  // The audit log and the settings render whole before they are sent (SsrMode::Async). Their
  // policy was set while Leptos rendered them and went missing from about half of the responses,
  // leaving the strict policy, which blocked the page's scripts (the settings island never
  // hydrated). The nonce is now chosen before the page renders (security::PageNonce).
  for (let i = 0; i < 6; i++) {
    for (const path of ['/app/audit', '/app/settings']) {
      const r = await page.goto(stack.baseUrl + path);
      const nonce = /'nonce-([^']+)'/.exec(r.headers()['content-security-policy'] ?? '')?.[1];
      assert.ok(nonce, `${path}: a nonce policy, not ${r.headers()['content-security-policy']}`);
      const used = [...(await r.text()).matchAll(/nonce="([^"]*)"/g)].map((m) => m[1]);
      assert.ok(used.length > 0 && used.every((n) => n === nonce), `${path}: every script carries the policy's nonce (${used})`);
    }
  }
  await page.goto(stack.baseUrl + '/app/settings');
  await hydrated(page);
  await page.evaluate(() => (window.__sameDocument = true));
  await page.fill('#org-slug', 'globex-hq');
  await page.click('[data-testid=slug-form] button');
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Slug changed to “globex-hq”.")');
  assert.equal(await page.inputValue('#org-slug'), 'globex-hq', 'the form shows the slug Clerk now has');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'handled in place by the island');
  assert.deepEqual(errors.filter((e) => !e.includes(stack.emulatorUrl)), []);

  // As a member (Carol in Acme) they refuse, every time: their 403 is set while they render.
  await page.selectOption('#switch-org', 'org_acme');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('[data-testid=org-switcher] button')]);
  for (let i = 0; i < 6; i++) {
    for (const path of ['/app/audit', '/app/settings']) {
      assert.equal((await page.goto(stack.baseUrl + path)).status(), 403, `${path} as a member`);
    }
  }
  await ctx.close();
});

test('13. the settings island deletes the organization: a wrong name is refused in place, the right one ends on /select-org', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await openGlobex(page);
  await page.goto(stack.baseUrl + '/app/settings');
  await hydrated(page);
  await page.evaluate(() => (window.__sameDocument = true));
  await page.fill('[data-testid=delete-form] input[name=confirm]', 'globex');
  await page.click('[data-testid=delete-form] button');
  await page.waitForSelector('[data-testid=flash-error]:has-text("Type the organization\'s name exactly")');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'refused in place by the island');
  // The server function answers with a redirect, which the island's forms follow.
  await page.fill('[data-testid=delete-form] input[name=confirm]', 'Globex');
  await Promise.all([page.waitForURL((u) => u.pathname === '/select-org'), page.click('[data-testid=delete-form] button')]);
  for (let i = 0; ; i++) {
    await page.goto(stack.baseUrl + '/select-org');
    await page.waitForSelector('[data-testid=org-list], [data-testid=no-orgs]');
    if ((await page.$('form:has(input[value=org_globex])')) === null) break;
    assert.ok(i < 30, 'Globex is still listed');
    await page.waitForTimeout(500);
  }
  await ctx.close();
});

// Journeys that need their own setup: a short token lifetime, sign-up, and no JavaScript.
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
  await signIn(page, 'carol@globex.test', 'correct-horse-3');
  await page.waitForURL((u) => u.pathname === '/select-org');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('form:has(input[value=org_globex]) button')]);
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

// What users do, in a real browser against the real app, the Clerk emulator and Postgres.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack, launchBrowser, ARTIFACTS, hydrated, signIn as signInTo, keepFailedPages } from '../stack.mjs';

let stack, browser;
before(async () => {
  stack = await startStack('journeys');
  browser = await launchBrowser();
});
afterEach((t) => keepFailedPages(browser, t.name));
const signIn = (page, ...args) => signInTo(stack, page, ...args);
after(async () => {
  await browser?.close();
  await stack?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

test('1. a visitor signs in, has no organization, creates "Acme" and lands on its dashboard', async () => {
  const page = await browser.newPage();
  await page.goto(stack.baseUrl + '/');
  await shot(page, 'landing');
  await page.goto(stack.baseUrl + '/app/dashboard');
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-in'));
  await shot(page, 'sign-in');
  await page.fill('input[name=email]', 'dave@example.test');
  await page.fill('input[name=password]', 'correct-horse-4');
  await page.click('form[action="/sign-in"] button[type=submit] >> nth=0');
  await page.waitForURL((u) => u.pathname === '/select-org');
  await page.waitForSelector('[data-testid=no-orgs]');
  await shot(page, 'select-org');
  await page.fill('#new-org', 'Acme');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('form[action="/select-org/create"] button')]);
  await page.waitForSelector('[data-testid=org-name]');
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Acme');
  assert.equal(await page.textContent('[data-testid=role]'), 'admin');
  await shot(page, 'dashboard');
  await page.close();
});

test('2. the Acme admin manages projects with feedback, and the audit log lists it all', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, 'alice@acme.test', 'correct-horse-1', '/app/projects');
  await page.waitForURL((u) => u.pathname === '/app/projects');
  await hydrated(page);
  const create = async (name) => {
    await page.fill('[data-testid=create-form] input[name=name]', name);
    await page.click('[data-testid=create-form] button');
    await page.waitForSelector(`[data-testid=flash-ok]:has-text("Created “${name}”.")`);
    await page.waitForSelector(`[data-testid=project][data-name="${name}"]`);
  };
  await create('Rocket');
  await create('Doomed');
  const row = (name) => page.locator(`[data-testid=project][data-name="${name}"]`);
  await row('Rocket').locator('input[name=name]').fill('Rocket II');
  await row('Rocket').locator('button:has-text("Rename")').click();
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Saved “Rocket II”.")');
  await row('Rocket II').locator('button:has-text("Archive")').click();
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Archived “Rocket II”.")');
  await page.goto(stack.baseUrl + '/app/projects?status=archived');
  await hydrated(page);
  await row('Rocket II').locator('button:has-text("Unarchive")').click();
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Restored “Rocket II”.")');
  await page.goto(stack.baseUrl + '/app/projects');
  await hydrated(page);
  await row('Doomed').locator('button:has-text("Delete")').click();
  await page.waitForSelector('[data-testid=flash-ok]:has-text("Deleted.")');
  await page.waitForSelector('[data-testid=project][data-name="Doomed"]', { state: 'detached' });
  // a duplicate name is an inline error, not a crash
  await page.fill('[data-testid=create-form] input[name=name]', 'rocket ii');
  await page.click('[data-testid=create-form] button');
  await page.waitForSelector('[data-testid=flash-error]:has-text("already exists")');
  await shot(page, 'projects');
  await page.goto(stack.baseUrl + '/app/audit');
  const actions = await page.locator('[data-testid=audit-list] li .font-mono').allTextContents();
  assert.deepEqual(actions.slice(0, 6), ['project.deleted', 'project.unarchived', 'project.archived', 'project.renamed', 'project.created', 'project.created']);
  await shot(page, 'audit');
  await ctx.close();
});

test('3. a member of Acme and admin of Globex switches between them; each shows only its own', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, 'carol@globex.test', 'correct-horse-3');
  // Carol has two organizations: she chooses first.
  await page.waitForURL((u) => u.pathname === '/select-org');
  await page.waitForSelector('[data-testid=org-list]');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('form:has(input[value=org_globex]) button')]);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Globex');
  await page.goto(stack.baseUrl + '/app/projects');
  await hydrated(page);
  await page.fill('[data-testid=create-form] input[name=name]', 'Globex Secret');
  await page.click('[data-testid=create-form] button');
  const flash = await page.waitForSelector('[data-testid=flash-ok], [data-testid=flash-error]');
  assert.equal(await flash.textContent(), 'Created “Globex Secret”.');
  await page.waitForSelector('[data-testid=project][data-name="Globex Secret"]');
  // switch to Acme with the header switcher
  await page.selectOption('#switch-org', 'org_acme');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/dashboard'), page.click('[data-testid=org-switcher] button')]);
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Acme');
  assert.equal(await page.textContent('[data-testid=role]'), 'member');
  await page.goto(stack.baseUrl + '/app/projects');
  await hydrated(page);
  await page.waitForSelector('[data-testid=project-list], [data-testid=empty]');
  assert.equal(await page.locator('[data-testid=create-form]').count(), 0, 'no admin controls for a member');
  assert.equal(await page.locator('button:has-text("Delete")').count(), 0);
  assert.equal(await page.locator('[data-testid=project][data-name="Globex Secret"]').count(), 0, 'Globex data stays in Globex');
  // a crafted post is refused by the server
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/projects/create', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Sneaky&description=' });
    return r.status;
  });
  assert.equal(status, 403);
  await ctx.close();
});

test('5. after sign-out, protected pages go to sign-in and back shows no private data', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, 'alice@acme.test', 'correct-horse-1');
  await page.waitForSelector('[data-testid=org-name]');
  assert.equal(new URL(page.url()).pathname, '/app/dashboard', 'the private page is the history entry before sign-out');
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Acme');
  await page.click('[data-testid=user-menu] summary'); // sign-out is in the user menu
  await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('form[action="/sign-out"] button')]);
  // Back to the private page itself: fetched again (no-store, never from the back/forward
  // cache), so the gate sends it to sign-in instead of showing the dashboard.
  await page.goBack();
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-in'));
  await page.waitForLoadState();
  const html = await page.content();
  assert.ok(!html.includes('data-testid="org-name"'), 'no private data after going back');
  assert.ok(!html.includes('data-testid="role"'), 'no private data after going back');
  // and a protected page opened afresh goes to sign-in too
  await page.goto(stack.baseUrl + '/app/projects');
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-in'));
  await ctx.close();
});

// Session tasks in a real browser: the emulator runs as Clerk does for B2B apps by default
// (organizations required, personal accounts off), so a new user's session is pending with the
// `choose-organization` task until they have an organization. Tenantry hosts that task on
// /select-org: the user never sees sign-in again, creates an organization there and lands on its
// dashboard with an active session.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser, hydrated, keepFailedPages } from '../stack.mjs';

let stack, browser;
before(async () => {
  stack = await startStack('session-tasks');
  browser = await launchBrowser();
});
afterEach((t) => keepFailedPages(browser, t.name));
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** The claims of the browser's current `__session` cookie for the app. */
async function sessionClaims(ctx) {
  const cookie = (await ctx.cookies(stack.baseUrl)).find((c) => c.name === '__session');
  assert.ok(cookie, 'a session cookie');
  return JSON.parse(Buffer.from(cookie.value.split('.')[1], 'base64url').toString());
}

/** `/api/whoami` from the page, as its own scripts would call it. */
const whoami = (page) => page.evaluate(async () => {
  const r = await fetch('/api/whoami');
  return { status: r.status, body: await r.json() };
});

test('8. sign up with organizations required: a pending session goes to /select-org, creates an organization and lands on its dashboard', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const visited = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) visited.push(f.url()); });

  await page.goto(stack.baseUrl + '/sign-up');
  await page.waitForURL((u) => u.toString().startsWith(stack.emulatorUrl + '/sign-up'));
  await page.fill('input[name=first_name]', 'Ada');
  await page.fill('input[name=last_name]', 'Lovelace');
  await page.fill('input[name=email]', 'ada@engine.test');
  await page.fill('input[name=password]', 'analytical-1843');
  const signedUpAt = visited.length;
  await Promise.all([page.waitForURL((u) => u.pathname === '/select-org'), page.click('form[action="/sign-up"] button')]);
  await page.waitForSelector('[data-testid=no-orgs]');
  await hydrated(page);
  const afterSignUp = visited.slice(signedUpAt);
  assert.ok(afterSignUp.some((u) => u.startsWith(stack.baseUrl + '/select-org')), afterSignUp.join('\n'));
  assert.deepEqual(afterSignUp.filter((u) => new URL(u).pathname.startsWith('/sign-in')), [], 'never sent to sign-in');

  // The session is pending: its token says so and names no organization; the API refuses it
  // with the reason, and the workspace leads back to the task page.
  let claims = await sessionClaims(ctx);
  assert.equal(claims.sts, 'pending');
  assert.equal(claims.o, undefined);
  const refused = await whoami(page);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.reason, 'session-pending');
  await page.goto(stack.baseUrl + '/app/projects');
  await page.waitForURL((u) => u.pathname === '/select-org' && u.searchParams.get('redirect_url') === '/app/projects');

  // The task: create an organization; it becomes the active one.
  await page.waitForSelector('[data-testid=no-orgs]');
  await page.fill('#new-org', 'Engine Works');
  await Promise.all([page.waitForURL((u) => u.pathname === '/app/projects'), page.click('form[action="/select-org/create"] button')]);
  await page.goto(stack.baseUrl + '/app/dashboard');
  assert.equal(await page.textContent('[data-testid=org-name]'), 'Engine Works');
  assert.equal(await page.textContent('[data-testid=role]'), 'admin');
  await hydrated(page);

  claims = await sessionClaims(ctx);
  assert.equal(claims.sts, 'active');
  assert.equal(claims.o?.rol, 'admin');
  let orgId = '';
  for (let i = 0; i < 50 && !orgId; i++) {
    orgId = stack.sql("SELECT id FROM organizations WHERE name = 'Engine Works' AND deleted_at IS NULL");
    if (!orgId) await page.waitForTimeout(100); // the organization.created webhook
  }
  assert.equal(claims.o?.id, orgId, 'the token carries the new organization');
  const who = await whoami(page);
  assert.equal(who.status, 200);
  assert.deepEqual(
    [who.body.sessionStatus, who.body.orgId, who.body.orgRole, who.body.isAuthenticated],
    ['active', orgId, 'org:admin', true],
  );
  assert.ok(!visited.some((u) => u.startsWith(stack.emulatorUrl + '/sign-in')), visited.join('\n'));
  await ctx.close();
});

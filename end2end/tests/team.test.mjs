// Running a team from inside Tenantry: an admin invites a colleague, the colleague signs up
// through the invitation and lands in the organization as a member, the admin promotes them and
// then removes them, and the colleague's next request no longer sees the organization's data.
// The last admin cannot leave; a member can.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, launchBrowser, hydrated, signIn, keepFailedPages } from '../stack.mjs';

let stack, browser;
before(async () => {
  stack = await startStack('team');
  browser = await launchBrowser();
});
afterEach((t) => keepFailedPages(browser, t.name));
after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** The member row of `email` on the members page, once it shows `role`. */
const memberRow = (page, email, role) =>
  page.waitForSelector(`[data-testid=member][data-email="${email}"][data-role="${role}"]`, { timeout: 15000 });

/** Reloads the members page until `check` holds (the mirror follows Clerk by webhook). */
async function eventually(page, path, check) {
  for (let i = 0; i < 30; i++) {
    await page.goto(stack.baseUrl + path);
    if (await check()) return;
    await page.waitForTimeout(500);
  }
  assert.fail(`${path}: never reached the expected state`);
}

test('9. an admin invites a colleague, who joins as a member, is promoted, then removed and loses access', async () => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(stack, admin, 'alice@acme.test', 'correct-horse-1', '/app/members');
  await admin.waitForURL((u) => u.pathname === '/app/members');
  await hydrated(admin);
  // The island's reads in place, by server function (a page load reads on the server instead).
  const reads = { members: 0, invitations: 0 };
  admin.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path === '/api/members/list') reads.members++;
    if (path === '/api/invitations/list') reads.invitations++;
  });
  await admin.fill('[data-testid=invite-form] input[name=email]', 'grace@acme.test');
  await admin.click('[data-testid=invite-form] button[type=submit]');
  await admin.waitForSelector('[data-testid=invitation][data-email="grace@acme.test"]');
  assert.equal(reads.invitations, 1, 'an invitation sent: the invitations are read again');

  // The colleague opens the email (the emulator's outbox) and signs up through its link.
  const colleagueCtx = await browser.newContext();
  const colleague = await colleagueCtx.newPage();
  await colleague.goto(stack.emulatorUrl + '/outbox');
  await colleague.click('[data-testid=mail][data-to="grace@acme.test"] a');
  await colleague.waitForSelector('input[name=ticket]', { state: 'attached' });
  await colleague.fill('input[name=first_name]', 'Grace');
  await colleague.fill('input[name=last_name]', 'Hopper');
  await colleague.fill('input[name=password]', 'compiler-1952');
  await Promise.all([
    colleague.waitForURL((u) => u.toString().startsWith(stack.baseUrl + '/app/dashboard')),
    colleague.click('form[action="/sign-up"] button'),
  ]);
  await colleague.waitForSelector('[data-testid=org-name]');
  assert.equal(await colleague.textContent('[data-testid=org-name]'), 'Acme', 'lands in the organization');
  assert.equal(await colleague.textContent('[data-testid=role]'), 'member');

  // The admin sees the new member, promotes them, then removes them.
  await eventually(admin, '/app/members', async () => (await admin.$('[data-testid=member][data-email="grace@acme.test"]')) !== null);
  await hydrated(admin);
  const row = await memberRow(admin, 'grace@acme.test', 'org:member');
  await (await row.$('select[name=role]')).selectOption('org:admin');
  const before = { ...reads };
  // A role changed: the members are read again (a read of the invitations would start with it).
  const membersRead = admin.waitForResponse((r) => new URL(r.url()).pathname === '/api/members/list');
  await (await row.$('[data-testid=role-form] button')).click();
  await admin.waitForSelector('[data-testid=flash-ok]');
  await membersRead;
  assert.ok(reads.members > before.members);
  // Each read of the invitations is a Backend API call from the admin's allowance.
  assert.equal(reads.invitations, before.invitations, 'a role changed: the invitations are not read again');
  await eventually(admin, '/app/members', async () => (await admin.$('[data-testid=member][data-email="grace@acme.test"][data-role="org:admin"]')) !== null);
  await hydrated(admin);
  const promoted = await memberRow(admin, 'grace@acme.test', 'org:admin');
  await (await promoted.$('[data-testid=remove] summary')).click();
  await (await promoted.$('[data-testid=remove] button')).click();
  await admin.waitForSelector('[data-testid=flash-ok]');
  await eventually(admin, '/app/members', async () => (await admin.$('[data-testid=member][data-email="grace@acme.test"]')) === null);

  // The colleague's next request: the organization's data is gone for them, though their
  // session token (minted before the removal) has not expired yet.
  const seen = await colleague.evaluate(async () => {
    const r = await fetch('/api/projects/list', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'search=&status=all' });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(seen.status, 403, JSON.stringify(seen.body));
  assert.equal(seen.body.code, 'membership_ended');
  await colleague.goto(stack.baseUrl + '/app/projects');
  await colleague.waitForSelector('[data-testid=load-error]');
  assert.match(await colleague.textContent('[data-testid=load-error]'), /no longer a member/);
});

test('12. the last admin is refused leaving and sees why; a member leaves and lands on /select-org', async () => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(stack, admin, 'alice@acme.test', 'correct-horse-1', '/app/members');
  await admin.waitForURL((u) => u.pathname === '/app/members');
  await hydrated(admin);
  const me = await admin.waitForSelector('[data-testid=member][data-email="alice@acme.test"]');
  await (await me.$('[data-testid=leave] summary')).click();
  // Leaving is a plain form post, hydrated or not: the refusal comes back in the page's URL, and
  // the hydrated island goes on showing it.
  await Promise.all([
    admin.waitForURL((u) => u.pathname === '/app/members' && u.searchParams.has('__err')),
    (await me.$('[data-testid=leave] button')).click(),
  ]);
  await hydrated(admin);
  assert.match(await admin.textContent('[data-testid=flash-error]'), /at least one admin/);
  assert.ok(await admin.$('[data-testid=member][data-email="alice@acme.test"][data-role="org:admin"]'), 'still an admin');

  const member = await (await browser.newContext()).newPage();
  await signIn(stack, member, 'bob@acme.test', 'correct-horse-2', '/app/members');
  // Bob belongs to two organizations: he chooses Acme first, and is sent on to the members.
  await member.waitForURL((u) => u.pathname === '/select-org');
  await member.waitForSelector('[data-testid=org-list]');
  await Promise.all([
    member.waitForURL((u) => u.pathname === '/app/members'),
    member.click('form:has(input[value=org_acme]) button'),
  ]);
  await hydrated(member);
  const bob = await member.waitForSelector('[data-testid=member][data-email="bob@acme.test"]');
  assert.equal(await member.$('[data-testid=invite-form]'), null, 'a member sees no invitations');
  await (await bob.$('[data-testid=leave] summary')).click();
  await Promise.all([member.waitForURL((u) => u.pathname === '/select-org'), (await bob.$('[data-testid=leave] button')).click()]);
  await eventually(member, '/select-org', async () => (await member.$('form:has(input[value=org_globex])')) !== null && (await member.$('form:has(input[value=org_acme])')) === null);
  await eventually(admin, '/app/members', async () => (await admin.$('[data-testid=member][data-email="bob@acme.test"]')) === null);
});

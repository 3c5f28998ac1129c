// The landing page is server-rendered and then hydrated: the probe button only counts once the
// wasm bundle has taken over the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack, launchBrowser, ARTIFACTS } from '../stack.mjs';

let stack, browser;
before(async () => {
  stack = await startStack('landing');
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
});

test('landing page hydrates and the probe reacts', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const resp = await page.goto(stack.baseUrl + '/');
  assert.equal(resp.status(), 200);
  const count = page.locator('[data-testid=count]');
  assert.equal(await count.textContent(), '0', 'server-rendered value');
  // Hydration finishes asynchronously after the wasm loads: click until the count moves.
  const deadline = Date.now() + 30000;
  while ((await count.textContent()) === '0' && Date.now() < deadline) {
    await page.click('#hydration-probe');
    await page.waitForTimeout(250);
  }
  assert.notEqual(await count.textContent(), '0', 'the button never reacted: the page did not hydrate');
  assert.deepEqual(errors, []);
  await page.screenshot({ path: join(ARTIFACTS, 'landing.png'), fullPage: true });
});

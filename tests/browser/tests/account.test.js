// The account page (/account) in Chromium against the real todo-server:
// two devices signed in, one revoked from the other, "log out other
// sessions", a password change (a wrong current password marked on its
// field), the security events with "Show more", the data export download,
// and deleting the account.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { screenshotPath, watch } from '../support/browser.js';
import { serverAndBrowser } from '../support/lifecycle.js';
import {
  PASSWORD, alert, apiLogin, assertNoOverflow, logIn, register, status, stored,
} from '../support/people.js';

const live = serverAndBrowser();

const SECOND_DEVICE = 'Mozilla/5.0 (X11; Linux x86_64; second device) Firefox/140.0';

/** The session items the account page lists. */
function sessionItems(page) {
  return page.locator('#session-list > li');
}

/** The second device's next request is refused; it says so and shows the
 * login form. */
async function expectSignedOut(page) {
  await page.getByRole('button', { name: 'Apply' }).click();
  await alert(page, 'Your session has ended. Please log in again.');
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await stored(page), null);
}

test('a person manages sessions, password, events, data and deletion on the account page', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext({ viewport: { width: 1100, height: 900 } });
  const other = await live.browser.newContext({ viewport: { width: 800, height: 800 }, userAgent: SECOND_DEVICE });
  const seen = watch(context, baseUrl);
  const seenOther = watch(other, baseUrl);
  seenOther.expectStatus(401);
  const email = live.server.uniqueEmail('account');
  await register(context, baseUrl, email);

  const page = await context.newPage();
  await logIn(page, baseUrl, email);
  const second = await other.newPage();
  await logIn(second, baseUrl, email);

  // --- two sessions, this one marked --------------------------------------
  await page.getByRole('link', { name: 'Account' }).click();
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/account');
  assert.equal(await page.getByRole('link', { name: 'Account' }).getAttribute('aria-current'), 'page');
  await sessionItems(page).nth(1).waitFor();
  assert.equal(await sessionItems(page).count(), 2);
  const current = sessionItems(page).filter({ hasText: 'This session' });
  assert.equal(await current.count(), 1);
  const otherItem = sessionItems(page).filter({ hasText: 'second device' });
  await otherItem.getByText('Firefox on Linux', { exact: true }).waitFor();
  await current.getByText('Headless Chrome on Linux', { exact: true }).waitFor();
  await otherItem.locator('dd', { hasText: '127.0.0.1' }).waitFor();
  await page.getByText(email).first().waitFor();
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.name));
  assert.deepEqual(unlabelled, [], 'every control has a label');
  await page.screenshot({ path: screenshotPath('07-account') });

  // --- revoke the other device's session -------------------------------------
  await otherItem.getByRole('button', { name: /^Revoke the session of Firefox on Linux from 127\.0\.0\.1, signed in / }).click();
  await status(page, 'was revoked.');
  await page.waitForFunction(() => document.querySelectorAll('#session-list > li').length === 1);
  assert.equal(await sessionItems(page).filter({ hasText: 'This session' }).count(), 1);
  await expectSignedOut(second);

  // --- log out other sessions ------------------------------------------------
  await logIn(second, baseUrl, email);
  await page.getByRole('link', { name: 'Tasks' }).click();
  await page.getByRole('link', { name: 'Account' }).click();
  await sessionItems(page).nth(1).waitFor();
  await page.getByRole('button', { name: 'Log out other sessions' }).click();
  await status(page, 'Every other session was logged out.');
  assert.equal(await sessionItems(page).count(), 1);
  await expectSignedOut(second);

  // --- change the password: a wrong current one is marked on its field ----------
  seen.expectStatus(422);
  const newPassword = 'a brand new passphrase';
  await logIn(second, baseUrl, email);
  await page.getByLabel('Current password').fill('not my password');
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await alert(page, 'the current password is wrong');
  const currentField = page.getByLabel('Current password');
  assert.equal(await currentField.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'current-password', 'focus is on the wrong field');
  const described = await currentField.getAttribute('aria-describedby');
  assert.ok(described?.includes('current-password-error'), described);

  await currentField.fill(PASSWORD);
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Change password' }).click();
  await status(page, 'Your password was changed.');
  assert.equal(await currentField.getAttribute('aria-invalid'), null, 'the mark is gone');
  assert.equal(await sessionItems(page).count(), 1, 'the other session was logged out');
  await expectSignedOut(second);
  const oldRefused = await other.request.post(`${baseUrl}/api/v1/auth/login`, { data: { email, password: PASSWORD } });
  assert.equal(oldRefused.status(), 401, 'the old password no longer works');
  await logIn(second, baseUrl, email, newPassword);

  // --- security events, newest first, "Show more" follows next_cursor ------------
  // Ten more logins and logouts elsewhere (each logged out at once: a user
  // has a bounded number of live sessions, past it the oldest ends).
  for (let i = 0; i < 10; i += 1) {
    const { access_token: elsewhere } = await apiLogin(other, baseUrl, email, newPassword);
    const out = await other.request.post(`${baseUrl}/api/v1/auth/logout`, { headers: { Authorization: `Bearer ${elsewhere}` } });
    assert.equal(out.status(), 204);
  }
  await page.getByRole('link', { name: 'Tasks' }).click();
  await page.getByRole('link', { name: 'Account' }).click();
  const events = page.locator('#event-list > li');
  await events.nth(19).waitFor();
  assert.equal(await events.count(), 20);
  assert.match(await events.first().textContent(), /^Logged out/, 'the newest event first');
  await page.getByRole('button', { name: 'Show more' }).click();
  await status(page, 'more event');
  const all = await events.allTextContents();
  assert.ok(all.length > 20, `more than one page (${all.length})`);
  for (const wanted of ['Password changed', 'Failed login attempt', 'Session revoked']) {
    assert.ok(all.some((text) => text.startsWith(wanted)), `"${wanted}" is listed: ${all.join(' | ')}`);
  }

  // --- download everything stored ---------------------------------------------------
  const token = (await stored(page)).access_token;
  const created = await context.request.post(`${baseUrl}/api/v1/tasks`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { title: 'Exported task' },
  });
  assert.equal(created.status(), 201);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download my data (JSON)' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^todo-account-\d{4}-\d{2}-\d{2}\.json$/);
  const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.user.email, email);
  assert.deepEqual(exported.tasks.map((task) => task.title), ['Exported task']);
  assert.ok(exported.sessions.length >= 1 && exported.events.length > 20);
  await status(page, 'Your data was downloaded');

  // --- phone width ------------------------------------------------------------------------
  await page.setViewportSize({ width: 375, height: 740 });
  await assertNoOverflow(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('08-account-phone') });
  await page.setViewportSize({ width: 1100, height: 900 });

  // --- delete the account: the password is asked for, then a confirmation ---------------
  await page.getByLabel('Your password').fill('not my password');
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await alert(page, 'The account was not deleted: the password is wrong.');
  assert.equal(await page.getByLabel('Your password').getAttribute('aria-invalid'), 'true');

  await page.getByLabel('Your password').fill(newPassword);
  let asked = '';
  page.once('dialog', (dialog) => { asked = dialog.message(); dialog.accept(); });
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await status(page, 'Your account and everything in it was deleted.');
  assert.match(asked, /cannot be undone/);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await stored(page), null);
  const gone = await context.request.post(`${baseUrl}/api/v1/auth/login`, { data: { email, password: newPassword } });
  assert.equal(gone.status(), 401, 'the account is gone');
  seen.expectStatus(401);
  await expectSignedOut(second);

  assert.deepEqual([...seen.problems, ...seenOther.problems], [], 'no console errors');
  assert.deepEqual([...seen.offOrigin, ...seenOther.offOrigin], [], 'no request to another origin');
  await context.close();
  await other.close();
});

test('"log out everywhere" ends every session, this one too', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext();
  const seen = watch(context, baseUrl);
  const email = live.server.uniqueEmail('everywhere');
  await register(context, baseUrl, email);
  const elsewhere = await apiLogin(context, baseUrl, email);
  const page = await context.newPage();
  await logIn(page, baseUrl, email);
  await page.goto(`${baseUrl}/account`);
  await sessionItems(page).nth(1).waitFor();

  await page.getByRole('button', { name: 'Log out everywhere' }).click();
  await status(page, 'You are logged out everywhere, on every device.');
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  const refused = await context.request.get(`${baseUrl}/api/v1/auth/me`, {
    headers: { Authorization: `Bearer ${elsewhere.access_token}` },
  });
  assert.equal(refused.status(), 401, 'the other session ended too');

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

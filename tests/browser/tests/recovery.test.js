// The pages account emails link to, in Chromium against a real todo-server
// that sends its mail to an SMTP sink the test started: the verification
// link of the welcome mail, "resend verification", "forgot password?" from
// the login form, the reset link (a bad or used one refused clearly), and
// each link's token gone from the address bar once read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshotPath, watch } from '../support/browser.js';
import { serverAndBrowser } from '../support/lifecycle.js';
import { linkToken } from '../support/smtp-sink.js';
import { PASSWORD, alert, assertNoOverflow, logIn, register, status, stored } from '../support/people.js';

const live = serverAndBrowser({ smtp: true });

/** The address bar carries no token, and neither does the history entry. */
async function assertTokenGone(page, path) {
  const url = new URL(page.url());
  assert.equal(url.pathname, path);
  assert.equal(url.search, '', 'the token is gone from the address bar');
  assert.equal(await page.evaluate(() => window.location.href.includes('token')), false);
}

test('the verification link of the welcome mail verifies the address; the account page can send another', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext();
  const seen = watch(context, baseUrl);
  const page = await context.newPage();
  const email = live.server.uniqueEmail('verify');
  await register(context, baseUrl, email);
  const welcome = await live.mail.nextTo(email);
  const token = linkToken(welcome, 'verify-email');

  // Signed in, the account page says the address is not verified yet and
  // sends the mail again on request.
  await logIn(page, baseUrl, email);
  await page.getByRole('link', { name: 'Account' }).click();
  await page.locator('#email-status').filter({ hasText: 'Not yet' }).waitFor();
  const before = live.mail.messages.length;
  await page.getByRole('button', { name: 'Resend verification email' }).click();
  await status(page, `We sent a new verification email to ${email}.`);
  const again = await live.mail.nextTo(email, { after: before });
  assert.notEqual(linkToken(again, 'verify-email'), token, 'a new token');

  // A made-up token is refused, clearly.
  seen.expectStatus(400);
  await page.goto(`${baseUrl}/verify-email?token=not-a-real-token`);
  await alert(page, 'This verification link is invalid or has expired.');
  await assertTokenGone(page, '/verify-email');

  // The link from the first mail: verified on arrival, token out of sight.
  await page.goto(`${baseUrl}/verify-email?token=${encodeURIComponent(token)}`);
  await status(page, 'Thank you: your email address is verified.');
  await assertTokenGone(page, '/verify-email');
  await page.screenshot({ path: screenshotPath('10-verified') });
  await page.getByRole('link', { name: 'Go to your account' }).click();
  await page.locator('#email-status').filter({ hasText: 'Yes' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Resend verification email' }).isVisible(), false);
  assert.equal((await stored(page)).user.email_verified, true);

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

test('"forgot password?" sends a reset link; its page sets a new password once', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext({ viewport: { width: 375, height: 740 } });
  const seen = watch(context, baseUrl);
  const page = await context.newPage();
  const email = live.server.uniqueEmail('reset');
  await register(context, baseUrl, email);
  const signedIn = await context.newPage();
  await logIn(signedIn, baseUrl, email);

  // From the login form, at phone width, with the keyboard.
  await page.goto(`${baseUrl}/`);
  await page.locator('#login-email').fill(email);
  await page.getByRole('link', { name: 'Forgot your password?' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/forgot-password');
  assert.equal(await page.getByLabel('Email').inputValue(), email, 'the address typed at login is kept');
  const before = live.mail.messages.length;
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await status(page, `If an account exists for ${email}, we sent it an email`);
  await assertNoOverflow(page);
  await page.screenshot({ path: screenshotPath('11-forgot-password') });
  const mail = await live.mail.nextTo(email, { after: before });
  const token = linkToken(mail, 'reset-password');

  // An unknown address gets the very same answer.
  await page.goBack();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email').fill(`nobody-${Date.now()}@example.com`);
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await status(page, 'If an account exists for nobody-');

  // The page of the link: the token leaves the address bar at once.
  await page.goto(`${baseUrl}/reset-password?token=${encodeURIComponent(token)}`);
  await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  await assertTokenGone(page, '/reset-password');
  const newPassword = 'reset by the link';
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByLabel('Repeat the new password').fill('something else');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await alert(page, 'The two passwords differ.');
  assert.equal(await page.getByLabel('Repeat the new password').getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Repeat the new password').fill(newPassword);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await status(page, 'Your password has been changed');
  await page.screenshot({ path: screenshotPath('12-password-reset') });

  // Every session ended, the tab signed in elsewhere included.
  seen.expectStatus(401);
  await signedIn.getByRole('button', { name: 'Apply' }).click();
  await alert(signedIn, 'Your session has ended. Please log in again.');

  // The link works once: a second use is refused, clearly.
  seen.expectStatus(400);
  await page.goto(`${baseUrl}/reset-password?token=${encodeURIComponent(token)}`);
  await page.getByLabel('New password', { exact: true }).fill('yet another password');
  await page.getByLabel('Repeat the new password').fill('yet another password');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await alert(page, 'This reset link is invalid, has expired or was already used.');
  await page.getByRole('link', { name: 'Ask for a new reset email' }).waitFor();

  // Without a token, the page says where to get one.
  await page.goto(`${baseUrl}/reset-password`);
  await page.getByText('This page needs the link from your password reset email.').waitFor();

  // The new password logs in; the old one no longer does.
  await logIn(page, baseUrl, email, newPassword);
  const old = await context.request.post(`${baseUrl}/api/v1/auth/login`, { data: { email, password: PASSWORD } });
  assert.equal(old.status(), 401);

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

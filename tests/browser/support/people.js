// What the account tests do over and over: make an account through the
// API, log in through the page, read what the page stored.

import assert from 'node:assert/strict';

export const PASSWORD = 'correct horse battery';

/** Registers `email` through the API (201). */
export async function register(context, baseUrl, email, password = PASSWORD) {
  const answer = await context.request.post(`${baseUrl}/api/v1/auth/register`, { data: { email, password } });
  assert.equal(answer.status(), 201, await answer.text());
}

/** Logs in through the API; resolves to the login answer. */
export async function apiLogin(context, baseUrl, email, password = PASSWORD) {
  const answer = await context.request.post(`${baseUrl}/api/v1/auth/login`, { data: { email, password } });
  assert.equal(answer.status(), 200, await answer.text());
  return answer.json();
}

/** Opens the client and logs in with the form, up to the task list. */
export async function logIn(page, baseUrl, email, password = PASSWORD) {
  await page.goto(`${baseUrl}/`);
  await page.locator('#login-email').fill(email);
  await page.locator('#login-password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Your tasks' }).waitFor();
}

/** What the page keeps in sessionStorage (null when signed out). */
export function stored(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('todo.session') ?? 'null'));
}

/** Waits for the status line (polite) to say `text`. */
export function status(page, text) {
  return page.getByRole('status').filter({ hasText: text }).waitFor();
}

/** Waits for the error line (assertive) to say `text`. */
export function alert(page, text) {
  return page.getByRole('alert').filter({ hasText: text }).waitFor();
}

/** Fails when the page is wider than its viewport (sideways scrolling). */
export async function assertNoOverflow(page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px too wide)`);
}

// Staying signed in through refresh tokens, in Chromium against a real
// todo-server whose access tokens live four seconds
// (APP__AUTH__ACCESS_TTL_SECS=4): the page keeps working long past the
// first token's expiry, requests refused at once share one refresh, and a
// replayed refresh token (reuse detection) ends the session cleanly; a
// copied tab does not share its original's refresh token.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshotPath, watch } from '../support/browser.js';
import { serverAndBrowser } from '../support/lifecycle.js';
import { alert, logIn, register, status, stored } from '../support/people.js';

const ACCESS_TTL_SECS = 4;
const live = serverAndBrowser({ env: { APP__AUTH__ACCESS_TTL_SECS: String(ACCESS_TTL_SECS) } });

/** Records every API answer the page gets: path and status. */
function answers(page) {
  const seen = [];
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/api/')) seen.push(`${response.request().method()} ${url.pathname} ${response.status()}`);
  });
  return seen;
}

/** Resolves once the server refuses `token` (it has expired): asks again
 * on each answer, at most `tries` times, a quarter second apart. */
async function untilRefused(context, baseUrl, token, tries = 40) {
  for (let i = 0; i < tries; i += 1) {
    const answer = await context.request.get(`${baseUrl}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    if (answer.status() === 401) return;
    await new Promise((resolve) => { setTimeout(resolve, 250); });
  }
  assert.fail(`the access token was still accepted after ${tries} tries`);
}

/** Adds a task through the form and waits for it to be announced. */
async function addTask(page, title) {
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByRole('button', { name: 'Add task' }).click();
  await status(page, `“${title}” added.`);
}

test('the page stays signed in past the access token expiry, and a replayed refresh token ends the session', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext();
  const seen = watch(context, baseUrl);
  const page = await context.newPage();
  const log = answers(page);
  const email = live.server.uniqueEmail('refresh');
  await register(context, baseUrl, email);
  await logIn(page, baseUrl, email);

  const first = await stored(page);
  assert.equal(typeof first.refresh_token, 'string', 'the login answer carried a refresh token');
  const lifetime = Date.parse(first.expires_at) - Date.now();
  assert.ok(lifetime <= ACCESS_TTL_SECS * 1000, `the access token lives ${ACCESS_TTL_SECS} s (${lifetime} ms left)`);

  // The first access token runs out on the server; the page still works,
  // without a single refused request: it renewed the token first.
  await untilRefused(context, baseUrl, first.access_token);
  await addTask(page, 'Added after the first token expired');
  await untilRefused(context, baseUrl, (await stored(page)).access_token);
  await addTask(page, 'Added after the second token expired');
  await page.reload();
  await page.locator('#task-list .task-title', { hasText: 'Added after the second token expired' }).waitFor();
  assert.match((await page.locator('#signed-in-as').textContent()), new RegExp(email.replace(/[.+]/g, '\\$&')));

  const now = await stored(page);
  assert.notEqual(now.access_token, first.access_token);
  assert.notEqual(now.refresh_token, first.refresh_token, 'refresh tokens rotate');
  assert.ok(log.some((line) => line === 'POST /api/v1/auth/refresh 200'), log.join('\n'));
  assert.deepEqual(log.filter((line) => line.endsWith(' 401')), [], 'no request was refused');
  await page.screenshot({ path: screenshotPath('09-refreshed') });

  // Someone replays the first (spent) refresh token: reuse detection ends
  // the session; the page's next request finds out and signs out cleanly.
  const replay = await context.request.post(`${baseUrl}/api/v1/auth/refresh`, { data: { refresh_token: first.refresh_token } });
  assert.equal(replay.status(), 401);
  seen.expectStatus(401);
  await page.getByRole('button', { name: 'Apply' }).click();
  await alert(page, 'Your session has ended. Please log in again.');
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await stored(page), null);

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

test('requests refused at once share one refresh and are each sent again', async () => {
  const { baseUrl } = live.server;

  const context = await live.browser.newContext();
  const seen = watch(context, baseUrl);
  seen.expectStatus(401);
  const page = await context.newPage();
  const email = live.server.uniqueEmail('single-flight');
  await register(context, baseUrl, email);
  await logIn(page, baseUrl, email);

  // An access token the server refuses, which the page still believes in
  // (as after a server restart with a new signing key): the account page
  // then sends three requests at once, all answered 401.
  await page.evaluate(() => {
    const value = JSON.parse(sessionStorage.getItem('todo.session'));
    value.access_token = 'not.a.token';
    value.access_deadline = Date.now() + 3_600_000;
    value.refresh_at = Date.now() + 3_600_000;
    sessionStorage.setItem('todo.session', JSON.stringify(value));
  });
  const log = answers(page);
  const PATHS = ['/api/v1/auth/me', '/api/v1/auth/sessions', '/api/v1/auth/events'];
  const answered = PATHS.map((path) => page.waitForResponse((r) => new URL(r.url()).pathname === path && r.ok()));
  await page.getByRole('link', { name: 'Account' }).click();
  await Promise.all(answered);
  await page.locator('#session-list > li').first().waitFor();
  await page.locator('#event-list > li').first().waitFor();

  const refreshes = log.filter((line) => line.startsWith('POST /api/v1/auth/refresh'));
  assert.deepEqual(refreshes, ['POST /api/v1/auth/refresh 200'], 'exactly one refresh');
  for (const path of PATHS) {
    const sent = log.filter((line) => line.startsWith(`GET ${path} `));
    assert.deepEqual(sent, [`GET ${path} 401`, `GET ${path} 200`], `${path}: refused once, then answered`);
  }
  assert.equal(await page.locator('#session-list > li').count(), 1, 'the session survived');

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

test('a copy of a signed-in tab forgets its copy of the session; the original keeps it', async () => {
  const { baseUrl } = live.server;
  const context = await live.browser.newContext();
  const seen = watch(context, baseUrl);
  const page = await context.newPage();
  const email = live.server.uniqueEmail('copied-tab');
  await register(context, baseUrl, email);
  await logIn(page, baseUrl, email);
  const original = await stored(page);

  // window.open copies sessionStorage into the new tab, as "Duplicate" does:
  // two tabs holding one refresh token would end the session on the second
  // refresh. The copy steps back and says why.
  const [copy] = await Promise.all([
    context.waitForEvent('page'),
    page.evaluate(() => { window.open(window.location.href); }),
  ]);
  await alert(copy, 'This tab was copied from a signed-in tab, which keeps that session.');
  await copy.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await stored(copy), null);

  await page.getByRole('button', { name: 'Apply' }).click();
  await page.locator('#list-summary').filter({ hasText: 'No tasks yet.' }).waitFor();
  assert.equal((await stored(page)).tab_key, original.tab_key, 'the original tab still holds its session');
  await page.reload();
  await page.getByRole('heading', { name: 'Your tasks' }).waitFor();
  assert.notEqual(await stored(page), null, 'a reload is not a copy');

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

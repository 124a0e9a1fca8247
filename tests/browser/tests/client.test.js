// A person's story in the reference web client (/), end to end in Chromium
// against the real todo-server and PostgreSQL: register, log in, add three
// tasks, complete one, filter, search, sort, edit, an edit conflict from a
// second page, paging, delete, phone width, log out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshotPath, watch } from '../support/browser.js';
import { serverAndBrowser } from '../support/lifecycle.js';

const live = serverAndBrowser();

/** Waits until the list shows exactly `titles`, in this order. */
async function expectTitles(page, titles) {
  const labels = page.locator('#task-list li .task-title');
  await page.waitForFunction(
    (wanted) => {
      const shown = [...document.querySelectorAll('#task-list li .task-title')]
        .map((el) => el.textContent.replace(/^Done: /, ''));
      return JSON.stringify(shown) === JSON.stringify(wanted);
    },
    titles,
    { timeout: 10_000 },
  ).catch(async () => {
    const shown = await labels.allTextContents();
    assert.deepEqual(shown.map((t) => t.replace(/^Done: /, '')), titles);
  });
}

/** Waits for the list's summary line to read `text`. */
function summary(page, text) {
  return page.locator('#list-summary').filter({ hasText: text }).waitFor();
}

async function logIn(page, email, password) {
  await page.getByLabel('Email').first().fill(email);
  await page.locator('#login-password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Your tasks' }).waitFor();
}

async function addTask(page, { title, priority, due }) {
  await page.getByLabel('Title', { exact: true }).fill(title);
  if (priority) await page.getByLabel('Priority').first().selectOption(priority);
  if (due) await page.getByLabel('Due date (optional)').fill(due);
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByRole('status').filter({ hasText: `“${title}” added.` }).waitFor();
}

test('a person manages their tasks in the web client', async () => {
  const context = await live.browser.newContext({ viewport: { width: 1100, height: 900 } });
  const seen = watch(context, live.server.baseUrl);
  const page = await context.newPage();
  const email = live.server.uniqueEmail('story');
  const password = 'correct horse battery';

  // --- the shell: every control labelled, a wrong password announced ------
  await page.goto(live.server.baseUrl + '/');
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.name));
  assert.deepEqual(unlabelled, []);
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => ({
    text: document.activeElement.textContent,
    outline: getComputedStyle(document.activeElement).outlineStyle,
  }));
  assert.deepEqual(skip, { text: 'Skip to content', outline: 'solid' }, 'keyboard focus is visible');
  await page.screenshot({ path: screenshotPath('01-login'), fullPage: true });

  seen.expectStatus(401);
  await page.locator('#login-email').fill(email);
  await page.locator('#login-password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password.' }).waitFor();

  // --- register, then log in --------------------------------------------
  await page.locator('#register-email').fill(email);
  await page.locator('#register-password').fill(password);
  await page.locator('#register-name').fill('Ada');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('status').filter({ hasText: `Account created for ${email}` }).waitFor();
  assert.equal(await page.locator('#login-email').inputValue(), email, 'the login form is filled in');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Your tasks' }).waitFor();
  await page.getByText(`Signed in as ${email}`).waitFor();
  await summary(page, 'No tasks yet. Add one above.');

  // --- a rejected title is announced and marked on its field --------------
  seen.expectStatus(422);
  await page.getByLabel('Title', { exact: true }).fill('   ');
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByRole('alert').filter({ hasText: 'Could not add the task.' }).waitFor();
  const titleField = page.getByLabel('Title', { exact: true });
  assert.equal(await titleField.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'new-title', 'focus is on the rejected field');
  const described = await titleField.getAttribute('aria-describedby');
  assert.match(await page.locator(`#${described}`).textContent(), /blank/);

  // --- three tasks, the last one from the keyboard alone -----------------
  await addTask(page, { title: 'Buy milk', priority: 'high' });
  await addTask(page, { title: 'Write report', due: '2030-01-15' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'new-title', 'focus is back on Title');
  await page.keyboard.type('Call Alice');
  await page.keyboard.press('Enter');
  await page.getByRole('status').filter({ hasText: '“Call Alice” added.' }).waitFor();
  await expectTitles(page, ['Call Alice', 'Write report', 'Buy milk']);
  const item = (title) => page.locator('#task-list li').filter({ hasText: title });
  await item('Buy milk').getByText('High priority').waitFor();
  await item('Call Alice').getByText('Medium priority').waitFor();
  await item('Write report').getByText(`Due ${await page.evaluate(() => new Date(2030, 0, 15).toLocaleDateString())}`).waitFor();

  // --- complete one --------------------------------------------------------
  await page.getByRole('checkbox', { name: 'Done: Buy milk' }).check();
  await page.getByRole('status').filter({ hasText: '“Buy milk” marked done.' }).waitFor();
  assert.equal(await page.getByRole('checkbox', { name: 'Done: Buy milk' }).isChecked(), true);
  await page.screenshot({ path: screenshotPath('02-tasks'), fullPage: true });

  // --- filter, search, sort ---------------------------------------------------
  await page.getByLabel('Show').selectOption('true');
  await expectTitles(page, ['Buy milk']);
  await page.getByLabel('Show').selectOption('false');
  await expectTitles(page, ['Call Alice', 'Write report']);
  await page.getByLabel('Show').selectOption('');
  await expectTitles(page, ['Call Alice', 'Write report', 'Buy milk']);

  await page.getByLabel('Search titles').fill('REPORT');
  await page.getByLabel('Search titles').press('Enter');
  await expectTitles(page, ['Write report']);
  await page.getByLabel('Search titles').fill('');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expectTitles(page, ['Call Alice', 'Write report', 'Buy milk']);

  await page.getByLabel('Sort by').selectOption('created_at');
  await expectTitles(page, ['Buy milk', 'Write report', 'Call Alice']);
  await page.getByLabel('Sort by').selectOption('-created_at');
  await expectTitles(page, ['Call Alice', 'Write report', 'Buy milk']);

  // --- edit: Escape cancels and gives focus back to the Edit button -----------
  await page.getByRole('button', { name: 'Edit “Call Alice”' }).click();
  assert.equal(await page.evaluate(() => document.activeElement.value), 'Call Alice', 'focus is in the form');
  await page.keyboard.press('Escape');
  await page.getByRole('status').filter({ hasText: 'Edit cancelled.' }).waitFor();
  assert.equal(
    await page.evaluate(() => document.activeElement.textContent),
    'Edit “Call Alice”',
    'focus is back on the Edit button',
  );

  // --- edit ---------------------------------------------------------------------
  await page.getByRole('button', { name: 'Edit “Call Alice”' }).click();
  const aliceForm = page.getByRole('form', { name: 'Edit “Call Alice”' });
  await aliceForm.getByLabel('Title').fill('Call Alice about the trip');
  await aliceForm.getByLabel('Description').fill('Ask about the train times');
  await aliceForm.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: '“Call Alice about the trip” saved.' }).waitFor();
  await expectTitles(page, ['Call Alice about the trip', 'Write report', 'Buy milk']);
  await page.getByText('Ask about the train times').waitFor();

  // --- an edit conflict from a second page --------------------------------------
  await page.getByRole('button', { name: 'Edit “Write report”' }).click();
  const reportForm = page.getByRole('form', { name: 'Edit “Write report”' });
  await reportForm.getByLabel('Title').fill('Write the report (first page)');

  const second = await context.newPage();
  await second.goto(live.server.baseUrl + '/');
  await logIn(second, email, password);
  await second.getByRole('button', { name: 'Edit “Write report”' }).click();
  const secondForm = second.getByRole('form', { name: 'Edit “Write report”' });
  await secondForm.getByLabel('Title').fill('Write report v2');
  await secondForm.getByRole('button', { name: 'Save' }).click();
  await second.getByRole('status').filter({ hasText: '“Write report v2” saved.' }).waitFor();

  seen.expectStatus(412);
  await reportForm.getByRole('button', { name: 'Save' }).click();
  const conflict = 'This task was changed elsewhere';
  await page.getByRole('alert').filter({ hasText: conflict }).waitFor();
  const reloaded = page.getByRole('form', { name: 'Edit “Write report v2”' });
  await reloaded.getByText(conflict).waitFor();
  assert.equal(await reloaded.getByLabel('Title').inputValue(), 'Write report v2', 'the form shows the current version');
  await page.screenshot({ path: screenshotPath('03-edit-conflict'), fullPage: true });
  await reloaded.getByLabel('Title').fill('Write the report (first page)');
  await reloaded.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: '“Write the report (first page)” saved.' }).waitFor();

  // The second page's session is revoked elsewhere: its next request gets
  // 401, and it says so and asks to log in again.
  const secondToken = await second.evaluate(() => JSON.parse(sessionStorage.getItem('todo.session')).access_token);
  const revoked = await context.request.post(live.server.baseUrl + '/api/v1/auth/logout', {
    headers: { Authorization: `Bearer ${secondToken}` },
  });
  assert.equal(revoked.status(), 204);
  await second.getByRole('button', { name: 'Apply' }).click();
  await second.getByRole('alert').filter({ hasText: 'Your session has ended. Please log in again.' }).waitFor();
  await second.getByRole('heading', { name: 'Log in' }).waitFor();
  await second.close();

  // --- paging: "Load more" follows next_cursor ------------------------------------
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('todo.session')).access_token);
  for (let i = 1; i <= 21; i += 1) {
    const answer = await context.request.post(live.server.baseUrl + '/api/v1/tasks', {
      headers: { Authorization: `Bearer ${token}` },
      data: { title: `Bulk task ${String(i).padStart(2, '0')}` },
    });
    assert.equal(answer.status(), 201);
  }
  await page.getByLabel('Sort by').selectOption('created_at');
  await page.locator('#task-list li').nth(19).waitFor();
  assert.equal(await page.locator('#task-list li').count(), 20);
  await summary(page, 'Showing 20 tasks (more to load).');
  await page.getByRole('button', { name: 'Load more' }).click();
  await summary(page, 'Showing 24 tasks.');
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isVisible(), false);
  const lastTitle = await page.locator('#task-list li .task-title').last().textContent();
  assert.equal(lastTitle.replace(/^Done: /, ''), 'Bulk task 21');
  await page.getByLabel('Sort by').selectOption('-created_at');
  await summary(page, 'Showing 20 tasks (more to load).');

  // --- delete --------------------------------------------------------------------
  await page.getByLabel('Search titles').fill('milk');
  await page.getByLabel('Search titles').press('Enter');
  await expectTitles(page, ['Buy milk']);
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Delete “Buy milk”' }).click();
  await page.getByRole('status').filter({ hasText: '“Buy milk” deleted.' }).waitFor();
  await page.reload();
  await page.getByLabel('Search titles').fill('milk');
  await page.getByLabel('Search titles').press('Enter');
  await summary(page, 'No tasks match these filters.');

  // --- phone width -----------------------------------------------------------------
  await page.setViewportSize({ width: 375, height: 740 });
  await page.getByLabel('Search titles').fill('');
  await page.getByLabel('Search titles').press('Enter');
  await summary(page, 'Showing 20 tasks (more to load).');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling at phone width (${overflow}px too wide)`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath('04-phone') });

  // --- log out: the token is refused from then on -------------------------------------
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('status').filter({ hasText: 'You are signed out.' }).waitFor();
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('todo.session')), null);
  const refused = await context.request.get(live.server.baseUrl + '/api/v1/tasks', {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(refused.status(), 401);

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

// /docs: Swagger UI served by todo-server itself. A person authorizes with a
// bearer token and runs "list tasks", which answers 200 with their task.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshotPath, watch } from '../support/browser.js';
import { serverAndBrowser } from '../support/lifecycle.js';

const live = serverAndBrowser();

test('/docs authorizes with a bearer token and runs list tasks', async () => {
  const context = await live.browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const seen = watch(context, live.server.baseUrl);

  // A user with one task, made through the API itself.
  const email = live.server.uniqueEmail('docs');
  const password = 'correct horse battery';
  const register = await context.request.post(`${live.server.baseUrl}/api/v1/auth/register`, { data: { email, password } });
  assert.equal(register.status(), 201);
  const login = await context.request.post(`${live.server.baseUrl}/api/v1/auth/login`, { data: { email, password } });
  assert.equal(login.status(), 200);
  const token = (await login.json()).access_token;
  const created = await context.request.post(`${live.server.baseUrl}/api/v1/tasks`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { title: 'Seen from the explorer' },
  });
  assert.equal(created.status(), 201);

  const page = await context.newPage();
  const bundle = page.waitForResponse((r) => r.url().endsWith('/swagger-ui-bundle.js'));
  const docs = await page.goto(`${live.server.baseUrl}/docs`);
  assert.equal((await bundle).headers()['content-encoding'], 'gzip', 'the 1.7 MB bundle travels compressed');
  assert.equal(docs.status(), 200);
  const policy = docs.headers()['content-security-policy'];
  assert.match(policy, /^default-src 'self';/);
  assert.doesNotMatch(policy, /script-src|unsafe/, 'nothing inline, nothing evaluated');
  assert.equal(docs.headers()['x-content-type-options'], 'nosniff');

  await page.getByRole('heading', { name: /todo API/ }).waitFor();
  const operation = page.locator('#operations-tasks-list_tasks');
  await operation.waitFor();

  // Authorize: the bearer scheme of /openapi.json.
  await page.getByRole('button', { name: 'Authorize' }).first().click();
  const dialog = page.locator('.dialog-ux');
  await dialog.getByRole('textbox').fill(token);
  await dialog.getByRole('button', { name: 'Apply credentials' }).click();
  await dialog.getByRole('button', { name: 'Remove authorization' }).waitFor();
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Authorize' }).first().waitFor();
  await page.screenshot({ path: screenshotPath('05-docs') });

  // Run "list tasks".
  await operation.locator('.opblock-summary-control').click();
  const tryIt = operation.getByRole('button', { name: 'Try it out' });
  if (await tryIt.isVisible()) await tryIt.click();
  const [answer] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/tasks' && r.request().method() === 'GET'),
    operation.getByRole('button', { name: 'Execute' }).click(),
  ]);
  assert.equal(answer.status(), 200);
  assert.equal(answer.request().headers().authorization, `Bearer ${token}`);
  const liveStatus = operation.locator('.live-responses-table tr.response .response-col_status').first();
  await liveStatus.waitFor();
  assert.equal((await liveStatus.textContent()).trim(), '200');
  await operation.getByText('Seen from the explorer').first().waitFor();
  await operation.screenshot({ path: screenshotPath('06-docs-list-tasks') });


  // The schemas section renders too (models, nested properties).
  const models = page.locator('section.models');
  await models.scrollIntoViewIfNeeded();
  const model = models.locator('article.json-schema-2020-12').filter({ hasText: 'TaskBody' }).first();
  await model.getByRole('button', { name: 'Expand all' }).click();
  await model.getByText('updated_at').first().waitFor();

  assert.deepEqual(seen.problems, [], 'no console errors');
  assert.deepEqual(seen.offOrigin, [], 'no request to another origin');
  await context.close();
});

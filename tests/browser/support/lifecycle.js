// One real todo-server and one Chromium per test file: started before its
// tests, stopped after them (even when a test failed).

import { before, after } from 'node:test';
import { launchBrowser } from './browser.js';
import { startServer } from './server.js';

/** The running pair; its fields are set once `before` has run. */
export function serverAndBrowser() {
  const live = { server: undefined, browser: undefined };
  before(async () => {
    live.server = await startServer();
    live.browser = await launchBrowser();
  });
  after(async () => {
    await live.browser?.close();
    await live.server?.stop();
  });
  return live;
}

// One real todo-server and one Chromium per test file: started before its
// tests, stopped after them (even when a test failed). `smtp: true` also
// starts an SMTP sink and points the server's mail settings at it; `env`
// adds settings (e.g. APP__AUTH__ACCESS_TTL_SECS).

import { before, after } from 'node:test';
import { launchBrowser } from './browser.js';
import { startServer } from './server.js';
import { startSmtpSink } from './smtp-sink.js';

/** The running set; its fields are set once `before` has run. */
export function serverAndBrowser({ env = {}, smtp = false } = {}) {
  const live = { server: undefined, browser: undefined, mail: undefined };
  before(async () => {
    const settings = { ...env };
    if (smtp) {
      live.mail = await startSmtpSink();
      Object.assign(settings, {
        APP__MAIL__SMTP_URL: `smtp://127.0.0.1:${live.mail.port}`,
        APP__MAIL__FROM: 'Todo <todo@example.com>',
        // Links name this host; the tests open the path on their own server.
        APP__MAIL__LINK_BASE_URL: 'http://todo.example',
      });
    }
    live.server = await startServer({ env: settings });
    live.browser = await launchBrowser();
  });
  after(async () => {
    await live.browser?.close();
    await live.server?.stop();
    await live.mail?.stop();
  });
  return live;
}

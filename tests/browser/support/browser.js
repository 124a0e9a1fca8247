// Debian's Chromium, headless, through playwright-core (which downloads no
// browser of its own), and a watch on every page: console errors, uncaught
// exceptions and requests to any origin but the server's.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './server.js';

export const artifactsDir = path.join(repoRoot, 'tests/browser/artifacts');

/** Starts Chromium. Playwright gives each launch a fresh --user-data-dir. */
export async function launchBrowser() {
  fs.mkdirSync(artifactsDir, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Records, for every page of `context`, console errors, page errors and
 * requests that leave `baseUrl`'s origin. `expectStatus(n)` allows the
 * browser's own "Failed to load resource: … status of n" line for an answer
 * the test provokes on purpose (a 401 for a wrong password, a 412).
 */
export function watch(context, baseUrl) {
  const origin = new URL(baseUrl).origin;
  const problems = [];
  const offOrigin = [];
  const expected = new Set();
  const watchPage = (page) => {
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const status = /status of (\d{3})/.exec(message.text());
      if (status && expected.has(Number(status[1]))) return;
      problems.push(`console error on ${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught on ${page.url()}: ${error.message}`));
  };
  context.on('page', watchPage);
  context.on('request', (request) => {
    const url = request.url();
    if (/^(data|blob|about):/.test(url)) return;
    if (new URL(url).origin !== origin) offOrigin.push(url);
  });
  return {
    watchPage,
    expectStatus: (status) => expected.add(status),
    problems,
    offOrigin,
  };
}

export function screenshotPath(name) {
  return path.join(artifactsDir, `${name}.png`);
}

// Moving between the client's pages without reloading: links marked
// `data-nav` and `navigate()` change the address (history.pushState) and
// redraw the view; Back and Forward redraw too. A click with a modifier
// (new tab, new window) is left to the browser.

import { clearMessages } from './announce.js';
import { h } from './dom.js';

let router = () => {};

/** Sets what draws the view for the current address (main.js's `route`). */
export function setRouter(draw) {
  router = draw;
}

/** Goes to `path` in this tab, as a link would, and moves focus to the view. */
export function navigate(path, { replace = false } = {}) {
  clearMessages();
  if (replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  router({ focus: true });
}

/** A link to one of the client's pages. */
export function navLink(path, text, attrs = {}) {
  return h('a', { href: path, 'data-nav': true, ...attrs, text });
}

window.addEventListener('popstate', () => {
  clearMessages();
  router({ focus: true });
});

document.addEventListener('click', (event) => {
  const link = event.target instanceof Element ? event.target.closest('a[data-nav]') : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});

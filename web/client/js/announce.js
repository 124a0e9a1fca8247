// The two live regions of the page: polite status news and assertive errors.
// Screen readers read what is written into them; sighted users see it too.

const statusEl = () => document.getElementById('status');
const errorEl = () => document.getElementById('error');

function write(el, message) {
  // Emptying first makes a repeated identical message be announced again.
  el.textContent = '';
  window.setTimeout(() => { el.textContent = message; }, 30);
}

/** Says that something worked ("Task added"). Clears the error line. */
export function announce(message) {
  errorEl().textContent = '';
  write(statusEl(), message);
}

/** Says that something failed, assertively. */
export function announceError(message) {
  statusEl().textContent = '';
  write(errorEl(), message);
}

/** Clears both lines (on a new view). */
export function clearMessages() {
  statusEl().textContent = '';
  errorEl().textContent = '';
}

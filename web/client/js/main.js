// Entry point: picks the view for the current path and signed-in state,
// and owns the header (who is signed in, "Log out").

import { api, onUnauthorized } from './api.js';
import { announce, announceError, clearMessages } from './announce.js';
import { session } from './session.js';
import { renderAuth } from './auth-view.js';
import { renderTasks } from './tasks-view.js';
import { renderPending } from './pending-view.js';

const main = document.getElementById('main');

/** Pages that account emails link to (issue 13); they land here for now. */
const PENDING_PAGES = {
  '/reset-password': 'Resetting a password',
  '/verify-email': 'Verifying an email address',
};

function showAccount() {
  const user = session.user();
  const nav = document.getElementById('account');
  nav.hidden = !user;
  document.getElementById('signed-in-as').textContent = user ? `Signed in as ${user.email}` : '';
}

/** Draws the view for the current state; `focus` moves focus to it. */
function route({ focus = false } = {}) {
  showAccount();
  const pending = PENDING_PAGES[window.location.pathname];
  if (pending) {
    renderPending(main, pending);
  } else if (session.current()) {
    renderTasks(main);
  } else {
    renderAuth(main, { onSignedIn: () => route({ focus: true }) });
  }
  if (focus) main.focus();
}

async function logOut() {
  try {
    await api.logout();
  } catch (error) {
    // Already refused (401) means already signed out; anything else is
    // worth saying, but the local session goes either way.
    if (error.status !== 401) announceError(`Signed out here, but the service said: ${error.message}`);
  }
  session.clear();
  route({ focus: true });
  announce('You are signed out.');
}

onUnauthorized(() => {
  session.clear();
  route({ focus: true });
  announceError('Your session has ended. Please log in again.');
});

document.getElementById('logout').addEventListener('click', logOut);
clearMessages();
route();

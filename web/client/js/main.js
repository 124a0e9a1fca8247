// Entry point: picks the view for the current address and signed-in state,
// and owns the header (who is signed in, the page links, "Log out").

import { api, forgetSession, keepFresh, onUnauthorized } from './api.js';
import { announce, announceError, clearMessages } from './announce.js';
import { session } from './session.js';
import { navigate, setRouter } from './nav.js';
import { renderAuth } from './auth-view.js';
import { renderTasks } from './tasks-view.js';
import { renderAccount } from './account-view.js';
import { renderForgotPassword, renderResetPassword, renderVerifyEmail } from './recovery-view.js';

const main = document.getElementById('main');

/** Pages anyone may open, signed in or not (account emails link to two). */
const OPEN_PAGES = {
  '/forgot-password': ['Forgot password', renderForgotPassword],
  '/reset-password': ['Reset password', renderResetPassword],
  '/verify-email': ['Verify email', renderVerifyEmail],
};

function showAccount() {
  const user = session.user();
  const nav = document.getElementById('account');
  nav.hidden = !user;
  document.getElementById('signed-in-as').textContent = user ? `Signed in as ${user.email}` : '';
  for (const link of nav.querySelectorAll('a[data-nav]')) {
    if (link.getAttribute('href') === window.location.pathname) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function signedIn() {
  keepFresh();
  route({ focus: true });
}

/** Draws the view for the current state; `focus` moves focus to it. */
function route({ focus = false } = {}) {
  const path = window.location.pathname;
  const open = OPEN_PAGES[path];
  let title;
  if (open) {
    title = open[0];
    open[1](main, { onSignedIn: signedIn });
  } else if (!session.current()) {
    title = 'Log in';
    renderAuth(main, { onSignedIn: signedIn });
  } else if (path === '/account') {
    title = 'Account';
    renderAccount(main, { onUserChanged: showAccount, onSignedOut: signedOut });
  } else {
    title = 'Your tasks';
    renderTasks(main);
  }
  showAccount();
  document.title = `${title} · Todo`;
  if (focus) {
    // A new page starts at its top, header included, as after a link.
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

/** After this tab's session ended on purpose (logout everywhere, deletion). */
function signedOut(message) {
  forgetSession();
  navigate('/');
  announce(message);
}

async function logOut() {
  try {
    await api.logout();
  } catch (error) {
    // Already refused (401) means already signed out; anything else is
    // worth saying, but the local session goes either way.
    if (error.status !== 401) announceError(`Signed out here, but the service said: ${error.message}`);
  }
  forgetSession();
  window.history.replaceState(null, '', '/');
  route({ focus: true });
  announce('You are signed out.');
}

onUnauthorized(() => {
  route({ focus: true });
  announceError('Your session has ended. Please log in again.');
});

setRouter(route);
document.getElementById('logout').addEventListener('click', logOut);
clearMessages();
const mine = await session.claim();
if (session.current()) keepFresh();
route();
if (!mine) {
  announceError('This tab was copied from a signed-in tab, which keeps that session. Log in here to use this tab on its own.');
}

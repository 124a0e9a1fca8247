// The pages for getting back into an account, open to anyone: "forgot
// password" (asks for an email to be sent), and the two pages that account
// emails link to, `/reset-password?token=…` and `/verify-email?token=…`.
//
// A link's token is taken out of the address bar as soon as it is read
// (history.replaceState), so it does not linger in the history, in a
// bookmark or on screen; it is kept in memory for this page only.

import { api, forgetSession } from './api.js';
import { announceError, clearMessages } from './announce.js';
import { busy, field, h, showFieldErrors } from './dom.js';
import { navLink } from './nav.js';
import { session } from './session.js';

/** Tokens read from the address, by page path, for this page's life. */
const tokens = new Map();

/** The `token` query parameter of this page, read once and then removed
 * from the address bar. */
function takeToken() {
  const { pathname, search, hash } = window.location;
  const params = new URLSearchParams(search);
  if (params.has('token')) {
    tokens.set(pathname, params.get('token'));
    params.delete('token');
    const rest = params.toString();
    window.history.replaceState(window.history.state, '', `${pathname}${rest ? `?${rest}` : ''}${hash}`);
  }
  return tokens.get(pathname) || null;
}

function card(id, title, ...children) {
  return h('section', { class: 'card narrow', 'aria-labelledby': id },
    h('h2', { id, tabindex: '-1', text: title }), ...children);
}

/** What the page has to say, with the links onward. */
function outcome(id, text, ...links) {
  return h('div', { id, class: 'outcome' }, h('p', { text }), links.length ? h('p', {}, ...links) : null);
}

/**
 * Puts how things went in place of `replaced`, as a live region that gets
 * the focus, so it is read out (errors assertively) and the links after it
 * are the next stop for the keyboard. It says it once, in the page, rather
 * than again in the message lines above.
 */
function settle(replaced, id, text, { error = false } = {}, ...links) {
  const shown = outcome(id, text, ...links);
  shown.setAttribute('role', error ? 'alert' : 'status');
  shown.setAttribute('tabindex', '-1');
  if (error) shown.classList.add('refused');
  clearMessages();
  replaced.replaceWith(shown);
  shown.focus();
}

function passwordInput(id, name, autocomplete) {
  return h('input', { id, name, type: 'password', autocomplete, required: true, minlength: 8, maxlength: 128 });
}

/** `/forgot-password`: asks for a reset email. The answer is the same
 * whether or not the account exists, and so is what this page says. */
export function renderForgotPassword(main) {
  const email = h('input', { id: 'forgot-email', name: 'email', type: 'email', autocomplete: 'username', required: true, maxlength: 254 });
  const form = h('form', { id: 'forgot-form', 'aria-labelledby': 'forgot-heading' },
    h('p', { text: 'Enter the email address of your account. We will send it a link to choose a new password.' }),
    field('Email', email),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: 'Send reset link' }),
      navLink('/', 'Back to log in', { class: 'aside-link' })));
  // The address typed into the login form, if the person came from there.
  email.value = document.getElementById('login-email')?.value.trim() ?? '';
  main.replaceChildren(card('forgot-heading', 'Forgot your password?', form));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(form);
    busy(form, true);
    const address = email.value.trim();
    try {
      await api.requestPasswordReset(address);
      const message = `If an account exists for ${address}, we sent it an email with a link to reset the password. `
        + 'The link works for 30 minutes.';
      settle(form, 'forgot-sent', message, {}, navLink('/', 'Back to log in'));
    } catch (error) {
      busy(form, false);
      announceError(`Could not ask for a reset email. ${error.message}`);
      showFieldErrors(form, error.fieldErrors);
    }
  });
}

/** `/reset-password?token=…`: a new password for the account the emailed
 * token belongs to. Confirming ends every session of that account,
 * including this tab's, so the person logs in again with the new one. */
export function renderResetPassword(main) {
  const token = takeToken();
  if (!token) {
    main.replaceChildren(card('reset-heading', 'Reset your password',
      outcome('reset-missing', 'This page needs the link from your password reset email. '
        + 'Open that link again, or ask for a new email.', navLink('/forgot-password', 'Ask for a new reset email'))));
    return;
  }
  const password = passwordInput('reset-password', 'new_password', 'new-password');
  const repeat = passwordInput('reset-repeat', 'repeat_password', 'new-password');
  const form = h('form', { id: 'reset-form', 'aria-labelledby': 'reset-heading' },
    field('New password', password, '8 to 128 characters.'),
    field('Repeat the new password', repeat),
    h('button', { type: 'submit', class: 'primary', text: 'Set new password' }));
  main.replaceChildren(card('reset-heading', 'Choose a new password', form));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (password.value !== repeat.value) {
      const message = 'The two passwords differ.';
      showFieldErrors(form, [{ field: 'repeat_password', message }]);
      announceError(message);
      return;
    }
    showFieldErrors(form);
    busy(form, true);
    try {
      await api.confirmPasswordReset(token, password.value);
      tokens.delete(window.location.pathname);
      if (session.held()) forgetSession();
      const message = 'Your password has been changed, and every session of your account was logged out. '
        + 'Log in with the new password.';
      settle(form, 'reset-done', message, {}, navLink('/', 'Log in'));
    } catch (error) {
      busy(form, false);
      if (error.status === 400) {
        const message = 'This reset link is invalid, has expired or was already used. Ask for a new email.';
        settle(form, 'reset-refused', message, { error: true }, navLink('/forgot-password', 'Ask for a new reset email'));
      } else {
        announceError(`Could not change the password. ${error.message}`);
        showFieldErrors(form, error.fieldErrors);
      }
    }
  });
}

/** `/verify-email?token=…`: sends the emailed token on arrival and says
 * how that went. */
export function renderVerifyEmail(main) {
  const token = takeToken();
  const signedIn = () => Boolean(session.current());
  const onward = () => (signedIn() ? navLink('/account', 'Go to your account') : navLink('/', 'Log in'));
  const status = h('p', { id: 'verify-progress', text: 'Verifying your email address…' });
  const section = card('verify-heading', 'Verify your email address', status);
  main.replaceChildren(section);
  if (!token) {
    status.replaceWith(outcome('verify-missing', 'This page needs the link from your verification email. '
      + 'Open that link again; when signed in, your account page can send a new one.', onward()));
    return;
  }
  section.setAttribute('aria-busy', 'true');
  api.verifyEmail(token).then(async () => {
    tokens.delete('/verify-email');
    const message = 'Thank you: your email address is verified.';
    settle(status, 'verify-done', message, {}, onward());
    if (signedIn()) {
      try {
        const { data } = await api.me();
        session.setUser(data);
      } catch {
        // The account page reads the user again anyway.
      }
    }
  }, (error) => {
    if (error.status === 400) tokens.delete('/verify-email');
    const message = error.status === 400
      ? 'This verification link is invalid or has expired. When signed in, your account page can send a new one.'
      : `Could not verify the email address. ${error.message}`;
    settle(status, 'verify-refused', message, { error: true }, onward());
  }).finally(() => section.removeAttribute('aria-busy'));
}

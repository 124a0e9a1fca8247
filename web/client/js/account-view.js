// `/account`: what a signed-in person can see and do about their account.
// The email address and whether it is verified (with "resend"), the
// sessions signed in to it (revoke one, log out the others or all), the
// password, the security events (newest first, "Show more" follows
// next_cursor), a download of everything stored, and deleting the account.

import { api } from './api.js';
import { announce, announceError } from './announce.js';
import { busy, field, h, showFieldErrors, srOnly, when } from './dom.js';
import { session } from './session.js';

const EVENTS_PAGE = 20;

/** What each security event means, in words. */
const EVENT_TEXT = {
  registered: 'Account created',
  login_succeeded: 'Logged in',
  login_failed: 'Failed login attempt',
  logout: 'Logged out',
  session_revoked: 'Session revoked',
  refresh_reused: 'An old session token was used again; that session was ended to be safe',
  password_changed: 'Password changed',
  password_reset_requested: 'Password reset email requested',
  password_reset: 'Password reset by email',
  email_verified: 'Email address verified',
};

function card(id, title, ...children) {
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), ...children);
}

/** Browsers and systems a user agent names, most specific first. */
const BROWSERS = [[/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'], [/HeadlessChrome\//, 'Headless Chrome'],
  [/Chrome\//, 'Chrome'], [/Chromium/, 'Chromium'], [/Safari\//, 'Safari'], [/curl\//, 'curl']];
const SYSTEMS = [[/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/CrOS/, 'ChromeOS'], [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'], [/Linux/, 'Linux']];

/** "Firefox on Windows" for a person scanning the list; the whole user
 * agent is shown beside it. */
function deviceName(userAgent) {
  if (!userAgent) return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(userAgent))?.[1];
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? (userAgent.length > 60 ? `${userAgent.slice(0, 57)}…` : userAgent);
}

function detail(label, value) {
  return h('div', { class: 'detail' }, h('dt', { text: label }), h('dd', {}, value));
}

/** A JSON download made in the page: no second request, no new tab. */
function download(data, filename) {
  const blob = new Blob([`${JSON.stringify(data, null, 2)}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function renderAccount(main, { onUserChanged, onSignedOut }) {
  // --- profile ---------------------------------------------------------------
  const profile = h('dl', { id: 'profile', class: 'details' });
  const resend = h('button', { type: 'button', id: 'resend-verification', hidden: true, text: 'Resend verification email' });

  function drawProfile(user) {
    const known = typeof user.email_verified === 'boolean';
    profile.replaceChildren(
      detail('Email', user.email),
      detail('Name', user.name || '—'),
      known ? detail('Email verified', user.email_verified
        ? h('span', { id: 'email-status', class: 'ok', text: 'Yes' })
        : h('span', { id: 'email-status', class: 'warn', text: 'Not yet: follow the link in the email we sent you' })) : null,
      detail('Account created', when(user.created_at)),
    );
    resend.hidden = user.email_verified !== false;
  }

  async function loadProfile() {
    try {
      const { data } = await api.me();
      session.setUser(data);
      onUserChanged();
      drawProfile(data);
    } catch (error) {
      if (error.status !== 401) announceError(`Could not load your account. ${error.message}`);
    }
  }

  resend.addEventListener('click', async () => {
    resend.disabled = true;
    try {
      await api.resendVerification();
      announce(`We sent a new verification email to ${session.user()?.email ?? 'your address'}.`);
    } catch (error) {
      if (error.status !== 401) announceError(`Could not send the verification email. ${error.message}`);
    } finally {
      resend.disabled = false;
    }
  });

  // --- sessions --------------------------------------------------------------
  const sessionList = h('ul', { id: 'session-list', class: 'item-list', 'aria-labelledby': 'sessions-heading' });
  const logoutOthers = h('button', { type: 'button', id: 'logout-others', text: 'Log out other sessions' });
  const logoutAll = h('button', { type: 'button', id: 'logout-everywhere', class: 'danger', text: 'Log out everywhere' });

  function sessionItem(item) {
    const name = deviceName(item.user_agent);
    return h('li', { class: item.current ? 'item current' : 'item', 'data-id': item.id },
      h('div', { class: 'item-main' },
        h('p', { class: 'item-title' },
          h('span', { class: 'device', text: name }),
          item.current ? h('span', { class: 'badge', text: 'This session' }) : null),
        item.user_agent ? h('p', { class: 'item-meta user-agent', text: item.user_agent }) : null,
        h('dl', { class: 'details compact' },
          detail('Address', item.ip || 'unknown'),
          detail('Signed in', when(item.created_at)),
          detail('Last used', when(item.last_used_at)),
          detail('Ends', when(item.expires_at)))),
      item.current ? null : h('div', { class: 'item-actions' },
        h('button', { type: 'button', class: 'danger revoke', on: { click: () => revokeSession(item) } },
          'Revoke', srOnly(` the session of ${name} from ${item.ip || 'an unknown address'}, `
            + `signed in ${new Date(item.created_at).toLocaleString()}`))));
  }

  async function loadSessions() {
    sessionList.setAttribute('aria-busy', 'true');
    try {
      const { data } = await api.sessions();
      sessionList.replaceChildren(...data.items.map(sessionItem));
      logoutOthers.disabled = !data.items.some((item) => !item.current);
    } catch (error) {
      if (error.status !== 401) announceError(`Could not load your sessions. ${error.message}`);
    } finally {
      sessionList.removeAttribute('aria-busy');
    }
  }

  async function revokeSession(item) {
    try {
      await api.revokeSession(item.id);
      announce(`The session of ${deviceName(item.user_agent)} was revoked.`);
    } catch (error) {
      if (error.status === 404) announce('That session had already ended.');
      else if (error.status !== 401) announceError(`Could not revoke the session. ${error.message}`);
    }
    await loadSessions();
    (sessionList.querySelector('button.revoke') ?? logoutOthers).focus();
  }

  logoutOthers.addEventListener('click', async () => {
    try {
      await api.logout('others');
      await loadSessions();
      announce('Every other session was logged out.');
    } catch (error) {
      if (error.status !== 401) announceError(`Could not log out the other sessions. ${error.message}`);
    }
  });

  logoutAll.addEventListener('click', async () => {
    try {
      await api.logout('global');
    } catch (error) {
      if (error.status === 401) return;
      announceError(`Could not log out everywhere. ${error.message}`);
      return;
    }
    onSignedOut('You are logged out everywhere, on every device.');
  });

  // --- password ---------------------------------------------------------------
  const current = h('input', { id: 'current-password', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const next = h('input', { id: 'new-password', name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const passwordForm = h('form', { id: 'password-form', 'aria-labelledby': 'password-heading' },
    field('Current password', current),
    field('New password', next, '8 to 128 characters. Your other sessions will be logged out.'),
    h('button', { type: 'submit', class: 'primary', text: 'Change password' }));

  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(passwordForm);
    busy(passwordForm, true);
    try {
      await api.changePassword(current.value, next.value);
      busy(passwordForm, false);
      passwordForm.reset();
      announce('Your password was changed. Your other sessions were logged out.');
      await Promise.all([loadSessions(), reloadEvents()]);
    } catch (error) {
      busy(passwordForm, false);
      if (error.status === 401) return;
      const wrong = error.fieldErrors.some((e) => e.field === 'current_password');
      announceError(wrong
        ? 'Could not change the password: the current password is wrong.'
        : `Could not change the password. ${error.message}`);
      showFieldErrors(passwordForm, error.fieldErrors);
    }
  });

  // --- security events ----------------------------------------------------------
  const eventList = h('ol', { id: 'event-list', class: 'item-list', 'aria-labelledby': 'events-heading' });
  const moreEvents = h('button', { type: 'button', id: 'more-events', hidden: true, text: 'Show more' });
  const events = { cursor: null, loading: false };

  function eventItem(event) {
    return h('li', { class: 'item event' },
      h('div', { class: 'item-main' },
        h('p', { class: 'item-title' }, EVENT_TEXT[event.type] ?? event.type, ' · ', when(event.at)),
        h('p', { class: 'item-meta', text: [event.ip, event.user_agent && deviceName(event.user_agent)].filter(Boolean).join(' · ') })));
  }

  async function loadEvents({ append }) {
    if (events.loading) return;
    events.loading = true;
    moreEvents.disabled = true;
    eventList.setAttribute('aria-busy', 'true');
    try {
      const { data } = await api.events(append ? events.cursor : null, EVENTS_PAGE);
      const items = data.items.map(eventItem);
      if (append) eventList.append(...items);
      else eventList.replaceChildren(...items);
      if (!append && !items.length) eventList.replaceChildren(h('li', { class: 'item', text: 'Nothing yet.' }));
      events.cursor = data.next_cursor;
      moreEvents.hidden = !events.cursor;
      if (append) {
        items[0]?.setAttribute('tabindex', '-1');
        items[0]?.focus();
        announce(`Showing ${items.length} more event${items.length === 1 ? '' : 's'}.`);
      }
    } catch (error) {
      if (error.status !== 401) announceError(`Could not load the security events. ${error.message}`);
    } finally {
      events.loading = false;
      moreEvents.disabled = false;
      eventList.removeAttribute('aria-busy');
    }
  }
  const reloadEvents = () => loadEvents({ append: false });
  moreEvents.addEventListener('click', () => loadEvents({ append: true }));

  // --- your data ----------------------------------------------------------------
  const exportButton = h('button', { type: 'button', id: 'export-data', text: 'Download my data (JSON)' });
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    try {
      const { data } = await api.exportData();
      download(data, `todo-account-${new Date().toISOString().slice(0, 10)}.json`);
      announce('Your data was downloaded as a JSON file.');
    } catch (error) {
      if (error.status !== 401) announceError(`Could not export your data. ${error.message}`);
    } finally {
      exportButton.disabled = false;
    }
  });

  const deletePassword = h('input', { id: 'delete-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 128 });
  const deleteForm = h('form', { id: 'delete-form', 'aria-labelledby': 'delete-heading' },
    h('h3', { id: 'delete-heading', text: 'Delete your account' }),
    h('p', { text: 'This deletes your account, your tasks, your sessions and your security events, at once and for good.' }),
    field('Your password', deletePassword),
    h('button', { type: 'submit', class: 'danger', text: 'Delete my account' }));

  deleteForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldErrors(deleteForm);
    if (!window.confirm('Delete your account and all its tasks for good? This cannot be undone.')) return;
    busy(deleteForm, true);
    try {
      await api.deleteAccount(deletePassword.value);
    } catch (error) {
      busy(deleteForm, false);
      if (error.status === 401) return;
      const wrong = error.status === 422 && error.fieldErrors.some((e) => e.field === 'password');
      announceError(wrong
        ? 'The account was not deleted: the password is wrong.'
        : `Could not delete the account. ${error.message}`);
      showFieldErrors(deleteForm, error.fieldErrors);
      return;
    }
    onSignedOut('Your account and everything in it was deleted.');
  });

  main.replaceChildren(
    card('profile-heading', 'Profile', profile, resend),
    card('sessions-heading', 'Sessions',
      h('p', { class: 'hint', text: 'Where your account is signed in. Revoke any you do not recognise.' }),
      sessionList,
      h('div', { class: 'actions' }, logoutOthers, logoutAll)),
    card('password-heading', 'Change password', passwordForm),
    card('events-heading', 'Security activity', eventList, moreEvents),
    card('data-heading', 'Your data', h('p', { text: 'Everything stored about you: your account, sessions, tasks and security events.' }),
      exportButton, deleteForm),
  );
  const user = session.user();
  if (user) drawProfile(user);
  loadProfile();
  loadSessions();
  reloadEvents();
}

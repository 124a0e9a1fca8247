// The signed-in session, kept in sessionStorage: it lives as long as the tab
// and is not shared with other tabs or sites (README "In a browser" says why
// not localStorage). It holds what login (or the last refresh) answered:
// the access token, the refresh token, their expiries and the user.
//
// Expiries are kept as instants of this browser's clock, worked out from
// how long the server said each token lives (its `Date` header against the
// `*_expires_at` it sent), so a computer whose clock is off by minutes
// neither refreshes in a loop nor uses a token the server already refuses.

const KEY = 'todo.session';

/** How long before the access token runs out it is renewed: a fifth of its
 * life, between half a second and a minute. */
function refreshMargin(lifetimeMs) {
  return Math.min(60_000, Math.max(500, lifetimeMs / 5));
}

function read() {
  try {
    const value = JSON.parse(window.sessionStorage.getItem(KEY) ?? 'null');
    return value && typeof value.access_token === 'string' ? value : null;
  } catch {
    return null;
  }
}

function write(value) {
  window.sessionStorage.setItem(KEY, JSON.stringify(value));
}

/**
 * The local instant by which `expiresAt` (the server's clock) has surely
 * not been reached. `serverNow` is the answer's `Date` header: whole
 * seconds, so it can lag the real instant by up to one second; and the
 * server refuses a token from its whole-second `exp` on, up to one second
 * before `expiresAt`. Both seconds are taken off the lifetime.
 */
function localDeadline(expiresAt, serverNow, receivedAt) {
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) return receivedAt;
  const sent = Date.parse(serverNow ?? '');
  if (Number.isNaN(sent)) return at - 1000;
  return receivedAt + Math.max(0, at - sent - 2000);
}

/** A random name for this tab's copy of the session (see `claim`). */
function newTabKey() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Ends the Web Lock that marks this tab as the holder of its session. */
let releaseTabLock = null;

function holdTabLock(tabKey) {
  releaseTabLock?.();
  releaseTabLock = null;
  if (!navigator.locks || !tabKey) return Promise.resolve(true);
  return new Promise((claimed) => {
    try {
      navigator.locks.request(`todo.session.${tabKey}`, { ifAvailable: true }, (lock) => {
        claimed(Boolean(lock));
        if (!lock) return undefined;
        return new Promise((release) => { releaseTabLock = release; });
      }).catch(() => claimed(true));
    } catch {
      // Locks refused here (an opaque origin): no copy can be told apart.
      claimed(true);
    }
  });
}

export const session = {
  /** The stored session, or null when signed out or when it has ended
   * (then it stays stored until `clear`, so the end can be noticed). */
  current() {
    const value = read();
    if (!value) return null;
    const end = value.refresh_token ? value.refresh_deadline : value.access_deadline;
    return typeof end === 'number' && end <= Date.now() ? null : value;
  },

  /** Whether a session is stored, live or ended. */
  held() {
    return read() !== null;
  },

  /** The bearer token to send, or null. */
  accessToken() {
    return this.current()?.access_token ?? null;
  },

  /** The refresh token, or null (signed out, or a server without them). */
  refreshToken() {
    return this.current()?.refresh_token ?? null;
  },

  /** Whether the access token has run out by this browser's clock. */
  accessExpired() {
    const value = this.current();
    return Boolean(value) && value.access_deadline <= Date.now();
  },

  /** When the access token should be renewed (ms since the epoch), or
   * Infinity when it cannot or need not be: no refresh token, or the
   * session itself ends no later than the access token. */
  refreshAt() {
    const value = this.current();
    if (!value?.refresh_token) return Infinity;
    if (value.refresh_deadline <= value.access_deadline + 1000) return Infinity;
    return value.refresh_at;
  },

  /** The signed-in user, or null. */
  user() {
    return this.current()?.user ?? null;
  },

  /**
   * Stores a login or refresh answer. `serverDate` is the answer's `Date`
   * header. A login starts a new tab key; a refresh keeps this tab's.
   */
  save(answer, serverDate, { login = false } = {}) {
    const now = Date.now();
    const previous = read();
    const accessDeadline = localDeadline(answer.expires_at, serverDate, now);
    const value = {
      access_token: answer.access_token,
      expires_at: answer.expires_at,
      access_deadline: accessDeadline,
      refresh_at: accessDeadline - refreshMargin(accessDeadline - now),
      user: answer.user ?? previous?.user ?? null,
      tab_key: login || !previous?.tab_key ? newTabKey() : previous.tab_key,
    };
    if (typeof answer.refresh_token === 'string') {
      value.refresh_token = answer.refresh_token;
      value.refresh_expires_at = answer.refresh_expires_at;
      value.refresh_deadline = localDeadline(answer.refresh_expires_at, serverDate, now);
    }
    write(value);
    if (value.tab_key !== previous?.tab_key) holdTabLock(value.tab_key);
  },

  /** Replaces the stored user (after `GET /me`, or a verified email). */
  setUser(user) {
    const value = read();
    if (!value) return;
    value.user = user;
    write(value);
  },

  clear() {
    window.sessionStorage.removeItem(KEY);
    releaseTabLock?.();
    releaseTabLock = null;
  },

  /**
   * At start: claims this tab's session. A duplicated tab (the browser's
   * "Duplicate" copies sessionStorage) would hold the same refresh token
   * as the tab it came from, and whichever refreshed second would present
   * a spent token and end the session for both. The original tab holds a
   * Web Lock named after the session's tab key; a copy that finds the lock
   * taken forgets its copy, locally, and resolves to false.
   */
  async claim() {
    const value = read();
    if (!value) return true;
    const mine = await holdTabLock(value.tab_key);
    if (!mine) window.sessionStorage.removeItem(KEY);
    return mine;
  },
};

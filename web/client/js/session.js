// The signed-in session, kept in sessionStorage: it lives as long as the tab
// and is not shared with other tabs or sites. It holds what login answered.
// When refresh tokens arrive (issue 13), the refresh token and its expiry
// are stored here too, and `api.js` renews the access token through them.

const KEY = 'todo.session';

function read() {
  try {
    const value = JSON.parse(window.sessionStorage.getItem(KEY) ?? 'null');
    return value && typeof value.access_token === 'string' ? value : null;
  } catch {
    return null;
  }
}

export const session = {
  /** The stored login answer, or null when signed out or expired. */
  current() {
    const value = read();
    if (!value) return null;
    if (value.expires_at && Date.parse(value.expires_at) <= Date.now()) {
      this.clear();
      return null;
    }
    return value;
  },

  /** The bearer token to send, or null. */
  accessToken() {
    return this.current()?.access_token ?? null;
  },

  /** The signed-in user, or null. */
  user() {
    return this.current()?.user ?? null;
  },

  /** Stores a login (or, later, refresh) answer. */
  save(login) {
    window.sessionStorage.setItem(KEY, JSON.stringify({
      access_token: login.access_token,
      expires_at: login.expires_at,
      user: login.user,
    }));
  },

  clear() {
    window.sessionStorage.removeItem(KEY);
  },
};

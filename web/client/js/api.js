// The one place that talks to the API (shared/API.md): it adds the bearer
// token, keeps it fresh through the refresh token, turns problem+json
// answers into ApiError, and decides what a 401 means. Views call the named
// functions at the bottom, never fetch().
//
// Refreshing: the access token is renewed shortly before it runs out (a
// timer, while the person is using the page), before a request if it has
// already run out (an idle or hidden tab sends nothing, so an idle Neon
// compute can suspend), and once after a 401, the request then being sent
// again once. Only one refresh is ever in flight: refresh tokens rotate,
// and presenting a spent one again ends the whole session (reuse
// detection), so two concurrent refreshes with the same token would log
// the person out. A refresh answered 401 means the session is over.

import { session } from './session.js';

/** A failed request: `status` (0 when the service was unreachable), the
 * problem's `detail` as the message, and its per-field `errors`. */
export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(ApiError.describe(status, problem, retryAfter));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }

  static describe(status, problem, retryAfter) {
    if (status === 0) return 'The service could not be reached. Check your connection and try again.';
    if (status === 429) {
      return `Too many attempts. Try again in ${retryAfter ?? 'a few'} seconds.`;
    }
    if (status === 503) return 'The service is busy or its database is unavailable. Try again shortly.';
    const detail = problem.detail || problem.title || `The request failed (HTTP ${status}).`;
    return detail.charAt(0).toUpperCase() + detail.slice(1) + (/[.!?]$/.test(detail) ? '' : '.');
  }
}

let unauthorizedHandler = () => {};

/** What to do when the session is over (a 401 that a refresh cannot mend):
 * the app signs out. Called once per ended session. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** Forgets the session and tells the app, unless that already happened. */
function sessionEnded(error) {
  if (!session.held()) return;
  stopTimer();
  session.clear();
  unauthorizedHandler(error);
}

async function readProblem(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

/** One fetch: resolves to the Response, or rejects with ApiError(0). */
async function send(method, path, { body, headers = {}, token }) {
  const sent = { Accept: 'application/json', ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  if (token) sent.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0);
  }
}

async function failure(response) {
  const problem = await readProblem(response);
  return new ApiError(response.status, problem, response.headers.get('Retry-After'));
}

// --- refreshing ------------------------------------------------------------

/** The refresh in flight, shared by everyone who needs one meanwhile. */
let refreshing = null;
let timer = null;
/** When the person last pressed a key or pointed at something, and when the
 * current access token was issued: the timer only refreshes in between. */
let lastActivity = 0;
let lastIssued = 0;

function stopTimer() {
  window.clearTimeout(timer);
  timer = null;
}

/** Plans the next timed refresh for the stored token. */
function schedule() {
  stopTimer();
  const at = session.refreshAt();
  if (!Number.isFinite(at)) return;
  const delay = Math.min(2 ** 31 - 1, Math.max(250, at - Date.now()));
  timer = window.setTimeout(() => {
    timer = null;
    const inUse = document.visibilityState === 'visible' && lastActivity > lastIssued;
    // Otherwise the next request refreshes first (see `request`).
    if (inUse) refresh().catch(() => {});
  }, delay);
}

async function spendRefreshToken() {
  const token = session.refreshToken();
  if (!token) throw new ApiError(401, { detail: 'signed out' });
  const response = await send('POST', '/api/v1/auth/refresh', { body: { refresh_token: token } });
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401) sessionEnded(error);
    throw error;
  }
  const answer = await response.json();
  // Signed out (or signed in anew) while the refresh was on its way: this
  // answer belongs to a session this tab no longer holds.
  if (session.refreshToken() !== token) return;
  session.save(answer, response.headers.get('Date'));
  lastIssued = Date.now();
  schedule();
}

/** Renews the access token; concurrent callers share one request. Rejects
 * with ApiError (401: the session is over, and has been forgotten). */
function refresh() {
  refreshing ??= spendRefreshToken().finally(() => { refreshing = null; });
  return refreshing;
}

/** Before a request: renews an access token that is due, when possible.
 * A failure other than 401 is not fatal while the old token still works. */
async function freshToken() {
  if (refreshing) await refreshing.catch(() => {});
  if (Date.now() >= session.refreshAt()) {
    try {
      await refresh();
    } catch (error) {
      if (error.status === 401 || session.accessExpired()) throw error;
    }
  }
  return session.accessToken();
}

// --- requests --------------------------------------------------------------

/**
 * Sends one request. `body` is sent as JSON; `auth: false` sends no token
 * (register, login, the emailed links). Resolves to `{ data, etag, date }`;
 * rejects with ApiError.
 */
async function request(method, path, { body, headers = {}, auth = true } = {}) {
  let token = auth ? await freshToken() : null;
  let response = await send(method, path, { body, headers, token });
  if (response.status === 401 && auth && session.refreshToken()) {
    // Renewed meanwhile by someone else: just send again. Otherwise renew.
    if (session.accessToken() === token) await refresh();
    token = session.accessToken();
    response = await send(method, path, { body, headers, token });
  }
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401 && auth) sessionEnded(error);
    throw error;
  }
  const data = response.status === 204 || response.status === 202
    ? await response.json().catch(() => null)
    : await response.json();
  return { data, etag: response.headers.get('ETag'), date: response.headers.get('Date') };
}

/** Keeps a signed-in tab's token fresh from now on (after start and login). */
export function keepFresh() {
  lastIssued = Date.now();
  schedule();
}

/** Forgets the session here (after a logout, or a deleted account). */
export function forgetSession() {
  stopTimer();
  session.clear();
}

for (const event of ['keydown', 'pointerdown']) {
  window.addEventListener(event, () => { lastActivity = Date.now(); }, { capture: true, passive: true });
}

/** A fresh Idempotency-Key, so a create retried after a lost answer is not
 * made twice. Only secure contexts (https, localhost) have randomUUID. */
function idempotencyKey() {
  return window.crypto?.randomUUID ? { 'Idempotency-Key': window.crypto.randomUUID() } : {};
}

const id = encodeURIComponent;

export const api = {
  register: (email, password, name) =>
    request('POST', '/api/v1/auth/register', {
      body: name ? { email, password, name } : { email, password },
      auth: false,
    }),
  login: (email, password) =>
    request('POST', '/api/v1/auth/login', { body: { email, password }, auth: false }),
  /** `scope`: `local` (this session), `others` or `global`. */
  logout: (scope = 'local') => request('POST', `/api/v1/auth/logout?scope=${id(scope)}`),
  me: () => request('GET', '/api/v1/auth/me'),

  // --- account (issue 13) ---
  sessions: () => request('GET', '/api/v1/auth/sessions'),
  revokeSession: (sessionId) => request('DELETE', `/api/v1/auth/sessions/${id(sessionId)}`),
  changePassword: (currentPassword, newPassword) =>
    request('POST', '/api/v1/auth/password', {
      body: { current_password: currentPassword, new_password: newPassword },
    }),
  /** One page of security events, newest first. */
  events(cursor, limit = 20) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set('cursor', cursor);
    return request('GET', `/api/v1/auth/events?${params}`);
  },
  resendVerification: () => request('POST', '/api/v1/auth/verify-email/resend'),
  exportData: () => request('GET', '/api/v1/auth/me/export'),
  deleteAccount: (password) => request('DELETE', '/api/v1/auth/me', { body: { password } }),

  // --- the links that emails carry: no token of ours ---
  requestPasswordReset: (email) =>
    request('POST', '/api/v1/auth/password-reset', { body: { email }, auth: false }),
  confirmPasswordReset: (token, newPassword) =>
    request('POST', '/api/v1/auth/password-reset/confirm', {
      body: { token, new_password: newPassword },
      auth: false,
    }),
  verifyEmail: (token) => request('POST', '/api/v1/auth/verify-email', { body: { token }, auth: false }),

  // --- tasks ---
  /** One page: `{ completed?, q?, sort?, limit?, cursor? }`, empty values left out. */
  listTasks(query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
    }
    return request('GET', `/api/v1/tasks?${params}`);
  },
  getTask: (taskId) => request('GET', `/api/v1/tasks/${id(taskId)}`),
  createTask: (task) => request('POST', '/api/v1/tasks', { body: task, headers: idempotencyKey() }),
  /** PATCH; with `version`, only if the task is still at that version (412 otherwise). */
  updateTask: (taskId, changes, version) =>
    request('PATCH', `/api/v1/tasks/${id(taskId)}`, {
      body: changes,
      headers: version === undefined ? {} : { 'If-Match': `"${version}"` },
    }),
  deleteTask: (taskId) => request('DELETE', `/api/v1/tasks/${id(taskId)}`),
};

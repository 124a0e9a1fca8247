// The one place that talks to the API (shared/API.md): it adds the bearer
// token, turns problem+json answers into ApiError, and decides what a 401
// means. Views call the named functions at the bottom, never fetch().

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

/** What to do when the API refuses our token (401): the app signs out.
 * Issue 13 adds a refresh attempt before giving up. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

async function readProblem(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

/**
 * Sends one request. `body` is sent as JSON; `auth: false` sends no token
 * (register, login). Resolves to `{ data, etag }`; rejects with ApiError.
 */
async function request(method, path, { body, headers = {}, auth = true } = {}) {
  const sent = { Accept: 'application/json', ...headers };
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  const token = auth ? session.accessToken() : null;
  if (token) sent.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0);
  }
  if (!response.ok) {
    const problem = await readProblem(response);
    const error = new ApiError(response.status, problem, response.headers.get('Retry-After'));
    if (response.status === 401 && auth) unauthorizedHandler(error);
    throw error;
  }
  const data = response.status === 204 ? null : await response.json();
  return { data, etag: response.headers.get('ETag') };
}

/** A fresh Idempotency-Key, so a create retried after a lost answer is not
 * made twice. Only secure contexts (https, localhost) have randomUUID. */
function idempotencyKey() {
  return window.crypto?.randomUUID ? { 'Idempotency-Key': window.crypto.randomUUID() } : {};
}

export const api = {
  register: (email, password, name) =>
    request('POST', '/api/v1/auth/register', {
      body: name ? { email, password, name } : { email, password },
      auth: false,
    }),
  login: (email, password) =>
    request('POST', '/api/v1/auth/login', { body: { email, password }, auth: false }),
  logout: () => request('POST', '/api/v1/auth/logout'),
  me: () => request('GET', '/api/v1/auth/me'),

  /** One page: `{ completed?, q?, sort?, limit?, cursor? }`, empty values left out. */
  listTasks(query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
    }
    return request('GET', `/api/v1/tasks?${params}`);
  },
  getTask: (id) => request('GET', `/api/v1/tasks/${encodeURIComponent(id)}`),
  createTask: (task) => request('POST', '/api/v1/tasks', { body: task, headers: idempotencyKey() }),
  /** PATCH; with `version`, only if the task is still at that version (412 otherwise). */
  updateTask: (id, changes, version) =>
    request('PATCH', `/api/v1/tasks/${encodeURIComponent(id)}`, {
      body: changes,
      headers: version === undefined ? {} : { 'If-Match': `"${version}"` },
    }),
  deleteTask: (id) => request('DELETE', `/api/v1/tasks/${encodeURIComponent(id)}`),
};

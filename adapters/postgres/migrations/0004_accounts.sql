-- 0004_accounts: refresh tokens and session details, security events,
-- email verification, single-use account tokens and the mail outbox.
-- Every new table hangs off users (directly or through sessions) with
-- ON DELETE CASCADE, so deleting an account leaves nothing of it.

ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- What the sessions list shows. last_used_at moves at login and refresh
-- only, never on an ordinary request (no extra write per request).
ALTER TABLE sessions
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN user_agent   text CHECK (user_agent IS NULL OR char_length(user_agent) <= 512),
    ADD COLUMN ip           inet;
UPDATE sessions SET last_used_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_used_at SET NOT NULL;

-- Refresh tokens, stored only as SHA-256 digests. A session's current token
-- has spent_at NULL; rotated ones are kept (spent) until the session goes,
-- so presenting one again is recognised as reuse and ends the session.
CREATE TABLE refresh_tokens (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    spent_at   timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- What happened to an account, for its owner. session_id is not a foreign
-- key: events outlive the sessions they mention.
CREATE TABLE security_events (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type       text        NOT NULL CHECK (type IN (
                   'registered', 'login_succeeded', 'login_failed', 'logout',
                   'session_revoked', 'refresh_reused', 'password_changed',
                   'password_reset_requested', 'password_reset', 'email_verified')),
    at         timestamptz NOT NULL,
    ip         inet,
    user_agent text CHECK (user_agent IS NULL OR char_length(user_agent) <= 512),
    session_id uuid
);
-- Keyset paging, newest first, per user.
CREATE INDEX security_events_user_at_idx ON security_events (user_id, at DESC, id DESC);

-- Single-use tokens that emails carry, stored only as SHA-256 digests.
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user_id_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

-- Mail to send, written in the same statement as the change that causes it
-- and deleted once delivered. `token` is the link's token, held only until
-- delivery (or until it could no longer be used: expires_at).
CREATE TABLE mail_outbox (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('password_reset', 'email_verification')),
    recipient       text        NOT NULL,
    token           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_error      text
);
CREATE INDEX mail_outbox_next_attempt_at_idx ON mail_outbox (next_attempt_at);

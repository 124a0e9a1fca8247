-- 0002_login_attempts: failed-login counts every replica shares, and the
-- indexes that let logins purge expired rows without a background job.

-- One row per email or client key: the SHA-256 of the normalized email or
-- of the client's address (fixed size whatever was sent), the instants of
-- its recent attempts (at most the limit, strictly increasing), when the
-- last of them leaves the window, and which reservation took the newest
-- (how the reserving statement tells whether it got a slot).
CREATE TABLE login_attempts (
    key              bytea         PRIMARY KEY CHECK (octet_length(key) = 32),
    attempts         timestamptz[] NOT NULL,
    expires_at       timestamptz   NOT NULL,
    last_reservation uuid          NOT NULL
);
-- Reservations delete a few expired rows each, oldest first.
CREATE INDEX login_attempts_expires_at_idx ON login_attempts (expires_at);

-- Logins delete a few expired or revoked sessions each.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- 0001_init: users, their login sessions and their tasks.
-- Ids are UUID v7 made by the application; every timestamp is timestamptz.
-- Result columns stay built-in types (priority is text with a CHECK, not an
-- enum) so the driver never needs a named statement to look a type up.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name          text        CHECK (name IS NULL OR char_length(name) <= 100),
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- Emails are compared case-insensitively: one account per lower(email).
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE sessions (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
-- The session check looks sessions up by primary key; this index serves the
-- cascade from users and "all sessions of a user".
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE tasks (
    id                      uuid        PRIMARY KEY,
    user_id                 uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title                   text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description             text        CHECK (description IS NULL OR char_length(description) <= 5000),
    completed               boolean     NOT NULL DEFAULT false,
    priority                text        NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
    -- Position in sort=priority (high first), kept by the database so the
    -- keyset index and the query agree on it.
    priority_rank           smallint    NOT NULL GENERATED ALWAYS AS (
                                CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END
                            ) STORED,
    due_at                  timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    version                 bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    idempotency_key         text,
    idempotency_fingerprint text,
    CONSTRAINT tasks_user_idempotency_key UNIQUE (user_id, idempotency_key),
    CONSTRAINT tasks_idempotency_pair CHECK ((idempotency_key IS NULL) = (idempotency_fingerprint IS NULL))
);
-- One index per list order, each led by user_id (keyset paging per user).
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_due_idx ON tasks (user_id, due_at ASC NULLS LAST, id ASC);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority_rank ASC, created_at DESC, id DESC);

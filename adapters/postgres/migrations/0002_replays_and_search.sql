-- 0002_replays_and_search: an idempotent create replays its first answer,
-- and title search ignores case in every script.

-- The first answer of each create made with an Idempotency-Key: the task
-- as created, kept with the key for 24 hours from `created_at` whatever
-- happens to the task later (changed, deleted). The create statement
-- itself judges expiry at its `now` and removes the user's expired keys,
-- so no background job runs and an idle database stays idle.
CREATE TABLE task_idempotency_keys (
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key             text        NOT NULL,
    fingerprint     text        NOT NULL,
    created_at      timestamptz NOT NULL,
    task_id         uuid        NOT NULL,
    title           text        NOT NULL,
    description     text,
    completed       boolean     NOT NULL,
    priority        text        NOT NULL,
    due_at          timestamptz,
    task_created_at timestamptz NOT NULL,
    task_updated_at timestamptz NOT NULL,
    version         bigint      NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- Keys already used keep answering as they did (with the task as it is now).
INSERT INTO task_idempotency_keys (user_id, key, fingerprint, created_at, task_id, title,
                                   description, completed, priority, due_at,
                                   task_created_at, task_updated_at, version)
SELECT user_id, idempotency_key, idempotency_fingerprint, created_at, id, title,
       description, completed, priority, due_at, created_at, updated_at, version
FROM tasks
WHERE idempotency_key IS NOT NULL;

-- tasks.idempotency_key now only records which key made a task: once a key
-- has expired, the same key may make another task.
ALTER TABLE tasks DROP CONSTRAINT tasks_user_idempotency_key;

-- What title search compares: NFC, then upper and lower case under the ICU
-- root collation (full Unicode mappings: É/é, Σ/σ/ς, ß/SS), with final
-- sigma made plain. The database's own collation may be "C" (ASCII-only
-- case mapping), as on Neon; ICU is there on Neon and in Debian's
-- PostgreSQL, and this fails at migration time where it is not.
CREATE FUNCTION task_search_key(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(lower(upper(normalize($1, NFC) COLLATE "und-x-icu")), U&'\03C2', U&'\03C3');

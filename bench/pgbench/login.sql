-- Ceiling for the service's login scenario: the PostgreSQL adapter's statement,
-- copied from adapters/postgres/src/user_repo.rs + session_repo.rs (find_by_email, then sessions CREATE_SQL; the Argon2 verify runs between them) on 2026-11-27.
-- Re-copy it when the adapter's SQL changes.
-- Parameters keep their place as pgbench variables (:sid = $1 session, :uid = $2 user,
-- :now = $3, ...). -M prepared (bench/prepared.sh) parses and plans each statement once
-- per connection, like the service; -M extended (bench/run.sh, bench/prepared.sh) sends it
-- unnamed, parsed and planned every time.
-- Parameters the scenario always sends as NULL are written NULL (pgbench cannot
-- send a NULL); fixed non-NULL ones come from -D (see bench/run.sh).
-- Once per pgbench client (the variables persist across its transactions): this
-- client's user, an active session of theirs, one of their tasks. Not timed
-- apart, but it runs 15 times in a 10 s run, so it does not move the rate.
\if :loaded = 0
\set pin :client_id % :pins
SELECT session_id AS sid, user_id AS uid, task_id AS tid, email AS email, absent_id AS absent, 1 AS loaded
  FROM bench.pin WHERE n = :pin \gset
\endif
SELECT id, email, name, password_hash, created_at, updated_at FROM users WHERE lower(email) = lower(:email);
INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, last_used_at)
    VALUES (gen_random_uuid(), :uid, :now, :expires, NULL, :now)
    ON CONFLICT (id) DO NOTHING;

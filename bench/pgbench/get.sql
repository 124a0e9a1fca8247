-- Ceiling for the service's get scenario: the PostgreSQL adapter's statement,
-- copied from adapters/postgres/src/task_repo.rs (get_sql()) on 2026-11-27.
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
WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = :sid AND user_id = :uid AND revoked_at IS NULL AND expires_at > :now
        ) AS ok
    )
        SELECT s.ok, t.id, t.user_id, t.title, t.description, t.completed, t.priority, t.due_at, t.created_at, t.updated_at, t.version FROM s LEFT JOIN tasks AS t ON s.ok AND t.id = :tid AND t.user_id = :uid;

-- Ceiling for the service's update scenario: the PostgreSQL adapter's statement,
-- copied from adapters/postgres/src/task_repo.rs (update_sql(); the scenario's PATCH sets only completed, no If-Match) on 2026-11-27.
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
\set completed random(0, 1)
WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = :sid AND user_id = :uid AND revoked_at IS NULL AND expires_at > :now
        ) AS ok
    ),
        cur AS (
            SELECT t.id, t.user_id, t.title, t.description, t.completed, t.priority, t.due_at, t.created_at, t.updated_at, t.version FROM tasks AS t JOIN s ON s.ok WHERE t.id = :tid AND t.user_id = :uid
        ),
        upd AS (
            UPDATE tasks AS t SET
                title = COALESCE(NULL, t.title),
                description = CASE WHEN false THEN NULL ELSE t.description END,
                completed = COALESCE(:completed::boolean, t.completed),
                priority = COALESCE(NULL, t.priority),
                due_at = CASE WHEN false THEN NULL ELSE t.due_at END,
                version = t.version + 1,
                updated_at = :now
            FROM s
            WHERE s.ok AND NOT false AND t.id = :tid AND t.user_id = :uid
              AND (NULL::bigint IS NULL OR t.version = NULL)
            RETURNING t.id, t.user_id, t.title, t.description, t.completed, t.priority, t.due_at, t.created_at, t.updated_at, t.version
        )
        SELECT s.ok, cur.id, cur.user_id, cur.title, cur.description, cur.completed, cur.priority, cur.due_at, cur.created_at, cur.updated_at, cur.version, upd.id, upd.user_id, upd.title, upd.description, upd.completed, upd.priority, upd.due_at, upd.created_at, upd.updated_at, upd.version
        FROM s LEFT JOIN cur ON true LEFT JOIN upd ON true;

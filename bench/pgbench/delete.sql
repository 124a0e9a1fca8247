-- Ceiling for the service's delete scenario: the PostgreSQL adapter's statement,
-- copied from adapters/postgres/src/task_repo.rs (DELETE_SQL) on 2026-11-27.
-- Re-copy it when the adapter's SQL changes.
-- Parameters keep their place as pgbench variables (:sid = $1 session, :uid = $2 user,
-- :now = $3, ...). -M prepared (bench/prepared.sh) parses and plans each statement once
-- per connection, like the service; -M extended (bench/run.sh, bench/prepared.sh) sends it
-- unnamed, parsed and planned every time.
-- Parameters the scenario always sends as NULL are written NULL (pgbench cannot
-- send a NULL); fixed non-NULL ones come from -D (see bench/run.sh).
-- Each transaction deletes a task that exists, as the service's scenario does.
-- pgbench holds no list of ids, so a primary-key lookup of the next victim
-- (bench.victims, filled just before) precedes the statement: one extra
-- loopback statement, so this ceiling is a lower bound (the ratio an upper one).
\set i :i + 1
\set victim :client_id + :i * :clients
SELECT session_id AS sid, user_id AS uid, task_id AS tid FROM bench.victims WHERE n = :victim \gset
WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = :sid AND user_id = :uid AND revoked_at IS NULL AND expires_at > :now
        ) AS ok
    ),
    del AS (
        DELETE FROM tasks AS t USING s WHERE s.ok AND t.id = :tid AND t.user_id = :uid RETURNING t.id
    )
    SELECT s.ok, EXISTS (SELECT 1 FROM del) FROM s;

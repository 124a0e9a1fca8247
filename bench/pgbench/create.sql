-- Ceiling for the service's create scenario: the PostgreSQL adapter's statement,
-- copied from adapters/postgres/src/task_repo.rs (create_sql(false): no Idempotency-Key) on 2026-11-27.
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
-- $4 (the new id) is used twice; pgbench cannot make a UUID per transaction
-- without an extra statement, so the INSERT takes gen_random_uuid() and the
-- "prior" probe a per-client absent id: both probes find nothing, as in the
-- service. The ::casts stand in for the types query_typed sends.
WITH s AS (
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = :sid AND user_id = :uid AND revoked_at IS NULL AND expires_at > :now
        ) AS ok
    ),
        ins AS (
            INSERT INTO tasks (id, user_id, title, description, completed, priority, due_at,
                               created_at, updated_at, version, idempotency_key, idempotency_fingerprint)
            SELECT gen_random_uuid(), :uid::uuid, :title::text, NULL::text, false, :priority::text, NULL::timestamptz, :now::timestamptz, :now::timestamptz, 1::bigint, NULL::text, NULL::text FROM s WHERE s.ok
            ON CONFLICT (id) DO NOTHING
            RETURNING id, user_id, title, description, completed, priority, due_at, created_at, updated_at, version
        )
        SELECT s.ok, ins.id, ins.user_id, ins.title, ins.description, ins.completed, ins.priority, ins.due_at, ins.created_at, ins.updated_at, ins.version, prior.id, prior.user_id, prior.title, prior.description, prior.completed, prior.priority, prior.due_at, prior.created_at, prior.updated_at, prior.version
        FROM s
        LEFT JOIN ins ON true
        LEFT JOIN tasks AS prior ON s.ok AND prior.id = :absent AND prior.user_id = :uid;

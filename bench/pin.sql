-- pgbench's per-client data, made after seeding (bench/run.sh, bench/prepared.sh): one user
-- each, with an active session, a task, and an id no task has. Not a pgbench script.
CREATE SCHEMA bench;
CREATE TABLE bench.pin AS
  SELECT (row_number() OVER (ORDER BY s.user_id) - 1)::int AS n, s.id AS session_id, s.user_id,
         (SELECT t.id FROM tasks t WHERE t.user_id = s.user_id ORDER BY t.id LIMIT 1) AS task_id,
         u.email, gen_random_uuid() AS absent_id
  FROM (SELECT DISTINCT ON (user_id) id, user_id FROM sessions
        WHERE revoked_at IS NULL AND expires_at > now() ORDER BY user_id, created_at DESC) s
  JOIN users u ON u.id = s.user_id;
ALTER TABLE bench.pin ADD PRIMARY KEY (n);
ANALYZE users; ANALYZE sessions; ANALYZE tasks; ANALYZE bench.pin;

//! The repository contract through PgBouncer in transaction mode with
//! `max_prepared_statements = 1000`, like Neon's pooled endpoint: every
//! statement prepared once per client connection, carried by the pooler
//! across server connections.

mod support;

repo_suite!(support::pooler_db);
session_suite!(support::pooler_db);

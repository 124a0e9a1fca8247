//! The repository contract through PgBouncer 1.18 in transaction mode, the
//! strictest pooler (no named prepared statements survive a transaction).

mod support;

repo_suite!(support::pooler_db);

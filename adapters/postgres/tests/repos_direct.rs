//! The repository contract against the local Neon-like PostgreSQL, direct
//! endpoint (TLS, SCRAM with channel_binding=require).

mod support;

repo_suite!(support::direct_db);
session_suite!(support::direct_db);

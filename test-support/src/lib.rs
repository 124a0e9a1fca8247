//! Test-only helpers shared by `adapters/postgres`'s integration tests and
//! the end-to-end suite (`tests/`), so that neither keeps its own copy.
//!
//! Layout:
//! - [`cluster`]: the local Neon-like clusters of `scripts/neon-local.sh`
//!   (the shared test cluster, or `TEST_DATABASE_URL`) by URL, and
//!   superuser connections over their unix sockets.
//! - [`fault_cluster`]: a cluster of the fault tests' own, which one test at
//!   a time may stop and start.
//! - [`db_url`]: database URLs with one part changed (password, host, port,
//!   database, a query parameter), everything else kept byte for byte.
//! - [`tls_client`]: a direct tokio-postgres client over TLS that honours
//!   the URL's `sslrootcert`, as the service does.
//! - [`foreign_ca`]: a freshly made CA that signed nothing.
//! - [`fault_proxy`]: a TCP proxy that cuts and refuses connections, and
//!   [`no_tls_server`], a listener that answers like a PostgreSQL without
//!   TLS.
//! - [`smtp_sink`]: a local SMTP server that keeps what it accepts (and
//!   can refuse the first messages with 451), plain, implicit TLS or
//!   STARTTLS, for the mail tests; [`server_cert`] makes its certificate.

pub mod cluster;
pub mod db_url;
pub mod fault_cluster;
pub mod fault_proxy;
pub mod foreign_ca;
pub mod no_tls_server;
pub mod server_cert;
pub mod smtp_sink;
pub mod tls_client;

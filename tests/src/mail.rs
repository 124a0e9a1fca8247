//! The mail tests' fixtures: a database of their own (so no other test's
//! server, whose mailer only logs, takes their outbox rows) and a server
//! that sends to a local SMTP sink.

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};
use uuid::Uuid;

pub use test_support::smtp_sink::{Delivered, SmtpSink};

use crate::{TestApp, TestAppBuilder};

/// What links in test mails start with.
pub const LINK_BASE: &str = "https://todo.test";

/// A throwaway database on the local test cluster, migrated by the first
/// server started on it and dropped (even after a failed test) with this
/// value.
pub struct MailDb {
    name: String,
    admin: Client,
}

impl MailDb {
    /// `None` when the suite runs against a shared database
    /// (`TEST_DATABASE_URL`), where no database can be created: the mail
    /// tests then skip.
    ///
    /// # Panics
    /// When the local cluster refuses to create the database.
    pub async fn create() -> Option<Self> {
        if test_support::cluster::shared_database_url().is_some() {
            eprintln!("skipped: the mail tests need databases of their own (local test cluster)");
            return None;
        }
        let name = format!("mail_{}", Uuid::now_v7().simple());
        let admin_url = test_support::cluster::test_admin_url();
        let postgres = test_support::cluster::admin_client(admin_url, "postgres").await;
        postgres
            .batch_execute(&format!("CREATE DATABASE {name} OWNER app"))
            .await
            .expect("the test cluster creates a database");
        let admin = test_support::cluster::admin_client(admin_url, &name).await;
        Some(Self { name, admin })
    }

    /// The service's URL for this database (TLS, as the suite's).
    pub fn url(&self) -> String {
        test_support::db_url::with_database(test_support::cluster::test_url(), &self.name)
    }

    /// Runs `sql` as a superuser in this database.
    ///
    /// # Panics
    /// When the statement fails.
    pub async fn query(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Vec<Row> {
        self.admin
            .query_typed(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A single `bigint` answer.
    pub async fn count(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> i64 {
        self.query(sql, params).await[0].get(0)
    }

    /// A server on this database whose mail goes to `sink`, retrying a
    /// refused mail after 200 ms, logging at debug level (the most a
    /// token could leak at).
    pub fn server(&self, sink: &SmtpSink) -> TestAppBuilder {
        TestApp::builder()
            .env("DATABASE_URL", self.url())
            .env("APP__MAIL__SMTP_URL", sink.url())
            .env("APP__MAIL__FROM", "Todo <no-reply@todo.test>")
            .env("APP__MAIL__LINK_BASE_URL", LINK_BASE)
            .env("APP__MAIL__RETRY_FIRST_DELAY_MS", "200")
            .debug_logs()
    }
}

impl Drop for MailDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a cleanup runtime")
                .block_on(async {
                    let admin_url = test_support::cluster::test_admin_url();
                    let postgres = test_support::cluster::admin_client(admin_url, "postgres").await;
                    postgres
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
    }
}

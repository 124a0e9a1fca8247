//! The start-up check that the live schema is the one this build expects.
//!
//! After migrating, the catalog is compared with the expectation below:
//! tables, columns with types and nullability, primary keys, foreign keys
//! with their delete rule, unique constraints and the indexes the queries
//! rely on. Names of constraints and indexes do not matter, their shape
//! does. Every difference is collected, so one start shows them all.
//!
//! The catalog is read by one statement ([`CATALOG_ITEMS`]), which the
//! start-up statement and the migration transaction's last flight carry,
//! so a start normally spends no round trip of its own on the check.

use tokio_postgres::types::Type;
use tokio_postgres::Row;

use crate::errors::StartupError;
use crate::pool::{Executor, Replay};

struct Column {
    name: &'static str,
    sql_type: &'static str,
    not_null: bool,
}

struct Table {
    name: &'static str,
    columns: &'static [Column],
}

const fn col(name: &'static str, sql_type: &'static str, not_null: bool) -> Column {
    Column {
        name,
        sql_type,
        not_null,
    }
}

const UUID: &str = "uuid";
const TEXT: &str = "text";
const TSTZ: &str = "timestamp with time zone";

const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            col("id", UUID, true),
            col("email", TEXT, true),
            col("name", TEXT, false),
            col("password_hash", TEXT, true),
            col("created_at", TSTZ, true),
            col("updated_at", TSTZ, true),
            col("email_verified", "boolean", true),
        ],
    },
    Table {
        name: "sessions",
        columns: &[
            col("id", UUID, true),
            col("user_id", UUID, true),
            col("created_at", TSTZ, true),
            col("expires_at", TSTZ, true),
            col("revoked_at", TSTZ, false),
            col("last_used_at", TSTZ, true),
            col("user_agent", TEXT, false),
            col("ip", "inet", false),
        ],
    },
    Table {
        name: "refresh_tokens",
        columns: &[
            col("token_hash", "bytea", true),
            col("session_id", UUID, true),
            col("created_at", TSTZ, true),
            col("spent_at", TSTZ, false),
        ],
    },
    Table {
        name: "security_events",
        columns: &[
            col("id", UUID, true),
            col("user_id", UUID, true),
            col("type", TEXT, true),
            col("at", TSTZ, true),
            col("ip", "inet", false),
            col("user_agent", TEXT, false),
            col("session_id", UUID, false),
        ],
    },
    Table {
        name: "account_tokens",
        columns: &[
            col("token_hash", "bytea", true),
            col("user_id", UUID, true),
            col("purpose", TEXT, true),
            col("created_at", TSTZ, true),
            col("expires_at", TSTZ, true),
            col("used_at", TSTZ, false),
        ],
    },
    Table {
        name: "mail_outbox",
        columns: &[
            col("id", UUID, true),
            col("user_id", UUID, true),
            col("kind", TEXT, true),
            col("recipient", TEXT, true),
            col("token", TEXT, true),
            col("created_at", TSTZ, true),
            col("expires_at", TSTZ, true),
            col("attempts", "integer", true),
            col("next_attempt_at", TSTZ, true),
            col("last_error", TEXT, false),
        ],
    },
    Table {
        name: "tasks",
        columns: &[
            col("id", UUID, true),
            col("user_id", UUID, true),
            col("title", TEXT, true),
            col("description", TEXT, false),
            col("completed", "boolean", true),
            col("priority", TEXT, true),
            col("priority_rank", "smallint", true),
            col("due_at", TSTZ, false),
            col("created_at", TSTZ, true),
            col("updated_at", TSTZ, true),
            col("version", "bigint", true),
            col("idempotency_key", TEXT, false),
            col("idempotency_fingerprint", TEXT, false),
        ],
    },
    Table {
        name: "task_idempotency_keys",
        columns: &[
            col("user_id", UUID, true),
            col("key", TEXT, true),
            col("fingerprint", TEXT, true),
            col("created_at", TSTZ, true),
            col("task_id", UUID, true),
            col("title", TEXT, true),
            col("description", TEXT, false),
            col("completed", "boolean", true),
            col("priority", TEXT, true),
            col("due_at", TSTZ, false),
            col("task_created_at", TSTZ, true),
            col("task_updated_at", TSTZ, true),
            col("version", "bigint", true),
        ],
    },
    Table {
        name: "login_attempts",
        columns: &[
            col("key", "bytea", true),
            col("attempts", "timestamp with time zone[]", true),
            col("expires_at", TSTZ, true),
            col("last_reservation", UUID, true),
        ],
    },
    Table {
        name: "schema_migrations",
        columns: &[
            col("version", "integer", true),
            col("name", TEXT, true),
            col("checksum", TEXT, true),
            col("applied_at", TSTZ, true),
        ],
    },
];

/// A primary key, unique constraint or foreign key the code relies on.
struct Constraint {
    table: &'static str,
    /// `p` primary key, `u` unique, `f` foreign key (as `pg_constraint.contype`).
    kind: &'static str,
    columns: &'static [&'static str],
    /// For foreign keys: the referenced table and columns; the delete rule
    /// must be CASCADE.
    references: Option<(&'static str, &'static [&'static str])>,
}

const fn key(
    kind: &'static str,
    table: &'static str,
    columns: &'static [&'static str],
) -> Constraint {
    Constraint {
        table,
        kind,
        columns,
        references: None,
    }
}

const fn cascade_to_users(table: &'static str) -> Constraint {
    Constraint {
        table,
        kind: "f",
        columns: &["user_id"],
        references: Some(("users", &["id"])),
    }
}

const CONSTRAINTS: &[Constraint] = &[
    key("p", "users", &["id"]),
    key("p", "sessions", &["id"]),
    key("p", "tasks", &["id"]),
    key("p", "schema_migrations", &["version"]),
    key("p", "login_attempts", &["key"]),
    cascade_to_users("sessions"),
    cascade_to_users("tasks"),
    key("p", "task_idempotency_keys", &["user_id", "key"]),
    cascade_to_users("task_idempotency_keys"),
    key("p", "refresh_tokens", &["token_hash"]),
    Constraint {
        table: "refresh_tokens",
        kind: "f",
        columns: &["session_id"],
        references: Some(("sessions", &["id"])),
    },
    key("p", "security_events", &["id"]),
    cascade_to_users("security_events"),
    key("p", "account_tokens", &["token_hash"]),
    cascade_to_users("account_tokens"),
    key("p", "mail_outbox", &["id"]),
    cascade_to_users("mail_outbox"),
];

/// One constraint as [`CATALOG_ITEMS`] reads it.
#[derive(Debug, Clone)]
struct LiveConstraint {
    table: String,
    kind: String,
    columns: Vec<String>,
    ref_table: String,
    ref_columns: Vec<String>,
    /// `c` for ON DELETE CASCADE.
    on_delete: String,
}

/// (table, unique, key definition as `pg_get_indexdef` prints it, why).
const INDEXES: &[(&str, bool, &str, &str)] = &[
    (
        "users",
        true,
        "(lower(email))",
        "case-insensitive unique email",
    ),
    ("sessions", false, "(user_id)", "sessions by user"),
    (
        "sessions",
        false,
        "(expires_at)",
        "purging expired sessions",
    ),
    (
        "login_attempts",
        false,
        "(expires_at)",
        "purging expired login counts",
    ),
    (
        "tasks",
        false,
        "(user_id, created_at DESC, id DESC)",
        "list by creation time",
    ),
    ("tasks", false, "(user_id, due_at, id)", "list by due date"),
    (
        "refresh_tokens",
        false,
        "(session_id)",
        "a session's refresh tokens",
    ),
    (
        "security_events",
        false,
        "(user_id, at DESC, id DESC)",
        "security events by user, newest first",
    ),
    (
        "account_tokens",
        false,
        "(expires_at)",
        "purging expired account tokens",
    ),
    (
        "mail_outbox",
        false,
        "(next_attempt_at)",
        "mail due for delivery",
    ),
    (
        "tasks",
        false,
        "(user_id, priority_rank, created_at DESC, id DESC)",
        "list by priority",
    ),
];

/// The three catalog reads, as select-list items of one statement (`$1`:
/// the table names), each a JSON array of rows as text: the start-up
/// statement carries them next to the probe and the ledger, so the check
/// costs no round trip of its own. JSON because one statement cannot return
/// three row sets; `json` and `text` are built in, so no type lookup either.
pub(crate) const CATALOG_ITEMS: &str = "(SELECT coalesce(json_agg(json_build_array(
            c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef)), '[]')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)
          AND a.attnum > 0 AND NOT a.attisdropped)::text,
    (SELECT coalesce(json_agg(json_build_array(
            t.relname, c.contype::text,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
            COALESCE(r.relname::text, ''),
            ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord),
            CASE WHEN c.contype = 'f' THEN c.confdeltype::text ELSE '' END)), '[]')
        FROM pg_constraint c
        JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        LEFT JOIN pg_class r ON r.oid = c.confrelid
        WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f') AND t.relname = ANY($1))::text,
    (SELECT coalesce(json_agg(json_build_array(
            t.relname, ix.indisunique, pg_get_indexdef(ix.indexrelid), ix.indisvalid)), '[]')
        FROM pg_index ix
        JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND t.relname = ANY($1))::text";

/// The `$1` of [`CATALOG_ITEMS`]: the tables this build expects.
pub(crate) fn table_names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

/// (table, column, type, NOT NULL, has a default).
type LiveColumn = (String, String, String, bool, bool);
/// (table, unique, definition, valid).
type LiveIndex = (String, bool, String, bool);
/// As [`CATALOG_ITEMS`] encodes a constraint.
type ConstraintRow = (String, String, Vec<String>, String, Vec<String>, String);

/// The live catalog of this build's tables, as [`CATALOG_ITEMS`] read it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    columns: Vec<LiveColumn>,
    constraints: Vec<LiveConstraint>,
    indexes: Vec<LiveIndex>,
}

impl Catalog {
    /// Decodes the three [`CATALOG_ITEMS`] columns of `row` from `first` on.
    pub(crate) fn from_row(row: &Row, first: usize) -> Result<Self, StartupError> {
        let text = |i: usize| -> Result<String, StartupError> {
            row.try_get::<_, String>(first + i)
                .map_err(|e| unreadable(&e.to_string()))
        };
        let constraints: Vec<ConstraintRow> = parse(&text(1)?)?;
        Ok(Self {
            columns: parse(&text(0)?)?,
            constraints: constraints
                .into_iter()
                .map(
                    |(table, kind, columns, ref_table, ref_columns, on_delete)| LiveConstraint {
                        table,
                        kind,
                        columns,
                        ref_table,
                        ref_columns,
                        on_delete,
                    },
                )
                .collect(),
            indexes: parse(&text(2)?)?,
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StartupError> {
    serde_json::from_str(json).map_err(|e| unreadable(&e.to_string()))
}

fn unreadable(reason: &str) -> StartupError {
    StartupError::Query {
        cause: format!("reading the catalog failed: {reason}"),
    }
}

/// Reads the catalog with one statement and compares it: a check outside
/// the start, or after the start's own reading was used up.
pub(crate) async fn check(executor: &Executor) -> Result<(), StartupError> {
    let names = table_names();
    let params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)] =
        &[(&names, Type::TEXT_ARRAY)];
    let row = executor
        .query_one(&format!("SELECT {CATALOG_ITEMS}"), params, Replay::Safe)
        .await
        .map_err(|e| unreadable(&e.to_string()))?;
    compare(&Catalog::from_row(&row, 0)?)
}

/// Every difference between `catalog` and [`TABLES`], [`CONSTRAINTS`] and
/// [`INDEXES`], as one error.
pub(crate) fn compare(catalog: &Catalog) -> Result<(), StartupError> {
    let differences = differences(catalog);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(StartupError::SchemaMismatch { differences })
    }
}

fn differences(catalog: &Catalog) -> Vec<String> {
    let Catalog {
        columns,
        constraints,
        indexes,
    } = catalog;

    let mut out = Vec::new();
    for table in TABLES {
        let live: Vec<_> = columns.iter().filter(|c| c.0 == table.name).collect();
        if live.is_empty() {
            out.push(format!("table `{}` is missing", table.name));
            continue;
        }
        for expected in table.columns {
            match live.iter().find(|c| c.1 == expected.name) {
                None => out.push(format!(
                    "column `{}.{}` is missing",
                    table.name, expected.name
                )),
                Some(c) => {
                    if c.2 != expected.sql_type {
                        out.push(format!(
                            "column `{}.{}` has type {}, expected {}",
                            table.name, expected.name, c.2, expected.sql_type
                        ));
                    }
                    if c.3 != expected.not_null {
                        out.push(format!(
                            "column `{}.{}` is {}, expected {}",
                            table.name,
                            expected.name,
                            null_text(c.3),
                            null_text(expected.not_null)
                        ));
                    }
                }
            }
        }
        for extra in live
            .iter()
            .filter(|c| !table.columns.iter().any(|e| e.name == c.1))
        {
            // An extra column only breaks our INSERTs if it demands a value.
            if extra.3 && !extra.4 {
                out.push(format!(
                    "unexpected column `{}.{}` is NOT NULL without a default",
                    table.name, extra.1
                ));
            }
        }
    }
    for expected in CONSTRAINTS {
        let table = expected.table;
        if columns.iter().all(|c| c.0 != table) {
            continue; // already reported as a missing table
        }
        let found = constraints.iter().any(|c| {
            c.table == table
                && c.kind == expected.kind
                && c.columns == expected.columns
                && expected.references.is_none_or(|(ref_table, ref_columns)| {
                    c.ref_table == ref_table && c.ref_columns == ref_columns && c.on_delete == "c"
                })
        });
        if !found {
            let cols = expected.columns.join(", ");
            let what = match expected.references {
                Some((ref_table, ref_columns)) => format!(
                    "foreign key ({cols}) references {ref_table}({}) ON DELETE CASCADE",
                    ref_columns.join(", ")
                ),
                None if expected.kind == "p" => format!("primary key ({cols})"),
                None => format!("unique constraint ({cols})"),
            };
            out.push(format!("table `{table}` lacks {what}"));
        }
    }
    for (table, unique, keys, why) in INDEXES {
        if columns.iter().all(|c| c.0 != *table) {
            continue;
        }
        let found = indexes
            .iter()
            .any(|i| i.0 == *table && i.1 == *unique && i.3 && index_keys(&i.2) == Some(keys));
        if !found {
            let kind = if *unique { "unique index" } else { "index" };
            out.push(format!(
                "table `{table}` lacks the {kind} on {keys} ({why})"
            ));
        }
    }
    out
}

/// `CREATE INDEX x ON public.t USING btree (a, b DESC)` -> `(a, b DESC)`;
/// partial indexes (with WHERE) do not count.
fn index_keys(definition: &str) -> Option<&str> {
    let (_, keys) = definition.split_once(" USING btree ")?;
    (!keys.contains(" WHERE ")).then_some(keys)
}

fn null_text(not_null: bool) -> &'static str {
    if not_null {
        "NOT NULL"
    } else {
        "nullable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_are_read_from_the_definition() {
        assert_eq!(
            index_keys("CREATE UNIQUE INDEX users_email_lower_key ON public.users USING btree (lower(email))"),
            Some("(lower(email))")
        );
        assert_eq!(
            index_keys("CREATE INDEX x ON public.t USING btree (a) WHERE (b)"),
            None
        );
        assert_eq!(
            index_keys("CREATE INDEX x ON public.t USING hash (a)"),
            None
        );
    }

    #[test]
    fn an_empty_catalog_reports_every_table() {
        let out = differences(&Catalog::default());
        assert_eq!(out.len(), TABLES.len());
        assert!(out.iter().any(|d| d.contains("`tasks` is missing")));
    }
}
